"""The app in a real browser, pointed by DASK_SCHEDULER_ADDRESS at a `dask scheduler` +
`dask worker` started by the test, which counts the tasks the worker executes."""

from __future__ import annotations

import pytest
from counting import frames_worth, grid_size
from pages import (
    changed,
    colourful,
    link,
    set_max_iter,
    view_of,
    wait_image,
    wait_state,
    wait_text,
    wait_until,
    wait_url,
)

from compute.fractal import FractalConfig
from compute.fractal.testing import heavy

pytestmark = [pytest.mark.browser, pytest.mark.cluster]


def test_a_burst_of_changes_runs_at_most_one_and_a_half_frames(page, external_app, counter):
    # A frame of about a second on the one worker, in tiles of a few tens of ms: long
    # enough for the burst to supersede it while it runs.
    start = heavy(33).copy(width=512, height=512)
    page.goto(link(external_app, **view_of(start)))
    wait_state(page, "done", "cached")
    # Count from here: only what the burst makes the cluster do.
    counter.reset()
    slider = page.locator(".fractal-controls .noUi-handle").first
    presses = 10
    # A key held down: ten presses 30 ms apart, timed by the page itself (through
    # Playwright, a page busy drawing would space them out more than a key's repeat).
    slider.evaluate(
        """(handle, n) => {
            const key = {key: "ArrowRight", bubbles: true};
            const press = () => handle.dispatchEvent(new KeyboardEvent("keydown", key));
            for (let i = 0; i < n; i++) setTimeout(press, 30 * i);
        }""",
        presses,
    )
    # Each press is one step; the server may take a while to absorb them all.
    target = round(start.c_real + presses * FractalConfig.param.c_real.step, 6)
    final = wait_url(page, lambda c: abs(c.c_real - target) < 1e-9, f"c_real={target}")
    # The history records the final frame when its last tile has arrived.
    wait_text(page, ".job-history", final.summary())
    page.wait_for_timeout(1000)  # a late superseded request would show up here
    frames = counter.frames()
    # The final frame ran whole, once, on the test's worker.
    mine = frames.pop(final.key)
    assert len(mine) == len(set(mine)) == grid_size(mine)
    # Ten key presses: the first started at once and was superseded, the rest waited for
    # the burst to end. At most one and a half frames' worth of tiles ran in all (the
    # previews run in the server's own process, not on the cluster).
    assert frames_worth([k for keys in frames.values() for k in keys]) <= 0.5, frames
    assert frames_worth(mine) + frames_worth([k for keys in frames.values() for k in keys]) <= 1.5


def test_a_colormap_change_runs_no_task(page, external_app, counter):
    page.goto(link(external_app, width=512, height=512, max_iter=150))
    wait_state(page, "done", "cached")
    before = wait_image(page, colourful, "a rendered fractal")
    counter.reset()
    page.get_by_label("Colormap").select_option("kbc")
    wait_url(page, lambda c: c.colormap == "kbc", "colormap=kbc")
    wait_image(page, changed(before), "the new colours")
    page.wait_for_timeout(1000)
    assert counter.keys() == []
    assert wait_state(page, "done", "cached") in ("done", "cached")


def test_two_tabs_share_one_job_and_closing_one_does_not_cancel_it(tabs, external_app, counter):
    frame = heavy(31)
    first, second = tabs.open(), tabs.open()
    # Both tabs open on a quick view first: a page load takes about as long as the frame.
    for tab in (first, second):
        tab.goto(link(external_app, **{**view_of(frame), "max_iter": 20}))
        wait_state(tab, "done", "cached")
    set_max_iter(first, frame.max_iter)
    wait_state(first, "running")
    # The second tab asks for the same frame while it runs: it joins that job.
    set_max_iter(second, frame.max_iter)
    wait_url(second, lambda c: c.key == frame.key, "the heavy frame")
    assert wait_state(second, "running", "done") == "running", "too late to share the job"
    first.close()
    assert wait_state(second, "done") == "done"
    wait_text(second, ".job-history", frame.summary())
    tiles = counter.tiles_of(frame)
    # One job's tiles: not two jobs, and not cut short when the first tab went away.
    assert len(tiles) == len(set(tiles)) == grid_size(tiles), tiles


def test_closing_the_only_tab_cancels_its_work(tabs, external_app, counter):
    frame = heavy(32)
    page = tabs.open()
    page.goto(link(external_app, **view_of(frame)))
    wait_state(page, "running")
    page.close()
    # The server notices the closed session within about a second and cancels the job:
    # the scheduler forgets its tasks, and not all of them ever ran.
    wait_until(lambda: counter.held(frame) == 0, "the scheduler forgetting the frame")
    tiles = counter.tiles_of(frame)
    assert 0 < len(tiles) < grid_size(tiles)
