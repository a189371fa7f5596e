"""Helpers for testing work on the engine, in the spirit of ``distributed.utils_test``.

For this project's tests and benchmarks, and for an app built on the engine:

* :func:`gen_cluster`: a fresh in-process cluster and client per test, checked at the
  end for tasks left on the scheduler (work nobody wants must be gone);
* :func:`eventually` / :func:`wait_until`: poll for the state a test asserts on, with a
  generous limit that only a genuine hang reaches (never a timing threshold);
* :func:`scheduler_tasks`, :func:`workers_idle`: what the cluster still holds;
* :class:`ExternalCluster`: ``dask scheduler`` and ``dask worker`` subprocesses, for
  faults that need real processes (a worker killed, a scheduler lost), each stopped,
  reaped and checked.

Nothing here is imported by the engine itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from distributed import Client, LocalCluster

#: The dask command of this environment.
DASK = str(Path(sys.executable).with_name("dask"))


async def eventually(predicate: Callable, what: str, limit: float = 60.0):
    """Poll ``predicate`` (sync or async) until it returns something true; return that.

    Raises
    ------
    AssertionError
        Naming ``what``, if ``limit`` seconds pass first.
    """
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.02)


def wait_until(predicate: Callable, what: str, limit: float = 60.0, interval: float = 0.05):
    """:func:`eventually` for code without an event loop (a browser test's thread)."""
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(interval)


async def scheduler_tasks(client: Client, containing: str = "") -> list[str]:
    """The keys (as text) of the tasks the scheduler holds, those containing ``containing``."""

    def keys(dask_scheduler, part):
        return [repr(k) for k in dask_scheduler.tasks if part in repr(k)]

    return await client.run_on_scheduler(keys, part=containing)


async def workers_idle(client: Client) -> bool:
    """No task at all on any worker, including cancelled ones still executing."""
    counts = await client.run(lambda dask_worker: len(dask_worker.state.tasks))
    return not any(counts.values())


@contextlib.asynccontextmanager
async def gen_cluster(n_workers: int = 2, limit: float = 30.0) -> AsyncIterator[Client]:
    """A fresh in-process cluster (``n_workers`` single-threaded workers) and its client.

    At the end, the scheduler must come to hold no task within ``limit`` seconds: a test
    that leaves work behind (a job nobody cancelled, a future nobody released) fails
    here, not in the next test.
    """
    async with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=False,
            asynchronous=True,
            dashboard_address=None,
        ) as cluster,
        Client(cluster, asynchronous=True, set_as_default=False) as client,
    ):
        yield client
        await eventually(
            lambda: not cluster.scheduler.tasks,
            f"no task left on the scheduler (left: {list(cluster.scheduler.tasks)[:5]})",
            limit,
        )


def gate_task() -> Callable[[str], int]:
    """A task function that runs until its gate (a file at the path it is given) exists.

    A job held "running" with no part done for as long as a test needs, with no timing
    involved. Made on each call, not at module level: pickled by value, a ``dask worker``
    needs no test package to run it.
    """

    def wait_for(path):
        import os
        import time

        while not os.path.exists(path):
            time.sleep(0.01)
        return 1

    return wait_for


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_alive(pgid: int, grace: float) -> bool:
    """Whether process group ``pgid`` still has a process after ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.1)


def terminate(proc: subprocess.Popen) -> None:
    """SIGTERM ``proc``'s process group if it still runs, SIGKILL after 30 s; reap it."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


class ExternalCluster:
    """`dask scheduler` and `dask worker` processes, each in its own process group.

    With ``tls`` (paths of a CA certificate and of a certificate and key it signed, keys
    ``ca``, ``cert`` and ``key``), both speak Dask's TLS (``tls://``) and use these.
    """

    def __init__(self, logs: Path, tls: dict | None = None):
        self.port = free_port()
        self.tls = tls
        self.address = f"{'tls' if tls else 'tcp'}://127.0.0.1:{self.port}"
        # Fixed, like a real deployment's: a restarted scheduler's dashboard is where it was.
        self.dashboard = f"127.0.0.1:{free_port()}"
        self.logs = logs
        self.scheduler: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

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
            "--dashboard-address", self.dashboard, *self._tls_args("--protocol", "tls"),
        )  # fmt: skip

    def start_worker(self) -> None:
        self.worker = self.spawn_worker("worker")

    def spawn_worker(self, name: str, *extra: str) -> subprocess.Popen:
        """Another `dask worker` (1 thread) beside :attr:`worker`, logged as ``name``, with
        ``extra`` arguments; the caller stops (or kills) it and reaps it: :meth:`stop`
        knows only its own."""
        return self._spawn(
            name, "worker", self.address, "--nworkers", "1", "--nthreads", "1",
            "--host", "127.0.0.1", "--no-dashboard", "--death-timeout", "120",
            *self._tls_args(), *extra,
        )  # fmt: skip

    def _tls_args(self, *extra: str) -> tuple[str, ...]:
        if not self.tls:
            return ()
        return (*extra, "--tls-ca-file", str(self.tls["ca"]), "--tls-cert",
                str(self.tls["cert"]), "--tls-key", str(self.tls["key"]))  # fmt: skip

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
            terminate(proc)
            codes.append((name, proc.returncode))
        return codes

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    @classmethod
    def running(cls, logs: Path, tls: dict | None = None):
        """Start a scheduler and one worker; yield the cluster; stop both and check them.

        A generator, for fixtures of any scope to ``yield from``.
        """
        cluster = cls(logs, tls=tls)
        cluster.start_scheduler()
        cluster.start_worker()
        try:
            yield cluster
        finally:
            codes = cluster.stop()
        # Stopped by SIGTERM, the dask CLI shuts down cleanly; anything else is a crash.
        crashed = [(n, c) for n, c in codes if c not in (0, -signal.SIGTERM)]
        assert not crashed, f"{crashed}\n{cluster.log('scheduler')}\n{cluster.log('worker')}"
