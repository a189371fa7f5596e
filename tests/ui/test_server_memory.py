"""Closed tabs leave nothing behind in the server: every explorer of theirs is freed.

A Bokeh server in this process (``pn.serve`` of ``app.py`` in a thread, on the test's
`dask scheduler` + `dask worker`), so that the test can look for the explorers of
destroyed sessions among the live objects; chromium opens tabs, renders and closes them.
Each of three global tables kept every closed tab's explorer, with its page's Bokeh
document and the frames shown, until the process ended (the soak's server grew by about
20 MB a session): HoloViews' option store (the plot's hook), Panel's link registry
(the editable sliders' boxes) and its table of views (the notification area).
"""

from __future__ import annotations

import asyncio
import gc
import types
import urllib.request
import weakref

import panel as pn
import pytest
from pages import link, view_of, wait_state, wait_until
from support import ROOT, free_port

from components import FractalExplorer
from components.explorer import _CONNECTION_KEY
from compute import FractalConfig

pytestmark = [pytest.mark.browser, pytest.mark.cluster]


def explorers() -> list[FractalExplorer]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, FractalExplorer)]


@pytest.fixture
def served(dask_cli_cluster, monkeypatch):
    """``app.py`` served by this process, with unused sessions dropped within a second."""
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", dask_cli_cluster.address)
    monkeypatch.setattr(pn.config, "notifications", pn.config.notifications)  # app.py sets it
    port = free_port()
    server = pn.serve(
        {"app": str(ROOT / "app.py")},
        port=port,
        address="127.0.0.1",
        websocket_origin=[f"localhost:{port}"],
        threaded=True,
        show=False,
        check_unused_sessions_milliseconds=200,
        unused_session_lifetime_milliseconds=200,
    )
    try:
        wait_until(lambda: _answers(f"http://localhost:{port}/"), "the server")
        yield types.SimpleNamespace(url=f"http://localhost:{port}/app")
    finally:
        connection = pn.state.cache.pop(_CONNECTION_KEY, None)
        if connection is not None:  # the app's client, closed on its own loop
            asyncio.run_coroutine_threadsafe(connection.close(), server.asyncio_loop).result(60)
        server.stop()
        server.join(timeout=60)
        assert not server.is_alive()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError:
        return False


def test_the_explorers_of_closed_tabs_are_freed(tabs, served):
    before = weakref.WeakSet(explorers())  # other tests' in this process, if any
    for n in range(3):
        page = tabs.open()
        page.goto(link(served, **view_of(FractalConfig(width=256, height=256, max_iter=60 + n))))
        wait_state(page, "done", "cached")
        page.context.close()
        tabs.contexts.remove(page.context)
    # The sessions go within a second or so of their tabs; then nothing of theirs stays.
    wait_until(lambda: not [e for e in explorers() if e not in before], "the explorers freed")
