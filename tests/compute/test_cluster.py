"""ClusterConnection: a lazy LocalCluster, an external `dask scheduler` + `dask worker`
started as subprocesses and reached through DASK_SCHEDULER_ADDRESS, and reconnection
after the scheduler dies and comes back."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compute import ClusterConnection, FractalConfig, JobManager, render
from compute.diagnostics import ExecutionCounter, executed_tasks

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]

DASK = str(Path(sys.executable).with_name("dask"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ExternalCluster:
    """`dask scheduler` and `dask worker` processes, each in its own process group."""

    def __init__(self, logs: Path):
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.logs = logs
        self.scheduler: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.stopped: list[subprocess.Popen] = []

    def _spawn(self, name: str, *args: str) -> subprocess.Popen:
        # The child keeps its own descriptor; ours is closed at once.
        with open(self.logs / f"{name}.log", "ab") as log:
            return subprocess.Popen(
                [DASK, *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def start_scheduler(self) -> None:
        self.scheduler = self._spawn(
            "scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
            "--no-dashboard",
        )  # fmt: skip

    def start_worker(self) -> None:
        self.worker = self._spawn(
            "worker", "worker", self.address, "--nworkers", "1", "--nthreads", "1",
            "--host", "127.0.0.1", "--no-dashboard", "--death-timeout", "120",
        )  # fmt: skip

    def kill_scheduler(self) -> None:
        os.killpg(self.scheduler.pid, signal.SIGKILL)
        self.scheduler.wait(timeout=30)
        assert self.scheduler.returncode == -signal.SIGKILL

    def restart_worker(self) -> None:
        """A worker whose scheduler died gives up; a supervisor (here, us) starts another.

        Whether the old one already exited (with an error: its scheduler vanished) or
        still retries is a race, so its exit code is not judged; it is always reaped.
        """
        if self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGTERM)
        self.worker.wait(timeout=60)
        self.start_worker()

    def stop(self) -> list[tuple[str, int]]:
        """Terminate what still runs; return (name, returncode) of each process."""
        codes = []
        for name, proc in (("worker", self.worker), ("scheduler", self.scheduler)):
            if proc is None:
                continue
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
            codes.append((name, proc.returncode))
        return codes

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


@pytest.fixture
def external_cluster(tmp_path):
    cluster = ExternalCluster(tmp_path)
    cluster.start_scheduler()
    cluster.start_worker()
    try:
        yield cluster
    finally:
        codes = cluster.stop()
    # Stopped by SIGTERM, the dask CLI shuts down cleanly; anything else is a crash.
    crashed = [(n, c) for n, c in codes if c not in (0, -signal.SIGTERM)]
    assert not crashed, f"{crashed}\n{cluster.log('scheduler')}\n{cluster.log('worker')}"


def light(n: int = 0) -> FractalConfig:
    return FractalConfig(c_real=-0.75 + n * 1e-3, max_iter=120, width=512, height=512)


async def test_local_cluster_starts_lazily_and_closes(eventually):
    connection = ClusterConnection(n_workers=1)
    assert connection.status == "idle"
    assert connection.cluster is None
    assert connection.dashboard_link is None
    try:
        client = await connection.client()
        assert await connection.client() is client
        assert connection.status == "connected"
        assert connection.cluster is not None
        assert connection.dashboard_link.startswith("http://127.0.0.1:")
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        config = light(1)
        job = JobManager(client).submit(config)
        np.testing.assert_array_equal(await job.result(), render(config))
    finally:
        await connection.close()
    assert connection.status == "closed"
    assert connection.cluster is None
    with pytest.raises(RuntimeError, match="closed"):
        await connection.client()


async def test_dask_scheduler_address_selects_an_existing_cluster(external_cluster, monkeypatch):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", external_cluster.address)
    connection = ClusterConnection()
    assert connection.target == external_cluster.address
    try:
        client = await connection.client()
        await client.wait_for_workers(1)
        assert connection.cluster is None  # no local cluster was started
        assert client.scheduler.address == external_cluster.address
        await client.register_plugin(ExecutionCounter())
        config = light(2)
        job = JobManager(client).submit(config)
        np.testing.assert_array_equal(await job.result(), render(config))
        ran = await executed_tasks(client)
        assert len(ran) == job.tiles_total
        pids = await client.run(os.getpid)
        assert len(pids) == 1
        # The tiles ran in the `dask worker` process the test started.
        assert next(iter(pids.values())) != os.getpid()
    finally:
        await connection.close()


async def test_an_unreachable_scheduler_gives_a_clear_error():
    connection = ClusterConnection(f"tcp://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(OSError, match="Cannot reach the Dask scheduler"):
        await connection.client()
    assert connection.status == "lost"
    await connection.close()


async def test_reconnects_when_the_scheduler_comes_back(external_cluster, eventually):
    connection = ClusterConnection(external_cluster.address, timeout=5)
    try:
        client = await connection.client()
        await client.wait_for_workers(1)
        manager = JobManager(client)
        heavy = FractalConfig(
            c_real=-0.1, c_imag=0.1, x_range=(-0.5, 0.5), y_range=(-0.5, 0.5), max_iter=4000
        )
        in_flight = manager.submit(heavy)

        external_cluster.kill_scheduler()
        # Work in flight fails with a message instead of hanging.
        assert await in_flight.wait() == "failed"
        assert "dropped the work" in in_flight.error
        await eventually(
            lambda: connection.status in ("reconnecting", "lost"), "the loss to be seen"
        )

        external_cluster.start_scheduler()
        external_cluster.restart_worker()

        async def reconnected():
            try:
                client = await connection.client()
            except OSError:
                return None
            return client if connection.status == "connected" else None

        client = await eventually(reconnected, "a connected client")
        await client.wait_for_workers(1)
        config = light(3)
        job = JobManager(client).submit(config)
        np.testing.assert_array_equal(await job.result(), render(config))
    finally:
        await connection.close()
