"""The app in a real browser, pointed by DASK_SCHEDULER_ADDRESS at a `dask scheduler` +
`dask worker` started by the test, which counts the tasks the worker executes."""

from __future__ import annotations

import pytest
from distributed import Client
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
from support import heavy

from compute import FractalConfig
from compute.diagnostics import ExecutionCounter, executed_tasks

pytestmark = [pytest.mark.browser, pytest.mark.cluster]


class Counter:
    """Tasks executed on the test's worker, counted by the worker itself."""

    def __init__(self, client):
        self.client = client
        self.reset()

    def reset(self) -> None:
        # Registering again replaces the plugin on the worker: counts start at zero.
        self.client.register_plugin(ExecutionCounter())

    def keys(self) -> list[str]:
        return [key for key, _ in self.client.sync(executed_tasks, self.client)]

    def tiles_of(self, config: FractalConfig) -> list[str]:
        """Executed tile tasks of ``config``'s frame (its preview is another frame)."""
        return [key for key in self.keys() if f"-{config.key}'" in key]

    def held(self, config: FractalConfig) -> int:
        """Tasks of ``config``'s frame the scheduler still holds, in any state."""

        def count(dask_scheduler, key):
            return sum(key in str(k) for k in dask_scheduler.tasks)

        return self.client.run_on_scheduler(count, key=config.key)


@pytest.fixture
def counter(dask_cli_cluster):
    """A client on the test's scheduler, with fresh execution counts on its worker."""
    with Client(dask_cli_cluster.address, set_as_default=False) as client:
        yield Counter(client)


def test_a_burst_of_changes_runs_at_most_one_superseded_frame(page, external_app, counter):
    page.goto(link(external_app, width=512, height=512, max_iter=200))
    wait_state(page, "done", "cached")
    # Count from here: only what the burst makes the cluster do.
    counter.reset()
    slider = page.locator(".fractal-controls .noUi-handle").first
    presses = 10
    # All ten from one browser task, so that they leave the browser as a burst: one key
    # press at a time through Playwright waits for the page after each, and a page busy
    # drawing would space them out more than a fast typist would.
    slider.evaluate(
        """(handle, n) => {
            for (let i = 0; i < n; i++) {
                const press = {key: "ArrowRight", bubbles: true};
                handle.dispatchEvent(new KeyboardEvent("keydown", press));
            }
        }""",
        presses,
    )
    # Each press is one step; the server may take a while to absorb them all.
    target = round(-0.8 + presses * FractalConfig.param.c_real.step, 6)
    final = wait_url(page, lambda c: abs(c.c_real - target) < 1e-9, f"c_real={target}")
    # The history records the final frame when its last tile has arrived.
    wait_text(page, ".job-history", final.summary())
    page.wait_for_timeout(1000)  # a late superseded request would show up here
    keys = counter.keys()
    # Tile keys name their frame: ("fractal-tile-<frame key>", row, col, attempt).
    current = [k for k in keys if final.key in k or final.preview().key in k]
    # 512x512: 2x2 tiles, all run on the test's worker.
    assert len([k for k in current if final.key in k]) == 4
    # Ten key presses: at most one superseded frame (4 tiles) and its preview ran.
    assert len(keys) - len(current) <= 4 + 1, keys


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
    # One job's 16 tiles: not two jobs, and not cut short when the first tab went away.
    assert len(tiles) == len(set(tiles)) == 16, tiles


def test_closing_the_only_tab_cancels_its_work(tabs, external_app, counter):
    frame = heavy(32)
    page = tabs.open()
    page.goto(link(external_app, **view_of(frame)))
    wait_state(page, "running")
    page.close()
    # The server notices the closed session within about a second and cancels the job:
    # the scheduler forgets its tasks, and not all of them ever ran.
    wait_until(lambda: counter.held(frame) == 0, "the scheduler forgetting the frame")
    assert len(counter.tiles_of(frame)) < 16
