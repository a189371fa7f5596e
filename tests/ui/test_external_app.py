"""The app in a real browser, pointed by DASK_SCHEDULER_ADDRESS at a `dask scheduler` +
`dask worker` started by the test, which counts the tasks the worker executes."""

from __future__ import annotations

import pytest
from distributed import Client
from pages import url_config, wait_image, wait_state, wait_url
from test_local_app import changed, colourful, link

from compute.diagnostics import ExecutionCounter, executed_tasks

pytestmark = [pytest.mark.browser, pytest.mark.cluster]


@pytest.fixture
def counter(dask_cli_cluster):
    """A client on the test's scheduler, with fresh execution counts on its worker."""
    with Client(dask_cli_cluster.address, set_as_default=False) as client:
        client.register_plugin(ExecutionCounter())
        yield lambda: client.sync(executed_tasks, client)


def test_a_burst_of_changes_runs_at_most_one_superseded_frame(page, external_app, counter):
    page.goto(link(external_app, width=512, height=512, max_iter=200))
    wait_state(page, "done", "cached")
    assert len(counter()) > 0  # the app's tiles ran on the test's worker
    slider = page.locator(".fractal-controls .noUi-handle").first
    slider.focus()
    for _ in range(10):
        slider.press("ArrowRight")
    wait_url(page, lambda c: c.c_real != -0.8, "the new c")
    wait_state(page, "done", "cached")
    page.wait_for_timeout(1000)  # a late superseded request would show up here
    final = url_config(page)
    keys = [key for key, _ in counter()]
    # Tile keys name their frame: ("fractal-tile-<frame key>", row, col).
    current = [k for k in keys if final.key in k or final.preview().key in k]
    assert len([k for k in current if final.key in k]) == 4  # 512x512: 2x2 tiles
    # Ten key presses: at most one superseded frame (4 tiles) and its preview ran.
    assert len(keys) - len(current) <= 4 + 1, keys


def test_a_colormap_change_runs_no_task(page, external_app, counter):
    page.goto(link(external_app, width=512, height=512, max_iter=150))
    wait_state(page, "done", "cached")
    before = wait_image(page, colourful, "a rendered fractal")
    ran = len(counter())
    page.get_by_label("Colormap").select_option("kbc")
    wait_url(page, lambda c: c.colormap == "kbc", "colormap=kbc")
    wait_image(page, changed(before), "the new colours")
    page.wait_for_timeout(1000)
    assert len(counter()) == ran
    assert wait_state(page, "done", "cached") in ("done", "cached")
