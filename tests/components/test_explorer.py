"""FractalExplorer against the real LocalCluster: parameters in, jobs out, panes updated.

Explorers are built with ``autostart=False`` and driven as a page would drive them: by
setting the config's parameters (what the widgets do on a release, a key press, Enter),
by dragging a slider's value (``live``), by ``render()`` (the page load) and
``check_cluster()`` (the watchdog's tick), and by the events a browser sends (button and
table clicks, the plot's range stream). Work done on the cluster is counted on the workers
(``ExecutionCounter``), independently of what the explorer reports. The policy itself
(previews, bursts, fits) is the render session's, tested in tests/fractal/test_session.py;
here, that the explorer wires it to what the page shows.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections import Counter

import numpy as np
import panel as pn
import param
import pytest
from bokeh.events import ButtonClick
from bokeh.models import Model
from PIL import Image

from components import FractalExplorer
from components.fractal.view import placement, slot, tile_bounds
from compute.engine.diagnostics import ExecutionCounter, executed_tasks
from compute.engine.testing import workers_idle
from compute.fractal import (
    COMPUTE_PARAMS,
    DISPLAY_PARAMS,
    FrameStore,
    Normalizer,
    fractal_connection,
    fractal_engine,
    render,
    to_png,
)
from compute.fractal.frame import TILE_TASK
from compute.fractal.testing import heavy, light
from compute.fractal.viewport import auto_max_iter

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.asyncio,
]

DEFAULT_RANGE = (-1.6, 1.6)


_TILE_KEY = re.compile(r"fractal-tile-([a-z]+-[0-9a-f]{24})")


async def frames_run(client) -> Counter:
    """Tiles executed on the workers since the test began, by job key."""
    return Counter(_TILE_KEY.search(key)[1] for key, _ in await executed_tasks(client, TILE_TASK))


def rendered(explorer: FractalExplorer) -> bool:
    """The config asked for is finished, shown and in the history."""
    job, records = explorer.job, explorer.history.records
    return (
        job is not None
        and job.key == explorer.config.key
        and job.done
        and explorer.shown_key == job.key
        and bool(records)
        and records[-1].key == job.key
    )


def arrays(explorer: FractalExplorer) -> list:
    """The image array of each layer (None where empty)."""
    return [layer and layer[0] for layer in explorer.view.layers]


async def badge(explorer: FractalExplorer) -> str:
    """The state the status bar shows, once its pending drawing has run."""
    await asyncio.sleep(0)
    if explorer.status.pending:  # a change of state is drawn within JobStatus.settle
        await asyncio.sleep(explorer.status.settle)
    await asyncio.sleep(0)
    return explorer.status.bar.value["state"]


def viewport_text(explorer: FractalExplorer) -> str:
    # The one plain Markdown pane (an Alert is a Markdown too).
    (markdown,) = explorer.controls.__panel__().select(lambda p: type(p) is pn.pane.Markdown)
    return markdown.object


# -- first frame ---------------------------------------------------------------------------


async def test_first_render_shows_the_frame_and_records_it(client, engine, explorers, eventually):
    config = light(1)
    explorer = explorers(config)
    assert explorer.config is config
    assert explorer.job is None
    assert explorer.status.state == "idle"

    job = await explorer.render()
    assert explorer.job is job
    assert explorer.status.job is job
    assert job.key == config.key
    await eventually(lambda: rendered(explorer), "the first frame")

    assert job.state == "done"
    assert explorer.shown_key == config.key
    assert explorer.view.stale is False
    assert explorer.message == ""
    assert await badge(explorer) == "done"
    (record,) = explorer.history.records
    assert (record.key, record.state, record.cached) == (config.key, "done", False)
    assert [row[1] for row in explorer.history._table.rows] == [config.summary()]

    # The preview, then the tile, both coloured with the fit of the preview's values.
    preview = config.preview(explorer.preview_edge)
    sample = render(preview)
    fit = Normalizer.fit(sample, config.normalization)
    shown, bounds = explorer.view.layers[0]
    np.testing.assert_array_equal(shown, fit(sample))
    assert bounds == (-0.5, -0.5, 0.5, 0.5)  # in spans of the view, around its centre
    (tile,) = [r.tile for r in job.finished_tiles]
    shown, bounds = explorer.view.layers[slot(tile)]
    np.testing.assert_array_equal(shown, fit(render(config)))
    assert bounds == tile_bounds(config, tile)

    # The preview was computed in the server's process; the frame on the cluster.
    assert await frames_run(client) == Counter({config.key: 1})

    await explorer.check_cluster()
    assert explorer.cluster_status == "connected"
    assert explorer.cluster_error == ""
    # Once the scheduler says it serves the dashboard's pages (asked over HTTP).
    await eventually(lambda: explorer.dashboard.link is not None, "the dashboard link")
    assert explorer.dashboard.link == engine.connection.dashboard_link
    assert explorer.job is job  # the watchdog's tick does not resubmit


async def test_download_is_the_png_of_the_finished_frame(explorers, eventually):
    config = light(2).copy(colormap="kbc", normalization="log")
    explorer = explorers(config)
    assert explorer._download.callback() is None  # nothing finished yet
    await explorer.render()
    await eventually(lambda: rendered(explorer), "the frame")
    png = explorer._download.callback().getvalue()
    assert explorer._download.filename == f"{config.key}.png"
    image = Image.open(io.BytesIO(png))
    assert image.size == (config.width, config.height)
    assert png == to_png(render(config), "kbc", "log")


async def test_the_whole_explorer_renders():
    engine = fractal_engine(fractal_connection("tcp://127.0.0.1:1", timeout=1))
    explorer = FractalExplorer(config=light(3), engine=engine, autostart=False)
    try:
        root = pn.panel(explorer).get_root()
        classes = {c for m in root.select({"type": Model}) for c in getattr(m, "css_classes", [])}
        for part in ("fractal-controls", "fractal-view", "job-history", "download-png"):
            assert part in classes, part
        assert engine.connection.status == "idle"  # displaying it connects to nothing
    finally:
        explorer.close()
        await engine.close()


# -- changes -------------------------------------------------------------------------------


async def test_a_compute_change_marks_the_view_stale_until_its_frame_arrives(
    explorers, eventually
):
    explorer = explorers(light(4))
    first = await explorer.render()
    await eventually(lambda: rendered(explorer), "the first frame")

    explorer.config.c_real = -0.7
    # At once, before anything new is drawn:
    assert explorer.job is first
    assert explorer.shown_key == first.key
    assert explorer.view.stale is True
    assert explorer.view.stale_reason == "Rendering the new view…"
    banner_text = explorer.view._banner.value["text"]

    await eventually(lambda: rendered(explorer), "the new frame")
    assert explorer.job is not first
    assert explorer.job.config.c_real == -0.7
    assert explorer.view.stale is False
    assert explorer.view._banner.value == {"kind": "", "text": ""}
    assert [r.key for r in explorer.history.records] == [first.key, explorer.config.key]
    # What the banner said while the frame was computing.
    assert banner_text == "Rendering the new view…"


async def test_a_burst_of_key_presses_renders_the_first_at_once_and_then_only_the_last(
    client, explorers, eventually
):
    explorer = explorers(heavy(5), debounce=1.0)
    await explorer.render()
    await eventually(lambda: explorer.job.state == "running", "the first frame to start")
    first = explorer.job

    values = [-0.1 + n * 1e-3 for n in range(1, 11)]
    for value in values:  # a key held down on the slider: ten steps, within the debounce
        explorer.config.c_real = value
        await asyncio.sleep(0)
    # Never shown as finished meanwhile: stale, or a preview said to be one.
    assert explorer.view.stale or explorer.view.provisional
    await eventually(lambda: rendered(explorer), "the last value's frame")
    assert (explorer.view.stale, explorer.view.provisional) == (False, False)

    final = explorer.config
    assert final.c_real == values[-1]
    ran = await frames_run(client)
    # The first frame started at once and was cancelled by the burst, the eight values in
    # between never became frames, and the last one's frame ran whole.
    assert set(ran) <= {first.key, final.key}
    assert ran[final.key] == explorer.job.parts_total
    assert ran[first.key] < first.parts_total
    records = [(r.key, r.state) for r in explorer.history.records]
    assert records == [(first.key, "cancelled"), (final.key, "done")]


async def test_a_dragged_slider_previews_and_its_release_renders(client, explorers, eventually):
    explorer = explorers(light(16, size=1024), debounce=5.0)
    await explorer.render()
    await eventually(lambda: rendered(explorer), "the first frame")
    before = await frames_run(client)
    slider = explorer.controls._c_real
    for n in range(1, 6):  # what the browser sends while the handle moves: value only
        slider.value = -0.75 + n * 0.01
        await eventually(
            lambda n=n: explorer.session.shown_key == explorer.session.wanted.key,
            f"the preview of step {n}",
        )
    assert explorer.config.c_real == light(16).c_real  # not released: the config waits
    assert explorer.session.previews_shown >= 5
    assert explorer.status.phase == "previewing"
    assert await frames_run(client) == before  # previews ran here, in the server's process
    with param.edit_constant(slider):
        slider.param.update(value_throttled=slider.value)  # the release
    assert explorer.config.c_real == pytest.approx(-0.70)
    # Released after a drag: a discrete change, its full frame at once (the debounce of
    # five seconds is not waited for).
    await eventually(lambda: rendered(explorer), "the released value's frame")
    assert explorer.job.config.c_real == pytest.approx(-0.70)


async def test_the_debounce_can_change_after_construction(explorers):
    explorer = explorers(light(15))
    explorer.debounce = 1.5
    assert explorer.session.debounce == 1.5


async def test_a_colormap_change_recolours_without_a_task(client, explorers, eventually):
    explorer = explorers(light(6))
    job = await explorer.render()
    await eventually(lambda: rendered(explorer), "the first frame")
    shown = arrays(explorer)
    before = await frames_run(client)

    explorer.config.colormap = "kbc"
    assert explorer.view.colormap == "kbc"
    assert explorer.controls._colormap.value == "kbc"
    assert explorer.view.stale is False
    # Give a wrongly scheduled job more than the debounce time to show up.
    await asyncio.sleep(3 * explorer.debounce)
    assert explorer.job is job
    assert len(explorer.history.records) == 1
    assert all(a is b for a, b in zip(arrays(explorer), shown, strict=True))
    assert await frames_run(client) == before


async def test_a_normalization_change_redraws_without_a_task(client, explorers, eventually):
    config = light(7, size=512)
    explorer = explorers(config)
    job = await explorer.render()
    await eventually(lambda: rendered(explorer), "the first frame")
    shown = arrays(explorer)
    before = await frames_run(client)

    explorer.config.normalization = "linear"

    # A finished frame is redrawn in one piece, with the new fit of the same preview.
    now = explorer.view.layers
    assert now[0][0] is not shown[0]
    assert [i for i, layer in enumerate(now) if layer is not None] == [0]
    sample, frame = render(config.preview(explorer.preview_edge)), render(config)
    np.testing.assert_array_equal(now[0][0], Normalizer.fit(sample, "linear")(frame))
    # In the plot's units: spans of the view, around its centre.
    assert now[0][1] == (-0.5, -0.5, 0.5, 0.5)
    await asyncio.sleep(3 * explorer.debounce)
    assert explorer.job is job
    assert await frames_run(client) == before


async def test_an_invalid_config_is_refused_then_a_valid_one_renders(
    client, explorers, eventually
):
    explorer = explorers(light(8))
    job = await explorer.render()
    await eventually(lambda: rendered(explorer), "the first frame")
    before = await frames_run(client)

    # Each value within its bounds; together over a frame's budget by the estimate of its
    # preview (computed here: its 128 x 128 pixels are cheap), nearly every pixel inside
    # the set's main cardioid at 6000 iterations.
    explorer.config.param.update(
        fractal="mandelbrot", center_real="-0.2", span="0.2", width=4096, height=4096,
        max_iter=6000,
    )  # fmt: skip
    await eventually(lambda: explorer.message, "the refusal")
    assert explorer.message.startswith("Not rendered: this frame's estimate is ")
    assert "over the budget" in explorer.message
    assert explorer._alert.visible is True
    assert explorer.job is job
    assert explorer.status.job is job
    assert explorer.view.stale is True
    assert explorer.view.stale_reason == "Showing an older view: the requested one was refused."
    assert await explorer.render() is None
    assert await frames_run(client) == before

    explorer.config.param.update(width=128, height=128, max_iter=120)
    await eventually(lambda: rendered(explorer), "the valid frame")
    assert explorer.message == ""
    assert explorer._alert.visible is False
    assert explorer.view.stale is False
    # 128 x 128 is its own preview: one tile, once.
    assert await frames_run(client) - before == Counter({explorer.config.key: 1})


# -- cancelling and sharing ----------------------------------------------------------------


async def test_cancel_stops_a_slow_frame(client, explorers, eventually):
    explorer = explorers(heavy(1, c_imag=0.14))
    job = await explorer.render()
    await eventually(lambda: job.state == "running", "a worker to start a tile")

    assert await badge(explorer) == "running"
    explorer.status.bar._handle_msg("cancel")  # the Cancel button's click

    assert job.state == "cancelled"
    assert explorer.status.state == "cancelled"
    assert await badge(explorer) == "cancelled"
    assert explorer.status.bar.value["cancellable"] is False
    assert [(r.key, r.state) for r in explorer.history.records] == [(job.key, "cancelled")]
    assert explorer.view.stale is True
    assert explorer.view.stale_reason == "Cancelled: the image is incomplete."
    await eventually(lambda: workers_idle(client), "the started tiles to finish")
    assert (await frames_run(client))[job.key] < job.parts_total
    assert len(explorer.history.records) == 1


async def test_two_explorers_share_a_job_and_one_leaving_does_not_cancel_it(
    client, explorers, eventually
):
    config = light(9, size=1024)
    one = explorers(config.copy())
    two = explorers(config.copy(colormap="kbc"))
    job = await one.render()
    assert await two.render() is job
    assert one.status.job is two.status.job is job

    one.close()  # its tab closed; the other still wants the frame
    assert not job.done
    assert await job.wait() == "done"
    await eventually(lambda: rendered(two), "the other explorer to show it")
    assert one.history.records == []
    ran = await frames_run(client)
    assert ran == Counter({config.key: job.parts_total})  # once: shared, and not cut short


async def test_closing_the_last_explorer_that_wants_a_job_cancels_it(
    client, explorers, eventually
):
    config = heavy(2, c_imag=0.14)
    one, two = explorers(config.copy()), explorers(config.copy())
    job = await one.render()
    assert await two.render() is job
    one.close()
    assert not job.done
    two.close()
    assert job.state == "cancelled"
    assert await two.render() is None  # a closed explorer submits nothing
    await eventually(lambda: workers_idle(client), "the started tiles to finish")
    assert (await frames_run(client))[job.key] < job.parts_total


# -- restoring, zooming, resetting ---------------------------------------------------------


async def test_clicking_a_history_row_restores_its_view(client, explorers, eventually):
    first = light(10)
    explorer = explorers(first.copy())
    await explorer.render()
    await eventually(lambda: rendered(explorer), "the first frame")
    explorer.config.param.update(c_real=-0.6, max_iter=150, span="2", colormap="kbc")
    await eventually(
        lambda: rendered(explorer) and explorer.job.key != first.key, "the second frame"
    )
    assert len(explorer.history.records) == 2
    before = await frames_run(client)

    # Row 0 is the older record: newest last.
    explorer.history._table._handle_msg({"row": 0})  # a click on the row

    for name in COMPUTE_PARAMS + DISPLAY_PARAMS:
        assert getattr(explorer.config, name) == getattr(first, name), name
    assert explorer.history.selected is None  # ready for the same row to be clicked again
    # The plot shows the restored view: its box around the plot's origin.
    x, y, scale = placement(first.viewport, explorer.view.origin)
    assert explorer.view.x_range == pytest.approx((x - scale / 2, x + scale / 2))
    assert explorer.view.y_range == pytest.approx((y - scale / 2, y + scale / 2))
    assert explorer.controls._max_iter.value == first.max_iter
    await eventually(
        lambda: rendered(explorer) and explorer.job.key == first.key, "the restored frame"
    )
    assert explorer.job.state == "cached"
    assert explorer.history.records[-1].cached is True
    assert await frames_run(client) == before


async def test_zooming_the_plot_renders_the_new_viewport(explorers, eventually):
    explorer = explorers(light(11))
    await explorer.render()
    await eventually(lambda: rendered(explorer), "the first frame")

    # What Bokeh reports after a box zoom: the plot's new ranges, in spans of the view
    # around its centre (3.2 wide): the box's middle becomes the centre, its width the span.
    explorer.view._range_stream.event(x_range=(-0.25, 0.25), y_range=(0.0, 0.5))

    assert explorer.config.viewport.to_strings() == ("0", "0.8", "1.6")
    assert explorer.config.max_iter == auto_max_iter("1.6")  # iterations follow the depth
    assert explorer.view.stale is True
    assert viewport_text(explorer).startswith("**Viewport** zoom 2 at 0+0.8i")
    await eventually(lambda: rendered(explorer), "the zoomed frame")
    assert explorer.job.config.span == "1.6"


async def test_reset_returns_to_the_default_viewport(explorers, eventually):
    explorer = explorers(light(12).copy(center_imag="0.25", span="1"))
    await explorer.render()
    await eventually(lambda: rendered(explorer), "the first frame")

    explorer.controls._reset._process_event(ButtonClick(None))  # the Reset button

    assert explorer.config.viewport.to_strings() == ("0", "0", "3.2")
    assert explorer.config.x_range == explorer.config.y_range == DEFAULT_RANGE
    # The plot (in spans of the view it was drawn around, 1 wide at 0.25i) shows it all.
    assert explorer.view.x_range == DEFAULT_RANGE
    assert explorer.view.y_range == (-1.85, 1.35)
    await eventually(lambda: rendered(explorer), "the default view's frame")
    assert explorer.job.config.x_range == DEFAULT_RANGE


async def test_ranges_echoed_back_with_float_noise_are_the_same_view(explorers, eventually):
    config = light(14)
    explorer = explorers(config)
    job = await explorer.render()
    await eventually(lambda: rendered(explorer), "the first frame")
    # The plot is in spans of the view: a pixel is 1 / width of it.
    pixel = 1 / config.width
    explorer.view._range_stream.event(x_range=(-0.5 + 1e-12, 0.5), y_range=(-0.5, 0.5 - pixel / 4))
    assert explorer.config.viewport == config.viewport
    assert explorer.view.stale is False
    await asyncio.sleep(3 * explorer.debounce)
    assert explorer.job is job
    # A move of a whole pixel is a new view: its centre moves by a pixel, exactly.
    explorer.view._range_stream.event(x_range=(-0.5 + pixel, 0.5 + pixel), y_range=(-0.5, 0.5))
    # (A gesture's offsets are read to a millionth of the box: 1/4000 of this pixel.)
    assert float(explorer.config.center_real) == pytest.approx(3.2 / 256, rel=1e-3)


# -- the cluster ---------------------------------------------------------------------------


async def test_an_unreachable_cluster_is_reported_not_raised():
    # Nothing listens on port 1: connecting is refused until the timeout.
    engine = fractal_engine(fractal_connection("tcp://127.0.0.1:1", timeout=1))
    explorer = FractalExplorer(config=light(13), engine=engine, autostart=False)
    try:
        assert await explorer.render() is None
        assert explorer.cluster_error.startswith("Cannot reach the Dask scheduler")
        assert "tcp://127.0.0.1:1" in explorer.cluster_error
        assert explorer.watch._banner.visible is True
        assert explorer.job is None
        assert explorer.status.state == "idle"
        assert explorer.message == ""
        assert explorer.view.stale_reason == (
            "Showing an older view: the Dask cluster is unreachable."
        )

        await explorer.check_cluster()  # the watchdog retries, and reports again
        assert explorer.cluster_status == "lost"
        assert explorer.cluster_error.startswith("Cannot reach the Dask scheduler")
        assert explorer.dashboard.link is None
    finally:
        explorer.close()
        await engine.close()


# -- persistence ---------------------------------------------------------------------------


async def test_after_a_restart_frames_come_from_the_store_and_the_history_restores(
    local_cluster, tmp_path, eventually
):
    """Two explorers on two engines, one after the other: a server and its restart."""
    store = FrameStore(tmp_path / "store")
    first, second = light(20), light(21)
    engine = fractal_engine(fractal_connection(local_cluster.scheduler_address), store=store)
    explorer = FractalExplorer(config=first.copy(), engine=engine, autostart=False)
    try:
        await explorer.render()
        await eventually(lambda: rendered(explorer), "the first frame")
        explorer.config.c_real = second.c_real
        await eventually(lambda: rendered(explorer), "the second frame")
        # The registry the explorer's jobs went through (its engine's): its writes done.
        await (await engine.registry()).flush()
    finally:
        explorer.close()
        await engine.close()

    engine = fractal_engine(fractal_connection(local_cluster.scheduler_address), store=store)
    explorer = FractalExplorer(config=first.copy(), engine=engine, autostart=False)
    # Nothing read from disk while the session is built (on the event loop): the stored
    # history comes once the page has loaded (start() calls load_history).
    assert explorer.history.records == []
    try:
        client = await engine.client()
        await client.register_plugin(ExecutionCounter())
        await explorer.render()
        await eventually(lambda: rendered(explorer), "the first frame again")
        await explorer.load_history()
        await eventually(lambda: len(explorer.history.records) == 3, "the stored history")
        assert explorer.job.state == "cached"
        assert explorer.status.state == "cached"
        # The history holds the jobs from before the "restart", then this one.
        keys = [(r.key, r.state) for r in explorer.history.records]
        assert keys == [(first.key, "done"), (second.key, "done"), (first.key, "cached")]
        # Row 1 is the second frame from before: restored from the store.
        explorer.history._table._handle_msg({"row": 1})  # a click on the row
        assert explorer.config.key == second.key
        await eventually(lambda: rendered(explorer), "the restored frame")
        assert explorer.job.state == "cached"
        np.testing.assert_array_equal(await explorer.job.result(), render(second))
        assert await frames_run(client) == Counter()
    finally:
        explorer.close()
        await engine.close()
