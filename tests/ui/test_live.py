"""Live exploration in a real browser: the picture follows the hand.

The app is pointed at a `dask scheduler` + one `dask worker` the tests start, whose own
count of executed tasks says what the cluster did. Images are counted on the page's
websocket (a preview is one 128x128 buffer); nothing here depends on how fast it is.
"""

from __future__ import annotations

import pytest
from counting import frame_of, longest_run
from pages import (
    Wire,
    banner_kind,
    link,
    set_max_iter,
    slider_handle,
    view_of,
    wait_state,
    wait_text,
    wait_until,
    wait_url,
)

from compute.fractal import FractalConfig
from compute.fractal.testing import heavy

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

LIGHT = FractalConfig(c_real=-0.75, c_imag=0.11, max_iter=120, width=1024, height=1024)


def drag(page, handle, steps: int, dx: float, watch=None, until=None) -> None:
    """Press ``handle``, move it ``steps`` times by ``dx`` pixels, and release it;
    ``watch()`` is called after each move, with the mouse still down.

    With ``until``, the hand goes on moving (back and forth over the same ``steps``) until
    ``until()`` is true, as a user's drag lasts as long as it lasts: on a loaded machine the
    previews it waits for come more slowly, never fewer per second of dragging. A hang
    guard of 50 sweeps stops it.
    """
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    half = steps // 2
    # Out to ``steps``, then back and forth between it and half-way: the hand never
    # returns to where it started (the released value always differs).
    sweeps = [range(1, steps + 1)] + [
        range(steps - 1, half - 1, -1) if n % 2 else range(half + 1, steps + 1)
        for n in range(1, 50 if until is not None else 1)
    ]
    for offsets in sweeps:
        for offset in offsets:
            page.mouse.move(x + offset * dx, y)
            if watch is not None:
                watch()
        if until is None or until():
            break
    page.mouse.up()


def open_light(page, app) -> Wire:
    """Open the light view and wait for its frame; the wire is watched from the start."""
    wire = Wire(page)
    page.goto(link(app, **view_of(LIGHT)))
    wait_state(page, "done", "cached")
    return wire


def test_a_dragged_slider_shows_previews_and_renders_the_value_it_stops_at(
    page, external_app, counter
):
    wire = open_light(page, external_app)
    counter.reset()
    entries = page.evaluate("history.length")
    start = wire.mark()
    marked, badges = set(), set()

    def watch():
        marked.add(banner_kind(page))
        badges.add(page.locator(".job-state").first.get_attribute("data-state"))

    # The handle is held down all along: a browser sends values, never a release.
    handle = slider_handle(page, "c (real)")
    drag(page, handle, steps=12, dx=2, watch=watch, until=lambda: wire.previews(start) >= 3)
    during = wire.previews(start)
    final = wait_url(page, lambda c: c.c_real != LIGHT.c_real, "the released value")
    wait_text(page, ".job-history", final.summary())
    assert wait_state(page, "done") == "done"

    # Previews arrived while the hand moved: the first at once (a trailing debounce would
    # have shown none while moves came faster than it), one at a time after that.
    assert during >= 3, during
    assert "previewing" in badges
    # Never passed off as finished while dragging: marked as a preview, or as stale.
    assert marked & {"preview", "stale"}, marked
    wait_until(lambda: banner_kind(page) == "false", "the finished frame's clean banner")
    # The last value's frame ran (wherever the hand rested on the way, that value's
    # frame started too, and was superseded when the hand moved on).
    assert final.key in set(map(frame_of, counter.keys()))
    # The URL followed the released value: one browser history entry for the drag.
    assert page.evaluate("history.length") - entries == 1
    page.wait_for_timeout(1000)  # an older frame landing late would show up here
    newest = page.locator(".job-history tbody tr").last
    assert final.summary() in newest.inner_text()
    assert page.locator(".job-state").first.get_attribute("data-state") == "done"


def test_a_key_press_on_a_focused_slider_previews_then_renders_its_frame(page, external_app):
    wire = open_light(page, external_app)
    handle = slider_handle(page, "c (real)")
    handle.focus()
    start = wire.mark()
    handle.press("ArrowRight")  # one step of 0.001
    target = round(LIGHT.c_real + FractalConfig.param.c_real.step, 6)
    final = wait_url(page, lambda c: abs(c.c_real - target) < 1e-9, f"c_real={target}")
    wait_text(page, ".job-history", final.summary())
    assert wait_state(page, "done") == "done"
    images = wire.images(start)
    # The coarse preview first, then the frame's own tiles.
    assert images[0] == Wire.PREVIEW_BYTES
    assert sum(images[1:]) == final.width * final.height


def test_panning_the_plot_previews_while_it_moves_and_renders_where_it_stops(
    page, external_app, counter
):
    wire = open_light(page, external_app)
    counter.reset()
    entries = page.evaluate("history.length")
    start = wire.mark()
    canvas = page.locator(".fractal-view canvas").first
    drag(page, canvas, steps=10, dx=-8)  # the pan tool: the view moves right
    during = wire.previews(start)
    final = wait_url(page, lambda c: c.x_range[0] > LIGHT.x_range[0], "the panned view")
    wait_text(page, ".job-history", final.summary())
    assert final.max_iter == LIGHT.max_iter  # a pan keeps the iterations
    assert wait_state(page, "done") == "done"
    assert during >= 2, during
    assert page.evaluate("history.length") - entries == 1
    # (Had the hand rested on the way, that view's frame would have started too.)
    assert final.key in set(map(frame_of, counter.keys()))


def test_a_session_making_changes_does_not_hold_back_another_sessions_frame(
    tabs, external_app, counter
):
    other, busy = tabs.open(), tabs.open()
    frame, busy_view = heavy(70), heavy(71)
    for tab, view in ((other, frame), (busy, busy_view)):
        tab.goto(link(external_app, **{**view_of(view), "max_iter": 20}))
        wait_state(tab, "done", "cached")
    counter.reset()
    set_max_iter(other, frame.max_iter)  # a frame of seconds on the one worker
    wait_state(other, "running")
    # Meanwhile the other tab keeps changing its own heavy view: each change a new
    # frame, newer than anything the first tab asked for.
    set_max_iter(busy, busy_view.max_iter)
    handle = slider_handle(busy, "c (real)")
    for _ in range(5):
        busy.wait_for_timeout(400)  # longer than the debounce: each press its own frame
        handle.press("ArrowRight")
    assert wait_state(other, "done", timeout=180_000) == "done"

    owners = ["other" if frame_of(k) == frame.key else "busy" for k in counter.started()]
    last = len(owners) - owners[::-1].index("other")
    # Newest-first scheduling would run each of the busy tab's frames before the first
    # tab's next tile; here they take turns, tile by tile, until the first tab is done.
    assert "busy" in owners[:last]
    assert longest_run(owners[:last], "busy") <= 3, owners
