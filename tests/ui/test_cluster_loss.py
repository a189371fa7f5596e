"""The app in a real browser while its Dask scheduler dies and comes back.

After the restart the client has reconnected, not only as a client: its jobs' states still
come from the workers' reports, and a new worker is still warmed.
"""

from __future__ import annotations

import contextlib
import re

import pytest
from distributed import Client
from pages import (
    _DEEP_TEXT,
    deep_text,
    link,
    open_dashboard,
    set_max_iter,
    view_of,
    wait_state,
    wait_text,
    wait_until,
    wait_url,
)

from components.testing import AppServer
from compute.engine.testing import ExternalCluster
from compute.fractal.testing import heavy

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


def _warmed_fn():
    # Made here, not at module level: pickled by value, a `dask worker` needs no tests/.
    def warmed(dask_worker):
        import compute.fractal.kernels as kernels

        compiled = any(getattr(f, "signatures", None) for f in vars(kernels).values())
        return "fractal-kernel-warmup" in dask_worker.plugins and compiled

    return warmed


# Every text the job badge shows, as the page draws it (a state may last a fraction of a
# second: polled from Python, it could be missed).
_RECORD_BADGE = f"""
() => {{
    const text = {_DEEP_TEXT};
    window.fractalBadges = [];
    setInterval(() => {{
        const now = text(".job-text"), seen = window.fractalBadges;
        if (seen[seen.length - 1] !== now) seen.push(now);
    }}, 10);
}}
"""


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
    wait_until(lambda: not banner_shown(page), "the banner to go", limit=90)
    # The pending change renders by itself once the cluster is back.
    wait_text(page, ".job-history", "70 it, 256x256")
    assert wait_state(page, "done") == "done"
    # The dashboard pages are reloaded from the new scheduler, not left disconnected.
    wait_until(lambda: not old_stream.evaluate("e => e.isConnected"), "reloaded iframes")
    stream = page.locator("iframe.dask-individual-task-stream")
    stream.content_frame.locator("canvas").first.wait_for()

    # The restarted scheduler got the app's warm-up again, for the new worker.
    with contextlib.closing(Client(cluster.address, set_as_default=False)) as client:
        client.wait_for_workers(1)
        warmed = _warmed_fn()
        wait_until(lambda: all(client.run(warmed).values()), "the new worker warmed")
    # And the workers' reports of started tiles (a topic subscribed again): a heavy frame
    # reads "running" before any tile is back, not "queued" until the first one.
    frame = heavy()
    page.goto(link(app, **view_of(frame.copy(max_iter=60))))
    wait_state(page, "done", "cached")
    page.evaluate(_RECORD_BADGE)
    set_max_iter(page, frame.max_iter)
    wait_url(page, lambda c: c.max_iter == frame.max_iter, "the heavy view")
    wait_state(page, "queued", "running")  # the heavy frame's, not the last one's "done"
    assert wait_state(page, "done") == "done"
    seen = page.evaluate("() => window.fractalBadges")
    assert any(re.search(r"running: 0 of (1[0-9]|[2-9]) tiles", t) for t in seen), seen
