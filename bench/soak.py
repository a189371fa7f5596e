"""A soak of the served app: many users for minutes, then what is left behind.

Run: ``.venv/bin/python bench/soak.py`` (``--minutes 1 --sessions 2 --api-clients 1``: a
short run). Starts ``panel serve app.py --plugins api`` with the flags of ``make serve``
(the embedded cluster: its scheduler in a subprocess, Nanny-managed worker processes),
then, in one run:

* **idle**: a light 256x256 view's time to its first tile, from a fresh page (navigation
  to the first image drawn, as bench/load.py clocks it) and through the API
  (``GET /api/frame.png``), median of 3 distinct views;
* **the soak**: ``--sessions`` browser sessions (one chromium, a context each, as separate
  users have) change their views for ``--minutes``: wheel zoom and drag pan on the plot,
  arrow keys and mouse drags on the c sliders, typed iterations, new links
  (``page.goto``), and every third session (the second, the fifth...) now and then
  closes its tab and opens a new one. Beside them ``--api-clients`` threads loop
  ``POST /api/jobs``, poll, ``GET`` the result and ``GET /api/frame.png``.
  The light probe is repeated under this load;
* **after**: every client stopped and its tab closed, the scheduler's tasks, and those
  wanted by a client (the futures the server still holds), until none are left (or
  ``--settle`` seconds).

It prints the errors (browser console errors and page errors, HTTP 5xx to the pages or
to the API clients, failed jobs, tracebacks through the app's code in the server's log;
target 0), the RSS of the server, its scheduler and its workers every ~15 s (bounded:
last against max), the tasks left (target 0), and the light probe under load against
idle. Exits non-zero if there were errors or tasks were left.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import random
import shutil
import signal
import statistics
import sys
import threading
import time
import urllib.parse

import psutil
from latency import CHROMIUM, DRAG_JS, SMALL, BenchError, Server, Tab, figures

from components.testing import ROOT, AppServer

# `make serve`'s flags (Makefile); the port and address are the harness's own. With
# --use-xheaders each session names its own address (X-Forwarded-For), as users behind a
# proxy have: anonymous tabs from one address share one allowance.
SERVE_FLAGS = (
    "--warm", "--websocket-compression-level", "6", "--plugins", "api", "--use-xheaders",
)  # fmt: skip
# Tracebacks through these are the app's; others (Tornado, Bokeh, the Dask dashboard's
# pages when a tab closes mid-message) are shown apart, as AppServer.running tells them.
OURS = tuple(f"{ROOT}/{p}" for p in ("components/", "compute/", "app.py", "api/"))
ACTIONS = {"wheel": 3, "pan": 2, "keys": 3, "drag": 2, "iterations": 2, "goto": 2}
FINISHED = ("done", "cached", "failed", "cancelled")


class Ledger:
    """What went wrong and what was done, from the main thread and the API threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.errors: list[tuple[str, str]] = []
        self.counts: collections.Counter = collections.Counter()

    def error(self, source: str, message: str) -> None:
        with self.lock:
            self.errors.append((source, message[:500]))

    def count(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1


# -- processes --------------------------------------------------------------------------------
class SoakServer(Server):
    """``panel serve`` as ``make serve`` runs it; its log kept until it was read."""

    def __init__(self):
        super().__init__("soak", extra=SERVE_FLAGS)
        self.final_log = ""

    def stop(self) -> int | None:
        code = AppServer.stop(self)
        if self.proc is not None:
            self.final_log = self.log()
        return code

    def parts(self) -> dict[str, list[psutil.Process]]:
        """The server's process, its scheduler and its workers (nannies included)."""
        server = psutil.Process(self.proc.pid)
        out = {"server": [server], "scheduler": [], "workers": []}
        for child in server.children(recursive=True):
            try:
                cmd = " ".join(child.cmdline())
            except psutil.NoSuchProcess:
                continue
            out["scheduler" if "distributed.Scheduler" in cmd else "workers"].append(child)
        return out


def rss_mb(server: SoakServer) -> dict[str, float]:
    out = {}
    for part, procs in server.parts().items():
        total = 0
        for proc in procs:
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        out[part] = total / 2**20
    return out


def census(client) -> dict[str, int]:
    """The scheduler's tasks, those a client wants (its futures), and its clients."""

    def count(dask_scheduler):
        tasks = dask_scheduler.tasks
        states: dict[str, int] = {}
        for ts in tasks.values():
            states[ts.state] = states.get(ts.state, 0) + 1
        return {
            "tasks": len(tasks),
            "wanted": sum(1 for ts in tasks.values() if ts.who_wants),
            "clients": len(dask_scheduler.clients),
            "states": states,
        }

    return client.run_on_scheduler(count)


def sampler(server: SoakServer, client, every: float, stop: threading.Event, out: list) -> None:
    """RSS and the scheduler's census every ``every`` seconds, until ``stop``."""
    began = time.monotonic()
    while True:
        row = {"t": time.monotonic() - began, **rss_mb(server)}
        try:
            row.update(census(client))
        except Exception as exc:  # the table shows the gap; the run goes on
            row["census"] = f"{type(exc).__name__}: {exc}"
        out.append(row)
        if stop.wait(every):
            return


# -- HTTP --------------------------------------------------------------------------------------
def request(server: SoakServer, method: str, path: str, body=None):
    """``(status, body)``; an answer as slow as two minutes under load is an answer."""
    status, _, answer = server.request(method, path, body, timeout=120)
    return status, answer


def query(params: dict) -> str:
    return urllib.parse.urlencode(
        {k: json.dumps(v) if isinstance(v, list | tuple) else v for k, v in params.items()}
    )


def random_view(rng: random.Random, sizes=(256, 512, 1024)) -> dict:
    """A view a user might link to: somewhere on the plane, at some zoom and detail."""
    half = 10 ** rng.uniform(-3, 0.2)
    x, y = rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)
    size = rng.choice(sizes)
    return {
        "fractal": rng.choice(("julia", "julia", "julia", "mandelbrot")),
        "c_real": round(rng.uniform(-0.9, 0.4), 5),
        "c_imag": round(rng.uniform(-0.7, 0.7), 5),
        "max_iter": rng.choice((100, 200, 500, 1000, 2000)),
        "width": size,
        "height": size,
        "x_range": [round(x - half, 8), round(x + half, 8)],
        "y_range": [round(y - half, 8), round(y + half, 8)],
    }


def api_client(server: SoakServer, seed: int, stop: threading.Event, ledger: Ledger) -> None:
    """Loop a job through ``/api/jobs`` and a frame through ``/api/frame.png``."""
    rng = random.Random(seed)
    name = f"api client {seed}"

    def answered(what: str, status: int, body: bytes) -> None:
        ledger.count(f"API {what} {status}")
        # The bench's requests are valid: only 429 (this address's jobs in flight at the
        # cap, shared by the API threads) is a refusal to expect; anything else is an error.
        if status >= 400 and status != 429:
            ledger.error(name, f"{what}: {status} {body[:300]!r}")
        if status >= 400:
            stop.wait(1)  # no client retries at full speed

    while not stop.is_set():
        try:
            params = random_view(rng, sizes=(256, 512))
            status, body = request(
                server, "POST", "/api/jobs", {"kind": "frame", "params": params}
            )
            answered("POST /api/jobs", status, body)
            if status in (200, 202):
                job = json.loads(body)["id"]
                deadline = time.monotonic() + 120
                while True:
                    status, body = request(server, "GET", f"/api/jobs/{job}")
                    if status != 200:
                        answered("GET /api/jobs/<id>", status, body)
                        break
                    state = json.loads(body)["state"]
                    if state in FINISHED:
                        ledger.count(f"API job {state}")
                        if state == "failed":
                            ledger.error(name, f"job {job} failed: {body[:300]!r}")
                        break
                    if time.monotonic() > deadline:
                        ledger.error(name, f"job {job} unfinished after 120 s: {body[:300]!r}")
                        break
                    time.sleep(0.1)
                if state in ("done", "cached"):
                    status, body = request(server, "GET", f"/api/jobs/{job}/result")
                    answered("GET result", status, body)
            params = random_view(rng, sizes=(256, 512))
            status, body = request(server, "GET", f"/api/frame.png?{query(params)}&wait=30")
            answered("GET /api/frame.png", status, body)
        except Exception as exc:  # a dropped connection is an error of the run, not its end
            ledger.error(name, f"{type(exc).__name__}: {exc}")
            stop.wait(1)


# -- the browser --------------------------------------------------------------------------------
class Session:
    """One user's tab: watched for errors, changing its view now and then, from an
    ``address`` of its own (see SERVE_FLAGS)."""

    def __init__(
        self, browser, server: SoakServer, ledger: Ledger, rng, name: str, reopens, address: str
    ):
        self.browser, self.server, self.ledger = browser, server, ledger
        self.rng, self.name, self.reopens, self.address = rng, name, reopens, address
        self.tab: Tab | None = None
        self.next_at = 0.0

    def open(self, config: dict) -> None:
        self.tab = Tab(self.browser, self.server)
        self.tab.context.set_default_timeout(90_000)
        self.tab.context.set_extra_http_headers({"X-Forwarded-For": self.address})
        page = self.tab.page
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.ledger.error(f"{self.name} page", str(exc)))
        page.on("response", self._response)
        self.tab.open(config)

    def _console(self, message) -> None:
        if message.type == "error":
            self.ledger.error(f"{self.name} console", f"{message.text} at {message.location}")

    def _response(self, response) -> None:
        if response.status >= 500:
            self.ledger.error(f"{self.name} HTTP", f"{response.status} {response.url}")

    def close(self) -> None:
        if self.tab is not None:
            self.tab.close()
            self.tab = None

    def act(self) -> str:
        """One change of view, picked at random; the next one after a think time."""
        kinds = list(ACTIONS) + (["reopen"] if self.reopens else [])
        weights = list(ACTIONS.values()) + ([1] if self.reopens else [])
        kind = self.rng.choices(kinds, weights)[0]
        getattr(self, f"_{kind}")()
        self.next_at = time.monotonic() + self.rng.uniform(0.5, 3.0)
        return kind

    def _plot_centre(self):
        box = self.tab.page.locator(".fractal-view canvas").first.bounding_box()
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    def _wheel(self) -> None:
        page = self.tab.page
        x, y = self._plot_centre()
        page.mouse.move(x + self.rng.uniform(-100, 100), y + self.rng.uniform(-100, 100))
        # Mostly in, sometimes out: a user explores inwards.
        step = -200 if self.rng.random() < 0.7 else 200
        for _ in range(self.rng.randint(1, 4)):
            page.mouse.wheel(0, step)
            page.wait_for_timeout(40)

    def _pan(self) -> None:
        page = self.tab.page
        x, y = self._plot_centre()
        dx, dy = self.rng.uniform(-150, 150), self.rng.uniform(-150, 150)
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + dx, y + dy, steps=8)
        page.mouse.up()

    def _handle(self):
        """A c slider's handle, or None (then the user zooms): Mandelbrot's view hides them."""
        handle = self.tab.slider(self.rng.choice(("c (real)", "c (imag)")))
        if handle.count() and handle.is_visible():
            return handle
        self._wheel()
        return None

    def _keys(self) -> None:
        if (handle := self._handle()) is None:
            return
        key = self.rng.choice(("ArrowLeft", "ArrowRight"))
        for _ in range(self.rng.randint(1, 3)):
            handle.press(key)

    def _drag(self) -> None:
        if (handle := self._handle()) is None:
            return
        handle = handle.element_handle()
        ms, px = self.rng.randint(300, 900), self.rng.choice((-0.5, 0.5))
        self.tab.page.evaluate(DRAG_JS, [handle, ms, px])

    def _iterations(self) -> None:
        box = self.tab.max_iter_box()
        value = int(box.input_value()) + self.rng.choice((-100, -50, 50, 100, 200))
        box.fill(str(min(max(value, 50), 2000)))
        box.press("Enter")

    def _goto(self) -> None:
        self.tab.open(random_view(self.rng))

    def _reopen(self) -> None:
        self.close()
        self.open(random_view(self.rng))


def light_probe(browser, server: SoakServer, client, ledger: Ledger, n: int) -> dict:
    """A fresh page's light 256x256 view (a view no one asked for before): navigation to
    its first tile drawn and to its full frame; then a light frame through the API."""
    config = {**SMALL, "c_imag": round(SMALL["c_imag"] + n * 1e-4, 6)}
    probe = Session(
        browser, server, ledger, random.Random(n), f"probe {n}", False, f"10.8.1.{n + 1}"
    )
    fig = {"first_px": None, "full": None}
    try:
        probe.open(config)
        probe.tab.settle(0.0, quiet_ms=300, timeout=120)
        fig = figures(probe.tab.timeline(0.0), 0.0)
    except BenchError as exc:
        # A frame that never came is this run's finding, not its end; what the scheduler
        # held then tells where it stuck.
        try:
            held = census(client)
        except Exception as why:
            held = f"the scheduler did not answer: {why}"
        ledger.error(f"probe {n}", f"{str(exc).splitlines()[0]}; the scheduler: {held}")
    finally:
        probe.close()
    params = {**config, "c_imag": round(config["c_imag"] + 5e-5, 7)}
    started = time.perf_counter()
    status, body = request(server, "GET", f"/api/frame.png?{query(params)}&wait=30")
    api_ms = (time.perf_counter() - started) * 1000
    if status != 200:
        ledger.error("probe API", f"GET /api/frame.png: {status} {body[:300]!r}")
    return {"first": fig["first_px"], "full": fig["full"], "api": api_ms}


# -- the report --------------------------------------------------------------------------------
def spread(xs) -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    return f"{statistics.median(xs):.0f} [{min(xs):.0f}-{max(xs):.0f}]"


def ratio(a, b) -> str:
    a, b = [x for x in a if x is not None], [x for x in b if x is not None]
    return f"{statistics.median(b) / statistics.median(a):.2f}x" if a and b else ""


def log_tracebacks(log: str) -> tuple[list[str], list[str]]:
    """The server log's tracebacks: through the app's code, and the others."""
    ours, others = [], []
    for block in log.split("Traceback (most recent call last):")[1:]:
        # The block runs to the exception line, the first one not indented.
        lines = block.strip("\n").splitlines()
        last = next((x for x in lines if x and not x.startswith(" ")), lines[-1] if lines else "")
        (ours if any(p in block for p in OURS) else others).append(last.strip())
    return ours, others


def report(args, idle, loaded, samples, ledger, left, settled_in, server) -> int:
    print()
    print(f"{args.sessions} browser sessions and {args.api_clients} API clients for "
          f"{args.minutes:g} min on the default cluster")  # fmt: skip
    done = ", ".join(f"{k} {v}" for k, v in sorted(ledger.counts.items()) if k.startswith("do "))
    print(f"  page actions: {done.replace('do ', '') or 'none'}")
    api = ", ".join(f"{k[4:]}: {v}" for k, v in sorted(ledger.counts.items()) if k[:4] == "API ")
    print(f"  API answers: {api or 'none'}")

    print()
    print("RSS, MB (every ~15 s)")
    print(f"{'t, s':>8}{'server':>10}{'scheduler':>11}{'workers':>10}{'tasks':>8}{'wanted':>8}")
    for row in samples:
        tasks = "".join(f"{row.get(k, '?'):>8}" for k in ("tasks", "wanted"))
        print(f"{row['t']:>8.0f}{row['server']:>10.0f}{row['scheduler']:>11.0f}"
              f"{row['workers']:>10.0f}{tasks}")  # fmt: skip
    if samples:
        for part in ("server", "scheduler", "workers"):
            peak, last, first = (max(r[part] for r in samples), samples[-1][part],
                                 samples[0][part])  # fmt: skip
            print(f"  {part:10} first {first:.0f}, max {peak:.0f}, last {last:.0f} MB "
                  f"(last/max {last / peak:.2f})")  # fmt: skip
    gaps = [r["census"] for r in samples if "census" in r]
    if gaps:
        print(f"  (the scheduler did not answer {len(gaps)} times: {gaps[-1]})")

    print()
    print("A light 256x256 view, a view of its own each time: ms, median [min-max]")
    print(f"{'':40}{'idle cluster':>20}{'under load':>20}{'ratio':>8}")
    for name, key in (("fresh page: navigation -> first tile", "first"),
                      ("fresh page: navigation -> full frame", "full"),
                      ("API GET /api/frame.png", "api")):  # fmt: skip
        a, b = [p[key] for p in idle], [p[key] for p in loaded]
        print(f"{name:40}{spread(a):>20}{spread(b):>20}{ratio(a, b):>8}")
    print(f"  ({len(idle)} idle probes, {len(loaded)} under load)")

    print()
    ours, others = log_tracebacks(server.final_log)
    for last in ours:
        ledger.error("server log", f"traceback through the app's code: {last}")
    code = server.proc.returncode if server.proc else None
    if code not in (0, -signal.SIGTERM):
        ledger.error("server", f"panel serve exited with {code}")
    if server.leftovers:
        ledger.error("server", "processes outlived panel serve")
    by = collections.Counter(source.split(" ")[-1] if source.startswith(("session", "probe"))
                             else source for source, _ in ledger.errors)  # fmt: skip
    print(f"errors: {len(ledger.errors)} (target 0)"
          + (f": {dict(by)}" if by else ""))  # fmt: skip
    for source, message in ledger.errors[:20]:
        print(f"  {source}: {message}")
    if len(ledger.errors) > 20:
        print(f"  ... and {len(ledger.errors) - 20} more")
    if others:
        kinds = collections.Counter(others)
        print(f"  (not counted: {len(others)} tracebacks in the server's log outside the "
              f"app's code: {dict(kinds.most_common(5))})")  # fmt: skip
    if left is None:
        print("tasks left: unknown (the scheduler did not answer)")
    else:
        print(f"after the end: {left['tasks']} scheduler tasks left, {left['wanted']} wanted by "
              f"a client (futures held), {left['clients']} clients connected (this bench's "
              f"included); target 0 tasks; "
              f"{'zero' if left['tasks'] == 0 else 'still there'} {settled_in:.0f} s after "
              "the last client stopped")  # fmt: skip
    failed = bool(ledger.errors) or left is None or left["tasks"] > 0 or left["wanted"] > 0
    if failed or others:
        print(f"(the server's log is kept in {server.logs})")
    else:
        shutil.rmtree(server.logs, ignore_errors=True)
    return 1 if failed else 0


# -- the run ------------------------------------------------------------------------------------
def soak(args, browser, server, client, ledger: Ledger, samples: list, quit: threading.Event):
    from playwright.sync_api import Error as PlaywrightError

    rng = random.Random(args.seed)
    step("light probes, the cluster idle")
    light_probe(browser, server, client, ledger, 0)  # the first page pays for what is cached after
    idle = [light_probe(browser, server, client, ledger, n) for n in range(1, 4)]

    stop = threading.Event()
    threads = [threading.Thread(target=sampler, args=(server, client, args.every, stop, samples),
                                daemon=True)]  # fmt: skip
    threads += [
        threading.Thread(target=api_client, args=(server, args.seed + 1 + n, stop, ledger),
                         daemon=True)
        for n in range(args.api_clients)
    ]  # fmt: skip
    sessions = [
        Session(browser, server, ledger, random.Random(args.seed * 100 + n), f"session {n}",
                reopens=n % 3 == 1, address=f"10.8.0.{n + 1}")
        for n in range(args.sessions)
    ]  # fmt: skip
    loaded = []
    try:
        for thread in threads:
            thread.start()
        step(f"{args.sessions} sessions opening")
        for session in sessions:
            if not quit.is_set():
                session.open(random_view(rng))
        began = time.monotonic()
        end = began + args.minutes * 60
        probes = max(2, round(args.minutes * 60 / 45))
        probe_at = [began + (k + 0.5) * (end - began) / probes for k in range(probes)]
        step(f"the soak: {args.minutes:g} min, {probes} light probes")
        while (now := time.monotonic()) < end and not quit.is_set():
            if probe_at and now >= probe_at[0]:
                probe_at.pop(0)
                loaded.append(light_probe(browser, server, client, ledger, 10 + len(loaded)))
                continue
            session = min(sessions, key=lambda s: s.next_at)
            wait = min(session.next_at, end) - now
            if wait > 0:
                # Waiting in the page lets Playwright deliver its events meanwhile.
                session.tab.page.wait_for_timeout(wait * 1000)
                continue
            try:
                ledger.count(f"do {session.act()}")
            except PlaywrightError as exc:
                # A page that did not answer within 90 s, or crashed: an error of the app,
                # and the user opens a new tab.
                ledger.error(f"{session.name} driver", str(exc).splitlines()[0])
                session.close()
                session.open(random_view(rng))
                session.next_at = time.monotonic() + 1
    finally:
        step("stopping the clients")
        stop.set()
        for session in sessions:
            session.close()
        for thread in threads:
            thread.join(timeout=150)
    return idle, loaded


def settle(client, timeout: float) -> tuple[dict | None, float]:
    """The scheduler's census once no task is left, or after ``timeout`` seconds."""
    began = time.monotonic()
    left = None
    while True:
        try:
            left = census(client)
        except Exception as exc:
            print(f"the scheduler did not answer: {exc}", file=sys.stderr)
        elapsed = time.monotonic() - began
        if (left and left["tasks"] == 0 and left["wanted"] == 0) or elapsed > timeout:
            return left, elapsed
        time.sleep(1)


def step(what: str) -> None:
    print(f"... {what}", file=sys.stderr, flush=True)


def positive(kind):
    def parse(text: str):
        value = kind(text)
        if not value > 0 or not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
        return value

    return parse


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=positive(float), default=5.0, help="default 5")
    parser.add_argument("--sessions", type=positive(int), default=8, help="default 8")
    parser.add_argument("--api-clients", type=int, default=2, help="default 2 (0: none)")
    parser.add_argument("--every", type=positive(float), default=15.0,
                        help="seconds between RSS samples (default 15)")  # fmt: skip
    parser.add_argument("--settle", type=positive(float), default=60.0,
                        help="seconds for the tasks to go after the end (default 60)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.api_clients < 0:
        parser.error("--api-clients must be 0 or more")

    from distributed import Client
    from playwright.sync_api import sync_playwright

    quit = threading.Event()

    def interrupted(signum, frame):
        # A signal raised inside Playwright's calls leaves its connection hanging, and the
        # browser and the server with it: the first Ctrl-C (or SIGTERM) ends the soak at
        # the next action, then all is closed and reported as after a full run.
        if quit.is_set():
            raise KeyboardInterrupt
        print("... interrupted: ending the soak (again to abandon it)", file=sys.stderr)
        quit.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupted)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    began = time.monotonic()
    ledger, samples = Ledger(), []
    server = SoakServer()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            step("starting panel serve")
            server.start()
            address = server.scheduler_address()
            if address is None:
                raise BenchError("no scheduler subprocess found under panel serve")
            with Client(address, set_as_default=False) as client:
                idle, loaded = soak(args, browser, server, client, ledger, samples, quit)
                step(f"waiting up to {args.settle:.0f} s for the scheduler's tasks to go")
                left, settled_in = settle(client, 5 if quit.is_set() else args.settle)
                samples.append({"t": samples[-1]["t"] + settled_in if samples else 0.0,
                                **rss_mb(server), **(left or {})})  # fmt: skip
        finally:
            # The server first: a second Ctrl-C may leave the browser's close hanging.
            server.stop()
            browser.close()
    code = report(args, idle, loaded, samples, ledger, left, settled_in, server)
    print(f"(the run took {time.monotonic() - began:.0f} s"
          f"{'; interrupted, the soak ended early' if quit.is_set() else ''})")  # fmt: skip
    return 130 if quit.is_set() else code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        sys.exit(f"soak bench failed: {exc}")
    except KeyboardInterrupt:
        sys.exit("soak bench interrupted")
