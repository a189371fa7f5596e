"""What the server keeps: nothing of a closed tab, and no pixels of an API job that ended.

A Bokeh server in this process (``pn.serve`` of ``app.py`` in a thread, with the API's
routes, on the test's `dask scheduler` + `dask worker`), so that the tests can look for
what should be gone among the live objects.

* Chromium opens tabs, renders and closes them. Each of three global tables kept every
  closed tab's explorer, with its page's Bokeh document and the frames shown, until the
  process ended (the soak's server grew by about 20 MB a session): HoloViews' option
  store (the plot's hook), Panel's link registry (the editable sliders' boxes) and its
  table of views (the notification area).
* An HTTP client asks for frames. The API remembers its last thousand jobs by id; each
  job held its frame (8 MiB at 1024x1024), so the soak's server held hundreds of
  megabytes of them beyond the result cache's bound. An ended job is remembered by its
  description; its result is read again from the cache, or computed again.
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import types
import urllib.request
import weakref

import numpy as np
import panel as pn
import pytest
from pages import link, view_of, wait_state, wait_until

from components import FractalExplorer
from components.testing import ROOT, request
from components.wiring import forget_engine
from compute.engine.testing import free_port
from compute.fractal import FractalConfig, FrameJob, render

pytestmark = [pytest.mark.browser, pytest.mark.cluster]


def explorers() -> list[FractalExplorer]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, FractalExplorer)]


@pytest.fixture
def served(dask_cli_cluster, monkeypatch):
    """``app.py`` and the API served by this process, with unused sessions dropped within
    a second, no store, and a result cache that keeps nothing: what is held is held by
    something else."""
    import api

    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", dask_cli_cluster.address)
    monkeypatch.setenv("FRACTAL_CACHE_MAX_BYTES", "0")
    monkeypatch.setenv("FRACTAL_STORE", "off")
    monkeypatch.setattr(pn.config, "notifications", pn.config.notifications)  # app.py sets it
    # The process's engine (its connection, store and registry) and API jobs are in
    # Panel's cache: this test's own.
    monkeypatch.setattr(pn.state, "cache", {})
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
        extra_patterns=api.ROUTES,
    )
    try:
        wait_until(lambda: _answers(f"http://localhost:{port}/"), "the server")
        yield types.SimpleNamespace(url=f"http://localhost:{port}/app", port=port)
    finally:
        try:
            # The app's engine, taken out of Panel's cache and closed (its client with it)
            # on its own loop.
            engine = forget_engine()
            assert engine is not None, "the app made no engine"
            asyncio.run_coroutine_threadsafe(engine.close(), server.asyncio_loop).result(60)
        finally:
            # Stopped whatever happened above: a server left running holds the test
            # process at its exit.
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


def frame_jobs(keys) -> list[FrameJob]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, FrameJob) and o.key in keys]


def test_api_jobs_that_ended_keep_no_frames_and_still_serve_their_results(served):
    configs = [FractalConfig(width=512, height=512, max_iter=70 + n) for n in range(4)]
    ids = []
    for config in configs:
        status, _, body = request(served.port, "POST", "/api/jobs", {
            "kind": "frame", "params": config.to_dict()})  # fmt: skip
        assert status == 202, body
        ids.append(json.loads(body)["id"])

    def state(job_id: str) -> str:
        status, _, body = request(served.port, "GET", f"/api/jobs/{job_id}")
        assert status == 200, body
        return json.loads(body)["state"]

    wait_until(lambda: all(state(i) == "done" for i in ids), "the jobs to end")
    # Still known by id, listed and described as they ended; their frames are not held.
    _, _, body = request(served.port, "GET", "/api/jobs")
    assert {j["id"] for j in json.loads(body)["jobs"]} >= set(ids)
    wait_until(lambda: not frame_jobs(set(ids)), "the ended jobs' frames freed")

    # A result asked for again is computed again (nothing cached, nothing stored): 202
    # while it is, then the frame.
    def result(job_id: str):
        path = f"/api/jobs/{job_id}/result?format=npy"
        status, _, body = request(served.port, "GET", path)
        assert status in (200, 202), body
        return body if status == 200 else None

    for job_id, config in zip(ids, configs, strict=True):
        values = wait_until(lambda job_id=job_id: result(job_id), "the result again")
        frame = np.load(io.BytesIO(values), allow_pickle=False)
        np.testing.assert_array_equal(frame, render(config))
