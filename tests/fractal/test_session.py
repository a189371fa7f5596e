"""RenderSession on the real LocalCluster, drawing on a painter that records every call.

The policy a person exploring expects (previews now, full frames when the hand stops or
at once for a discrete change, one colour fit, nothing stale passed off as current) is
checked by what was drawn and by what the workers executed (``ExecutionCounter``),
independently of what the session reports.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter

import numpy as np
import pytest
import pytest_asyncio

from compute.engine.diagnostics import executed_tasks
from compute.engine.interactive import ManualClock
from compute.engine.schema import OverBudget
from compute.fractal import (
    FractalConfig,
    Normalizer,
    RenderSession,
    fractal_connection,
    fractal_engine,
    render,
)
from compute.fractal.testing import heavy, light
from compute.fractal.tiles import expected_iterations

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]

_TILE = re.compile(r"fractal-tile-([a-z]+-[0-9a-f]{24})")


class Recorder:
    """A painter that keeps what it was asked to draw."""

    def __init__(self):
        self.calls: list[tuple] = []

    def show_preview(self, config, indices):
        self.calls.append(("preview", config.key, indices))

    def show_tiles(self, config, tiles):
        self.calls.append(("tiles", config.key, tiles))

    def previews(self) -> list[str]:
        """Keys of the coarse previews drawn (whole frames drawn at once excluded)."""
        return [key for kind, key, idx in self.calls if kind == "preview" and idx.size <= 128**2]


async def frames_run(client) -> Counter:
    return Counter(_TILE.search(key)[1] for key, _ in await executed_tasks(client, "fractal-tile"))


@pytest_asyncio.fixture
async def sessions(local_cluster):
    """Make sessions on one engine of their own on the shared cluster; closed afterwards."""
    engine = fractal_engine(fractal_connection(local_cluster.scheduler_address))
    made = []

    def make(clock=None, **params) -> tuple[RenderSession, Recorder]:
        painter = Recorder()
        session = RenderSession(painter, engine=engine, clock=clock, **params)
        made.append(session)
        return session, painter

    yield make
    for session in made:
        session.close()
    await engine.close()


def finished(session: RenderSession, config: FractalConfig) -> bool:
    return session.state == "done" and session.shown_key == config.key and session.complete


async def test_a_request_previews_then_streams_its_frame_coloured_by_the_preview(
    client, sessions, eventually
):
    session, painter = sessions()
    config = light(1, size=1024)
    session.request(config)
    await eventually(lambda: finished(session, config), "the frame")

    kind, key, preview = painter.calls[0]
    assert (kind, key) == ("preview", config.key)
    sample = render(config.preview(session.preview_edge))
    fit = Normalizer.fit(sample, config.normalization)
    np.testing.assert_array_equal(preview, fit(sample))
    frame = render(config)
    drawn = [
        (tile, idx) for kind, _, tiles in painter.calls if kind == "tiles" for tile, idx in tiles
    ]
    assert sorted((t.row, t.col) for t, _ in drawn) == sorted(
        (r.tile.row, r.tile.col) for r in session.job.finished_tiles
    )
    for tile, idx in drawn:  # every tile coloured with the preview's fit
        np.testing.assert_array_equal(idx, fit(frame[tile.slices]))
    assert session.stale is False
    assert session.ended.key == config.key
    assert session.ended.state == "done"
    # The preview was computed in this process: only the frame's tiles ran on the cluster.
    assert await frames_run(client) == Counter({config.key: session.job.parts_total})


async def test_live_values_preview_at_once_and_never_queue_behind_each_other(
    client, sessions, eventually
):
    session, painter = sessions(debounce=0.3)
    base = light(2, size=1024)
    values = [base.copy(c_real=base.c_real + n * 1e-3) for n in range(1, 11)]
    for live in values:  # a drag: ten values, faster than a preview is computed
        session.explore(live)
    assert session.state == "previewing"
    assert session.job is None  # no full frame while the hand moves
    await eventually(lambda: finished(session, values[-1]), "the last value's frame")
    previews = painter.previews()
    # At most one preview in flight: the one that started first, then the newest waiting
    # one; the values in between were replaced before they started, and never computed.
    assert previews[-1] == values[-1].key
    assert len(previews) <= 2
    assert set(previews) <= {values[0].key, values[-1].key}
    # One full frame: the last value's, when the hand stopped.
    assert set(await frames_run(client)) == {values[-1].key}
    assert session.requested.key == values[-1].key


async def test_a_burst_of_discrete_changes_runs_the_first_at_once_and_only_the_last_after(
    client, sessions, eventually
):
    session, _ = sessions(debounce=0.5)
    first, middle, last = (heavy(60 + n) for n in range(3))
    session.request(first)  # after quiet: its frame starts at once, no debounce
    await eventually(lambda: session.job is not None, "the first frame to be submitted")
    assert session.job.key == first.key
    session.request(middle)  # within the burst: superseded before its frame started
    session.request(last)
    assert session.job is None or session.job.key == first.key
    await eventually(lambda: finished(session, last), "the last frame")
    ran = await frames_run(client)
    assert middle.key not in ran
    assert ran[last.key] == session.job.parts_total
    # The first frame was cancelled when the burst went on: a few tiles at most.
    assert ran[first.key] < session.job.parts_total
    assert session.ended.key == last.key


async def test_an_older_preview_is_never_drawn_over_a_newer_image(client, sessions, eventually):
    session, painter = sessions(debounce=5)
    near, far = light(3, size=1024), heavy(64)
    session.explore(near)
    await eventually(lambda: session.shown_key == near.key, "the near view's preview")
    session.explore(far)  # a costly preview, computed in this process: takes a while
    session.explore(near)  # back: its preview is known, drawn at once
    assert session.shown_key == near.key
    await eventually(lambda: not session._previews.busy, "the costly preview to finish")
    # The costly preview finished after a newer image was drawn: it is not drawn.
    assert far.key not in painter.previews()
    assert session.shown_key == near.key


async def test_previews_run_on_the_cluster_above_the_local_budget(client, sessions, eventually):
    session, _ = sessions(local_budget=0)
    config = light(4, size=512)
    session.request(config)
    await eventually(lambda: finished(session, config), "the frame")
    ran = await frames_run(client)
    assert ran[config.preview(session.preview_edge).key] == 1


async def test_the_tiling_follows_the_cost_the_preview_predicts(client, sessions, eventually):
    session, _ = sessions()
    cheap = light(5, size=1024)
    session.request(cheap)
    await eventually(lambda: finished(session, cheap), "the cheap frame")
    assert session.job.parts_total <= 4
    costly = heavy(65)
    session.request(costly)
    await eventually(lambda: session.job is not None and session.job.key == costly.key, "a job")
    assert session.job.parts_total == 16
    assert session.cancel() is True


async def test_tiles_finished_between_drawings_are_drawn_together(client, sessions, eventually):
    session, painter = sessions(draw_interval=10)
    config = heavy(67).copy(max_iter=1000)  # 16 tiles, a second or two in all
    began = asyncio.get_running_loop().time()
    session.request(config)
    await eventually(lambda: finished(session, config), "the frame", limit=120)
    took = asyncio.get_running_loop().time() - began
    drawings = [tiles for kind, key, tiles in painter.calls if kind == "tiles"]
    assert session.job.parts_total == 16
    assert sum(len(tiles) for tiles in drawings) == 16
    if took < session.draw_interval:
        # The first batch at once; the rest when the frame ended, not ten seconds later.
        assert len(drawings) == 2, [len(tiles) for tiles in drawings]


async def test_cancel_stops_the_frame_and_says_the_image_is_incomplete(
    client, sessions, eventually
):
    session, _ = sessions()
    config = heavy(66)
    session.request(config)
    await eventually(lambda: session.job is not None and session.job.state == "running", "tiles")
    job = session.job
    assert session.cancel() is True
    assert job.state == "cancelled"
    assert session.state == "cancelled"
    assert (session.stale, session.stale_reason) == (True, "Cancelled: the image is incomplete.")
    # The same record but for the time it was taken.
    assert session.ended == job.record("cancelled")
    assert session.cancel() is False
    # Asked for again (Enter once more): it renders.
    session.request(config)
    await eventually(lambda: session.job is not job, "a new job")
    assert session.state == "rendering"
    session.cancel()


async def test_an_invalid_config_is_refused_and_a_valid_one_renders(client, sessions, eventually):
    session, painter = sessions()
    config = light(6, size=512)
    session.request(config)
    await eventually(lambda: finished(session, config), "the frame")
    before = await frames_run(client)
    # Invalid together (a Julia set deeper than its perturbation goes): refused at once,
    # no preview.
    invalid = config.copy()
    invalid.span = "1e-400"
    drawn = len(painter.calls)
    session.request(invalid)
    assert session.state == "refused"
    assert session.message.startswith("Not rendered: span 1e-400 is deeper than Julia sets")
    assert (session.stale, session.wanted.key) == (True, config.key)
    assert await session.render() is None
    assert len(painter.calls) == drawn
    # Valid, but over a frame's budget by its preview's estimate: nearly every pixel of
    # this view lies in the main cardioid (each known inside at once, so the preview is
    # cheap) and would run to max_iter in the frame. Previewed, then refused.
    costly = FractalConfig(
        fractal="mandelbrot",
        center_real="-0.2",
        span="0.2",
        width=4096,
        height=4096,
        max_iter=1_000_000,
    )
    session.request(costly)
    await eventually(lambda: session.state == "refused", "the refusal")
    assert session.message.startswith("Not rendered: this frame's estimate is "), session.message
    assert "over the budget" in session.message
    assert "max_iter" in session.message
    assert session.wanted.key == costly.key
    # Its preview is on screen (the estimate came from it), and none of its tiles.
    kind, key, indices = painter.calls[-1]
    assert (kind, key, indices.shape) == ("preview", costly.key, (128, 128))
    assert (session.shown_key, session.complete) == (costly.key, False)
    assert costly.key not in [key for kind, key, _ in painter.calls if kind == "tiles"]
    assert session.job.key == config.key  # no job for it
    assert await session.render() is None
    ran = await frames_run(client)
    assert ran[costly.key] == 0  # not one tile of the frame
    assert set(ran) - set(before) <= {costly.preview(session.preview_edge).key}
    valid = light(7, size=512)
    session.request(valid)
    assert session.message == ""
    await eventually(lambda: finished(session, valid), "the valid frame")
    assert session.stale is False


async def test_a_cached_frame_looks_as_it_did_when_computed(client, sessions, eventually):
    one, _ = sessions()
    config = light(8, size=1024)
    one.request(config)
    await eventually(lambda: finished(one, config), "the frame")
    two, again = sessions()
    two.request(config)
    await eventually(lambda: finished(two, config), "the frame again")
    assert two.job.state == "cached"
    # From the cache: one whole image, coloured with the same fit as the streamed tiles.
    (whole,) = [idx for kind, _, idx in again.calls if kind == "preview" and idx.size > 128**2]
    fit = one.fit(config.key)
    np.testing.assert_array_equal(whole, fit(render(config)))
    assert (await frames_run(client))[config.key] == one.job.parts_total


async def test_a_normalization_change_recolours_without_a_task(client, sessions, eventually):
    session, painter = sessions()
    config = light(9, size=512)
    session.request(config)
    await eventually(lambda: finished(session, config), "the frame")
    before, drawn = await frames_run(client), len(painter.calls)
    session.normalization = "linear"
    (kind, key, whole), *rest = painter.calls[drawn:]
    assert (kind, key, rest) == ("preview", config.key, [])
    sample = render(config.preview(session.preview_edge))
    np.testing.assert_array_equal(whole, Normalizer.fit(sample, "linear")(render(config)))
    await asyncio.sleep(0)
    assert await frames_run(client) == before


async def test_two_sessions_share_a_frame_and_closing_one_keeps_it(client, sessions, eventually):
    config = heavy(67)
    one, _ = sessions()
    two, _ = sessions()
    one.request(config)
    two.request(config)
    await eventually(lambda: one.job is not None and two.job is not None, "both jobs")
    assert one.job is two.job
    one.close()
    assert one.state == "closed"
    assert not two.job.done
    await eventually(lambda: finished(two, config), "the shared frame")
    assert (await frames_run(client))[config.key] == two.job.parts_total
    one.request(light(10, size=512))  # a closed session submits nothing
    assert one.job.key == config.key


async def test_a_drags_frame_waits_for_the_sessions_own_clock(client, sessions, eventually):
    # The timing comes from the clock the session is given: here one moved by hand.
    clock = ManualClock()
    session, _ = sessions(debounce=0.25, clock=clock)
    config = light(11, size=512)
    session.explore(config)
    await eventually(lambda: session.shown_key == config.key, "the preview")
    assert (session.state, session.job) == ("previewing", None)  # the hand still moves
    clock.advance(0.2)
    await asyncio.sleep(0.05)
    assert session.job is None
    clock.advance(0.05)  # a quarter of a second of quiet: the full frame starts
    await eventually(lambda: finished(session, config), "the frame")
    assert (await frames_run(client))[config.key] == session.job.parts_total


async def test_a_deep_frame_is_priced_by_its_previews_kernel_steps(client, sessions, eventually):
    # Inside the main cardioid at 1e-20: every pixel is inside the set, so its worst case
    # and the estimate from its preview's escape values (each pixel max_iter) are both
    # over a frame's budget; but the offsets of pixels attracted to one fixed point stay
    # small, BLA steps over nearly all their iterations, and the preview's steps say so.
    session, _ = sessions()
    config = FractalConfig(
        fractal="mandelbrot", center_real="-0.2", span="1e-20", width=512, height=512,
        max_iter=300_000,
    )  # fmt: skip
    config.validate()
    with pytest.raises(OverBudget):
        config.check_budget()
    session.request(config)
    await eventually(lambda: finished(session, config), "the deep frame")
    sample = render(config.preview(session.preview_edge))
    assert np.isnan(sample).all()
    with pytest.raises(OverBudget):
        config.check_budget(expected_iterations(config, sample))
    cost = session.expected_cost(config, sample)
    assert 0 < cost < config.pixel_iterations / 1000
    assert 0 < session.job.steps <= 2 * cost
