"""A worker SIGKILLed while it computes: the frame and the movie still complete.

Real processes: a `dask scheduler` and two `dask worker` processes, one of them killed
(its nanny with it, so nothing restarts it) while it executes a tile or a movie frame;
the scheduler gives its work to the other. Through the app too: `panel serve --plugins
api` on that cluster, its jobs submitted over HTTP, a replacement worker started.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import time

import numpy as np
import pytest
from distributed import Client

from components.testing import AppServer
from compute.engine import JobManager
from compute.engine.testing import ExternalCluster, terminate
from compute.fractal import FractalConfig, MovieSpec, fractal_registry, render
from compute.fractal.testing import heavy
from compute.fractal.video import probe

pytestmark = [pytest.mark.cluster]

END = FractalConfig(x_range=(-0.35, 0.05), y_range=(-0.2, 0.2), max_iter=3000)


def movie(frames: int = 16) -> MovieSpec:
    return MovieSpec(
        start=FractalConfig(max_iter=100), end=END, frames=frames, width=160, height=120, fps=12
    )


class Workers:
    """Workers this test starts beside the cluster's own, each reaped and checked."""

    def __init__(self, cluster: ExternalCluster):
        self.cluster = cluster
        self.procs: list = []
        self.killed: list = []

    def spawn(self):
        proc = self.cluster.spawn_worker(f"worker-{len(self.procs) + 2}")
        self.procs.append(proc)
        return proc

    def kill(self, proc) -> None:
        """SIGKILL the `dask worker` process group: the nanny goes too, and restarts none."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        self.killed.append(proc)

    def stop(self) -> None:
        for proc in self.procs:
            terminate(proc)
        for proc in self.procs:
            expected = (-signal.SIGKILL,) if proc in self.killed else (0, -signal.SIGTERM)
            assert proc.returncode in expected, self.cluster.log("worker-2")


@pytest.fixture
def two_workers(tmp_path):
    """A `dask scheduler`, its `dask worker`, and a second worker the test may kill."""
    for cluster in ExternalCluster.running(tmp_path):
        workers = Workers(cluster)
        try:
            workers.spawn()
            yield cluster, workers
        finally:
            workers.stop()


def _executing():
    # Made here, not at module level: pickled by value, a `dask worker` needs no tests/.
    def executing(dask_worker):
        return [str(ts.key) for ts in dask_worker.state.executing]

    return executing


async def address_of(client, proc) -> str:
    """The address of the worker that `dask worker` process ``proc`` runs."""
    pids = await client.run(os.getpid)
    (address,) = [a for a, pid in pids.items() if os.getpgid(pid) == proc.pid]
    return address


async def running_on(client, address: str, prefix: str) -> bool:
    answer = await client.run(_executing(), workers=[address])
    return any(prefix in key for key in answer.get(address, []))


async def taken_from(client, address: str) -> str:
    """The keys the scheduler had to give to another worker when ``address`` died (its
    own record of the loss), as one string."""
    events = await client.get_events(address)
    (lost,) = [m for _, m in events if m.get("action") == "remove-worker"]
    return repr(lost["processing-tasks"])


async def kill_while_running(client, workers, prefix: str, eventually) -> str:
    """SIGKILL the second worker once it executes a task named ``prefix``; its address."""
    (victim,) = workers.procs
    address = await address_of(client, victim)
    await eventually(lambda: running_on(client, address, prefix), f"{prefix} on the doomed worker")
    workers.kill(victim)
    return address


@pytest.mark.asyncio
async def test_a_frame_completes_when_a_worker_dies_mid_frame(two_workers, eventually):
    cluster, workers = two_workers
    async with Client(cluster.address, asynchronous=True, set_as_default=False) as client:
        await client.wait_for_workers(2)
        with contextlib.closing(fractal_registry(client)) as registry:
            config = heavy()
            job = JobManager(registry).submit(config)
            address = await kill_while_running(client, workers, "fractal-tile", eventually)
            frame = await job.result()
            assert job.state == "done"
            np.testing.assert_array_equal(frame, render(config))
            assert "fractal-tile" in await taken_from(client, address)


@pytest.mark.asyncio
async def test_a_movie_completes_when_a_worker_dies_mid_movie(two_workers, eventually):
    cluster, workers = two_workers
    async with Client(cluster.address, asynchronous=True, set_as_default=False) as client:
        await client.wait_for_workers(2)
        with contextlib.closing(fractal_registry(client)) as registry:
            spec = movie()
            job = registry.detach(spec)
            address = await kill_while_running(client, workers, "fractal-movieframe", eventually)
            result = await job.result()
            assert job.state == "done"
            assert probe(result.data("mp4")).frames == spec.frames
            assert "fractal-movieframe" in await taken_from(client, address)


# -- through the app's HTTP API ----------------------------------------------------------------
def api(app, method: str, path: str, body=None):
    """``(status, JSON answer)`` of one request to the app's API."""
    status, _, data = app.request(method, path, body)
    return status, json.loads(data)


def fetched(app, path: str) -> bytes:
    status, _, data = app.request("GET", path)
    assert status == 200, data[:200]
    return data


def wait_for(check, what: str, limit: float = 180.0):
    """Poll until ``check()`` is true: a hang guard, not a timing test."""
    deadline = time.monotonic() + limit
    while not (value := check()):
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)
    return value


def test_the_apps_frame_and_movie_complete_when_a_worker_dies(two_workers, tmp_path):
    cluster, workers = two_workers
    config = heavy()
    frames = {
        "c_real": config.c_real, "c_imag": config.c_imag, "x_range": list(config.x_range),
        "y_range": list(config.y_range), "max_iter": config.max_iter,
        "width": config.width, "height": config.height,
    }  # fmt: skip
    spec = movie()
    movies = {
        "start": {"max_iter": spec.start.max_iter},
        "end": {"max_iter": END.max_iter, "x_range": list(END.x_range),
                "y_range": list(END.y_range)},
        "frames": spec.frames, "width": spec.width, "height": spec.height,
    }  # fmt: skip
    env = {"DASK_SCHEDULER_ADDRESS": cluster.address}
    (tmp_path / "app").mkdir()
    serving = contextlib.contextmanager(AppServer.running)
    with (
        serving(tmp_path / "app", env, name="api", args=("--plugins", "api")) as app,
        contextlib.closing(Client(cluster.address, set_as_default=False)) as client,
    ):
        client.wait_for_workers(2)
        (victim,) = workers.procs
        address = client.sync(address_of, client, victim)
        status, frame_job = api(app, "POST", "/api/jobs", {"kind": "frame", "params": frames})
        assert status == 202, frame_job
        status, movie_job = api(app, "POST", "/api/jobs", {"kind": "movie", "params": movies})
        assert status == 202, movie_job
        wait_for(
            lambda: client.sync(running_on, client, address, "fractal-"),
            "the app's work on the doomed worker",
        )
        workers.kill(victim)
        workers.spawn()  # a replacement, as a supervisor starts one

        def ended(job_id):
            def check():
                job = api(app, "GET", f"/api/jobs/{job_id}")[1]
                return job if job["state"] in ("done", "cached", "failed", "cancelled") else None

            return check

        assert wait_for(ended(frame_job["id"]), "the frame")["state"] == "done"
        assert wait_for(ended(movie_job["id"]), "the movie")["state"] == "done"
        assert "fractal-" in client.sync(taken_from, client, address)
        data = fetched(app, f"/api/jobs/{frame_job['id']}/result?format=npy")
        np.testing.assert_array_equal(np.load(io.BytesIO(data)), render(config))
        assert probe(fetched(app, f"/api/jobs/{movie_job['id']}/result")).frames == spec.frames
