"""Processes the tests start: a `dask scheduler` + `dask worker`, and `panel serve app.py`.

Each runs in its own process group, so that stopping it stops its children too; each is
always reaped and its exit status checked by the fixture that started it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from compute import FractalConfig

ROOT = Path(__file__).resolve().parent.parent

DASK = str(Path(sys.executable).with_name("dask"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
            "--dashboard-address", self.dashboard, *self._tls_args("--protocol", "tls"),
        )  # fmt: skip

    def start_worker(self) -> None:
        self.worker = self.spawn_worker("worker")

    def spawn_worker(self, name: str) -> subprocess.Popen:
        """Another `dask worker` (1 thread) beside :attr:`worker`, logged as ``name``; the
        caller stops (or kills) it and reaps it: :meth:`stop` knows only its own."""
        return self._spawn(
            name, "worker", self.address, "--nworkers", "1", "--nthreads", "1",
            "--host", "127.0.0.1", "--no-dashboard", "--death-timeout", "120",
            *self._tls_args(),
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


class AppServer:
    """`panel serve app.py` (or another ``script``) on a free port, with short unused-session
    lifetimes so that a closed tab's session is destroyed within about a second."""

    def __init__(
        self,
        logs: Path,
        env: dict | None = None,
        name: str = "panel",
        args: tuple[str, ...] = (),
        root: Path = ROOT,
        script: str = "app.py",
    ):
        self.port = free_port()
        self.script = script
        self.url = f"http://localhost:{self.port}/{Path(script).stem}"
        self.logs = logs
        self.name = name
        self.args = tuple(args)
        self.root = root
        # Only what the test asks for points the app at a cluster, not the caller's shell.
        inherited = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
        # A store of its own, as a fresh deployment has: persistence is exercised, and no
        # frame computed by an earlier test (or the user) is served from cache by surprise.
        store = {"FRACTAL_STORE": tempfile.mkdtemp(dir=logs, prefix=f"{name}-store-")}
        self.env = {**inherited, "PYTHONUNBUFFERED": "1", **store, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.leftovers = False

    def start(self, timeout: float = 120.0) -> None:
        panel = str(Path(sys.executable).with_name("panel"))
        with open(self.logs / f"{self.name}.log", "ab") as log:
            self.proc = subprocess.Popen(
                [panel, "serve", self.script, "--port", str(self.port), "--address", "127.0.0.1",
                 "--allow-websocket-origin", f"localhost:{self.port}", "--liveness",
                 "--check-unused-sessions", "500", "--unused-session-lifetime", "500",
                 *self.args],
                cwd=self.root, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"panel serve exited with {code}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"http://localhost:{self.port}/liveness", timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"panel serve did not become live:\n{self.log()}") from None
                time.sleep(0.2)

    def stop(self) -> int | None:
        """SIGTERM the server's process group (its local cluster included); reap it."""
        proc = self.proc
        if proc is None:
            return None
        terminate(proc)
        # Worker processes of the local cluster share the group and got the SIGTERM too:
        # none may outlive the server. Leftovers are killed, and reported.
        self.leftovers = _group_alive(proc.pid, grace=15.0)
        if self.leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        return proc.returncode

    @classmethod
    def running(cls, logs: Path, env: dict | None = None, name: str = "panel", args: tuple = ()):
        """Start ``panel serve``; yield it; stop it and check its exit, its leftovers and
        its log. A generator, for fixtures of any scope to ``yield from``."""
        server = cls(logs, env=env, name=name, args=args)
        try:
            server.start()
            yield server
        finally:
            code = server.stop()
        log = server.log()
        # SIGTERM is how it is stopped.
        assert code in (0, -signal.SIGTERM), f"panel serve exited with {code}:\n{log}"
        assert not server.leftovers, f"processes outlived panel serve:\n{log}"
        # A traceback through our code is a failure of the app. Others come from the server
        # machinery around it when tabs close mid-message (Tornado, Bokeh) and from the Dask
        # dashboard's progress page (distributed 2026.8 with Bokeh 3.9 sets `title.text` on
        # a str; its bars still update): those are not ours to fix here.
        ours = (f"{ROOT}/components/", f"{ROOT}/compute/", f"{ROOT}/app.py", f"{ROOT}/api.py")
        errors = [
            block
            for block in log.split("Traceback (most recent call last):")[1:]
            if any(path in block for path in ours)
        ]
        assert not errors, log

    def log(self) -> str:
        return (self.logs / f"{self.name}.log").read_text(errors="replace")

    def request(
        self, method: str, path: str, body=None, raw: bytes | None = None, timeout: float = 60
    ):
        """:func:`request` to this server."""
        return request(self.port, method, path, body, raw, timeout)


def request(
    port: int, method: str, path: str, body=None, raw: bytes | None = None, timeout: float = 60
):
    """``(status, headers, body bytes)`` of one request to ``path`` (``/api/...``) on the
    server at ``port``, with a JSON ``body`` (or ``raw`` bytes); HTTP errors are answers
    too."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(f"http://localhost:{port}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def _group_alive(pgid: int, grace: float) -> bool:
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


def heavy(n: int = 0, c_imag: float = 0.1) -> FractalConfig:
    """A slow frame: 16 tiles of about 0.25 s each.

    c lies in the Mandelbrot set, so nearly every pixel of this view costs max_iter
    iterations. Cancellation can only stop tiles that are still queued, so the frame must
    take long enough for some to be. ``n`` (and ``c_imag``) make distinct frames.
    """
    return FractalConfig(
        c_real=-0.1,
        c_imag=c_imag + n * 1e-3,
        x_range=(-0.5, 0.5),
        y_range=(-0.5, 0.5),
        max_iter=4000,
        width=1024,
        height=1024,
    )


class SlippedThrough(FractalConfig):
    """A config with a client-side bug: it passes validation but sends max_iter=0."""

    def compute_values(self) -> dict:
        return {**super().compute_values(), "max_iter": 0}
