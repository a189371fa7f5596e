"""The app on its embedded cluster, in a real browser, while that cluster's processes are
killed: its scheduler (the server restarts the whole cluster on the same ports), then all
its workers.

Meanwhile ``/readiness`` says 503 with a reason, new work is refused at once with a reason,
and finished results are still served; once back, the page renders the view it asks for
and the API its frames.
"""

from __future__ import annotations

import contextlib
import io
from urllib.parse import urlencode

import psutil
import pytest
from pages import js, link, set_max_iter, wait_state, wait_text, wait_until, wait_url
from PIL import Image

from components.testing import AppServer

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

LIGHT = {"max_iter": 120, "width": 192, "height": 128, "c_real": -0.75, "c_imag": 0.11}


@pytest.fixture(scope="module")
def embedded_app(tmp_path_factory):
    """The app with its API on its default: an embedded cluster (scheduler in a
    subprocess, a worker process per core), with a store of its own."""
    yield from AppServer.running(
        tmp_path_factory.mktemp("embedded-app"), name="embedded", args=("--plugins", "api")
    )


def ready(app) -> bool:
    return js(app, "GET", "/readiness")[0] == 200


def lost(app) -> dict | None:
    """``/readiness``'s answer while it says 503, else None."""
    status, body = js(app, "GET", "/readiness")
    return body if status == 503 else None


def children(app, *marks: str) -> list[psutil.Process]:
    """The server's child processes whose command line holds one of ``marks``."""
    found = []
    for child in psutil.Process(app.proc.pid).children():
        with contextlib.suppress(psutil.Error):  # one that just exited
            if any(mark in " ".join(child.cmdline()) for mark in marks):
                found.append(child)
    return found


def scheduler(app) -> psutil.Process:
    """The embedded scheduler: ``dask spec`` of ``distributed.Scheduler``."""
    return wait_until(lambda: children(app, "distributed.Scheduler"), "the scheduler")[0]


def workers(app) -> list[psutil.Process]:
    """The embedded workers: processes its nannies (in the server) spawned."""
    return children(app, "--multiprocessing-fork")


def finished_png(app, params: dict) -> str:
    """Post a frame, wait for its result as PNG; its id."""
    status, answer = js(app, "POST", "/api/jobs", {"kind": "frame", "params": params})
    assert status == 202, answer
    status, headers, data = app.request("GET", f"/api/jobs/{answer['id']}/result?wait=30")
    assert (status, headers["Content-Type"]) == (200, "image/png"), data[:200]
    return answer["id"]


def frame_png(app, **view) -> Image.Image:
    status, headers, data = app.request("GET", f"/api/frame.png?{urlencode(view)}&wait=30")
    assert (status, headers["Content-Type"]) == (200, "image/png"), data[:200]
    return Image.open(io.BytesIO(data))


def test_a_killed_scheduler_is_restarted_and_the_app_carries_on(embedded_app, page):
    app = embedded_app
    page.goto(link(app, width=256, height=256, max_iter=60))
    wait_state(page, "done", "cached")
    wait_until(lambda: ready(app), "the cluster to be ready")
    before = finished_png(app, LIGHT)
    old = scheduler(app)

    old.kill()
    body = wait_until(lambda: lost(app), "/readiness to say 503")
    assert body["ready"] is False
    assert body["status"] in ("reconnecting", "lost")
    assert body["error"]
    # New work is refused at once, with a reason.
    other = {**LIGHT, "c_real": -0.7}
    status, answer = js(app, "POST", "/api/jobs", {"kind": "frame", "params": other})
    assert status == 503, answer
    assert answer["error"]
    # A result finished before is still served: as it was sent, and in another format
    # (read from the engine's memory or its store, with no cluster).
    for fmt, media in (("png", "image/png"), ("npy", "application/octet-stream")):
        status, headers, data = app.request("GET", f"/api/jobs/{before}/result?format={fmt}")
        assert (status, headers["Content-Type"]) == (200, media), (fmt, data[:200])
    # The page lives on: a change waits for the cluster.
    set_max_iter(page, 70)
    wait_url(page, lambda c: c.max_iter == 70, "max_iter=70")

    wait_until(lambda: ready(app), "/readiness to say 200 again", limit=120)
    assert scheduler(app).pid != old.pid
    assert "restarted" in app.log()
    # The page asked again for its view, and it renders.
    wait_text(page, ".job-history", "70 it, 256x256")
    assert wait_state(page, "done") == "done"
    # And the API renders frames: one computed now.
    assert frame_png(app, max_iter=90, width=96, height=64).size == (96, 64)


def test_workers_killed_are_replaced_and_frames_render(embedded_app, page):
    app = embedded_app
    wait_until(lambda: ready(app), "the cluster to be ready", limit=120)
    killed = workers(app)
    assert killed
    for worker in killed:
        worker.kill()
    gone = {w.pid for w in killed}
    wait_until(lambda: len({w.pid for w in workers(app)} - gone) == len(killed), "workers anew")
    wait_until(lambda: ready(app), "/readiness to say 200", limit=120)
    assert frame_png(app, max_iter=95, width=96, height=64).size == (96, 64)
    page.goto(link(app, width=256, height=256, max_iter=65))
    assert wait_state(page, "done", "cached") in ("done", "cached")
