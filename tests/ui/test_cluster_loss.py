"""The app in a real browser while its Dask scheduler dies and comes back."""

from __future__ import annotations

import pytest
from pages import (
    deep_text,
    link,
    open_dashboard,
    set_max_iter,
    wait_state,
    wait_text,
    wait_until,
    wait_url,
)
from support import AppServer, ExternalCluster

pytestmark = [pytest.mark.browser, pytest.mark.cluster]


@pytest.fixture
def fragile(tmp_path):
    """A dask CLI cluster of its own (this test kills it) and an app pointed at it."""
    (tmp_path / "dask").mkdir()
    (tmp_path / "app").mkdir()
    for cluster in ExternalCluster.running(tmp_path / "dask"):
        env = {"DASK_SCHEDULER_ADDRESS": cluster.address}
        for app in AppServer.running(tmp_path / "app", env):
            yield cluster, app


def banner_shown(page) -> bool:
    return page.locator(".cluster-banner").first.is_visible()


# Arguments in this order: the tab closes (and is photographed) before the server stops.
def test_a_lost_scheduler_shows_a_banner_and_the_app_recovers(fragile, page):
    cluster, app = fragile
    page.goto(link(app, width=256, height=256, max_iter=60))
    wait_state(page, "done", "cached")
    assert not banner_shown(page)
    open_dashboard(page)
    old_stream = page.locator("iframe.dask-individual-task-stream").element_handle()

    cluster.kill_scheduler()
    wait_until(lambda: banner_shown(page), "the cluster banner")
    assert "Dask cluster unreachable" in deep_text(page, ".cluster-banner")
    # The session lives on: a change is accepted, marked stale, and waits for the cluster.
    set_max_iter(page, 70)
    wait_url(page, lambda c: c.max_iter == 70, "max_iter=70")
    wait_text(page, ".stale-banner", "older view")

    cluster.start_scheduler()
    cluster.restart_worker()
    wait_until(lambda: not banner_shown(page), "the banner to go", timeout=90)
    # The pending change renders by itself once the cluster is back.
    wait_text(page, ".job-history", "70 it, 256x256")
    assert wait_state(page, "done") == "done"
    # The dashboard pages are reloaded from the new scheduler, not left disconnected.
    wait_until(lambda: not old_stream.evaluate("e => e.isConnected"), "reloaded iframes")
    stream = page.locator("iframe.dask-individual-task-stream")
    stream.content_frame.locator("canvas").first.wait_for()
