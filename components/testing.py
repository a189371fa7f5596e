"""Testing the served app: ``panel serve app.py`` in a subprocess, requests to it, and a
browser that loads its pages offline.

For this project's tests and benchmarks (a real server, a real HTTP client, a real
browser): the server runs in its own process group, so that stopping it stops its local
cluster too; it is always reaped, its exit status and its log checked.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from compute.engine.testing import free_port, group_alive, terminate

#: The project's checkout (where ``app.py`` is).
ROOT = Path(__file__).resolve().parent.parent


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
        self.leftovers = group_alive(proc.pid, grace=15.0)
        if self.leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        return proc.returncode

    @classmethod
    def running(
        cls,
        logs: Path,
        env: dict | None = None,
        name: str = "panel",
        args: tuple = (),
        script: str = "app.py",
    ):
        """Start ``panel serve`` of ``script``; yield it; stop it and check its exit, its
        leftovers and its log. A generator, for fixtures of any scope to ``yield from``."""
        server = cls(logs, env=env, name=name, args=args, script=script)
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
        ours = tuple(f"{ROOT}/{path}" for path in ("components/", "compute/", "api/", "pricing/"))
        ours += (f"{ROOT}/app.py",)
        errors = [
            block
            for block in log.split("Traceback (most recent call last):")[1:]
            if any(path in block for path in ours)
        ]
        assert not errors, log

    def log(self) -> str:
        return (self.logs / f"{self.name}.log").read_text(errors="replace")

    def request(
        self,
        method: str,
        path: str,
        body=None,
        raw: bytes | None = None,
        timeout: float = 60,
        headers: dict | None = None,
    ):
        """:func:`request` to this server."""
        return request(self.port, method, path, body, raw, timeout, headers)


def request(
    port: int,
    method: str,
    path: str,
    body=None,
    raw: bytes | None = None,
    timeout: float = 60,
    headers: dict | None = None,
):
    """``(status, headers, body bytes)`` of one request to ``path`` (``/api/...``) on the
    server at ``port``, with a JSON ``body`` (or ``raw`` bytes) sent as
    ``application/json`` and more ``headers`` if given; HTTP errors are answers too."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(f"http://localhost:{port}{path}", data=data, method=method)
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def panel_cdn_from_package(context) -> None:
    """Answer a Playwright browser ``context``'s requests for Panel's CDN from the
    installed package's own ``dist`` files.

    Panel 1.9 still links some stylesheets (templates, Tabulator, loading spinner) to
    cdn.holoviz.org even when serving everything else itself (holoviz/panel#7073). The
    test machine is offline: without this the page would be styled as no user with a
    network sees it (the history table unreadable in screenshots). Google Fonts are
    refused at once rather than left to time out.
    """
    # Imported here: Panel's resources are a page's concern, not a server process's.
    from panel.io.resources import CDN_DIST, DIST_DIR

    prefix = urlsplit(CDN_DIST).path

    def fulfil(route) -> None:
        path = DIST_DIR / urlsplit(route.request.url).path.removeprefix(prefix)
        if path.is_file():
            route.fulfill(path=path)
        else:
            route.abort()

    context.route(f"{CDN_DIST}**", fulfil)
    context.route("https://fonts.googleapis.com/**", lambda route: route.abort())


def open_dashboard(page) -> None:
    """Open the (closed) card of a Playwright ``page`` of the app that embeds the
    scheduler's dashboard pages, and wait for its first frame."""
    page.locator(".dask-dashboard .card-header").first.click()
    page.locator("iframe").first.wait_for()
