"""The interaction loop in a real browser, against in-process render() of the same frames.

Run: ``.venv/bin/python bench/latency.py`` (``--quick``: fewer changes). Starts
``panel serve app.py`` as ``make serve`` does (``--warm``: the cluster and the kernels
start with the server; the embedded cluster's scheduler runs in a subprocess), drives
Debian's chromium headless through Playwright, and measures on the page's own clock
(``performance.now()``), in one run:

* **cold start**: server start to live; navigation to the first new pixels and to the
  full first frame;
* **a light frame** (the default 1024x1024 Julia view, max_iter typed +10 and Enter):
  change to first new pixels, change to full frame, the engine's job time, and the last
  tile computed (the worker's own clock, epoch seconds) to on screen;
* **a heavy frame** (4000 iterations, every pixel inside: over a second of ``render()``),
  the same;
* **first new pixels while a heavy frame computes** (a key press on a slider);
* **a scripted 2 s mouse drag** of the c (real) slider (mouse moves at 60 Hz from the
  page itself): previews drawn per second;
* **CPU seconds per frame** of the browser (every chromium process), the server, the
  scheduler and the workers, with the pixel probe off and the Dask dashboard pages
  blocked (their own cost is measured apart), for 1024x1024 and 256x256 frames.

"Pixels" are the page's repaints of the plot (its images drawn into the plot's canvas,
timed by wrapping the canvas's ``drawImage``: nothing is polled); a frame is full once
neither the plot nor the websocket changed for a while.
The baseline is ``compute.fractal.render(config)`` of the same configs in this process (median
of 3, kernels compiled first).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import psutil

# One panel-serve harness and one browser set-up, shared with the browser tests.
from components.testing import AppServer, open_dashboard, panel_cdn_from_package

CHROMIUM = "/usr/bin/chromium"
LIGHT = {
    "fractal": "julia",
    "c_real": -0.8,
    "c_imag": 0.156,
    "max_iter": 500,
    "width": 1024,
    "height": 1024,
    "x_range": [-1.6, 1.6],
    "y_range": [-1.6, 1.6],
}
# The cauliflower (c = 1/4): 72% of this view is inside the set, each of those pixels
# costs max_iter iterations, and its boundary still changes with every change.
HEAVY = {**LIGHT, "c_real": 0.25, "c_imag": 0.0, "max_iter": 4000,
         "x_range": [-1.0, 1.0], "y_range": [-1.0, 1.0]}  # fmt: skip
SMALL = {**LIGHT, "width": 256, "height": 256}
IMAGE_BUFFER = 256  # binary frames at least this big carry image data (blanks are tiny)
PREVIEW_BYTES = 128 * 128

# Installed in the page before its scripts run (top frame only: the Dask dashboard's
# iframes are left alone). Timestamps are performance.now(): ms since navigation start.
PROBE_JS = r"""
(() => {
  if (window.top !== window) return;
  const P = (window.__lat = {ws: [], px: [], states: [], engine: [], keys: [],
                             probing: true});
  const Native = window.WebSocket;
  // The status bar's state, an entry of its value: ...["state","done"]...
  const STATE = /\["state","(\w+)"\]/g;
  class Probe extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      if (new URL(String(url), location.href).host !== location.host) return;
      this.addEventListener('message', (ev) => {
        const t = performance.now(), d = ev.data;
        if (typeof d === 'string') {
          P.ws.push([t, 0, d.length]);
          for (const s of d.matchAll(STATE)) P.states.push([t, s[1]]);
          const e = d.match(/done in (\d+) ms/);
          if (e) P.engine.push([t, +e[1]]);
        } else {
          P.ws.push([t, 1, d.byteLength ?? d.size]);
        }
      });
    }
  }
  window.WebSocket = Probe;
  window.addEventListener('keydown', () => { P.keys.push(performance.now()); }, true);

  // "Pixels": every drawing of an image into one of Bokeh's canvas layers, timed by
  // wrapping drawImage. A repaint is when new pixels appear (the compositor shows them at
  // the next animation frame); nothing is polled, so measuring costs the page nothing.
  const draw = CanvasRenderingContext2D.prototype.drawImage;
  let painted = -1;
  CanvasRenderingContext2D.prototype.drawImage = function (...args) {
    const c = this.canvas;
    if (P.probing && c && c.classList && c.classList.contains('bk-layer') && c.width >= 300) {
      const t = performance.now();
      // One entry per repaint: the layers of one paint are drawn in the same task.
      if (t - painted > 1) { P.px.push([t, P.px.length]); }
      painted = t;
    }
    return draw.apply(this, args);
  };
  P.probe = (on) => { P.probing = on; };
})();
"""

STATUS_JS = """([since, minImage]) => {
  const P = window.__lat;
  const after = (xs) => xs.filter((x) => x[0] > since);
  const ws = after(P.ws), px = after(P.px);
  return {
    now: performance.now(),
    lastWs: ws.length ? ws[ws.length - 1][0] : since,
    lastPx: px.length ? px[px.length - 1][0] : since,
    pxChanges: px.length,
    images: ws.filter((m) => m[1] === 1 && m[2] >= minImage).length,
    states: after(P.states).map((s) => s[1]),
  };
}"""

# The settle loop runs in the page: polling it over the DevTools protocol every few
# milliseconds cost the browser as much CPU as a part of what is measured.
SETTLE_JS = """async ([since, minImage, quietMs, timeoutMs]) => {
  const P = window.__lat;
  const start = performance.now();
  const last = (xs) => { const x = xs[xs.length - 1]; return x && x[0] > since ? x[0] : since; };
  const badge = () => document.querySelector(".job-state")?.getAttribute("data-state");
  for (;;) {
    const now = performance.now();
    const states = P.states.filter((x) => x[0] > since).map((x) => x[1]);
    if (states.includes("failed")) return {failed: true};
    const images = P.ws.filter((m) => m[0] > since && m[1] === 1 && m[2] >= minImage).length;
    const quiet = now - Math.max(last(P.ws), last(P.px));
    const done = states.some((x) => x === "done" || x === "cached");
    // A badge that says what it said before sends nothing (two cached frames in a row):
    // then the badge itself is read.
    if (images >= 1 && quiet >= quietMs && (done || ["done", "cached"].includes(badge()))) {
      return {now, images, states};
    }
    if (now - start > timeoutMs) return {timedOut: true, images, states, quiet};
    await new Promise((r) => setTimeout(r, 50));
  }
}"""

TIMELINE_JS = """(since) => {
  const P = window.__lat;
  const after = (xs) => xs.filter((x) => x[0] > since);
  return {ws: after(P.ws), px: after(P.px), states: after(P.states), engine: after(P.engine),
          keys: P.keys.filter((t) => t > since), origin: performance.timeOrigin};
}"""

# A slider drag from the page itself: a mouse move every 16 ms for ``ms`` milliseconds,
# the handle moving ``px`` pixels per move.
DRAG_JS = """async ([handle, ms, px]) => {
  const box = handle.getBoundingClientRect();
  const x0 = box.left + box.width / 2, y = box.top + box.height / 2;
  const at = (x) => ({clientX: x, clientY: y, bubbles: true, composed: true, buttons: 1});
  // noUiSlider listens for mouse events (it takes pointer events for IE's only): the
  // press on the handle, the moves and the release on the document's element.
  const root = document.documentElement;
  handle.dispatchEvent(new MouseEvent("mousedown", at(x0)));
  const start = performance.now();
  let x = x0;
  while (performance.now() - start < ms) {
    await new Promise((r) => setTimeout(r, 16));
    x += px;
    root.dispatchEvent(new MouseEvent("mousemove", at(x)));
  }
  root.dispatchEvent(new MouseEvent("mouseup", {...at(x), buttons: 0}));
  return [start, performance.now()];
}"""


class BenchError(RuntimeError):
    pass


# -- processes ------------------------------------------------------------------------------------
class Server(AppServer):
    """The tests' ``panel serve app.py`` (:class:`components.testing.AppServer`), started
    as ``make serve``."""

    def __init__(
        self,
        label: str,
        extra: tuple[str, ...] = ("--warm",),
        script: str = "app.py",
        env: dict | None = None,
    ):
        logs = Path(tempfile.mkdtemp(prefix=f"latency-{label}-"))
        # The tests' server discards a session unused for half a second; `make serve` keeps
        # Bokeh's defaults, and a page that takes longer than that to load must not get a
        # second session (the first one's work cancelled) in a measurement.
        bokeh = ("--check-unused-sessions", "15000", "--unused-session-lifetime", "15000")
        super().__init__(logs, env=env, name=label, args=(*bokeh, *extra), script=script)
        self.label = label

    def stop(self) -> int | None:
        code = super().stop()
        if code not in (0, -signal.SIGTERM) or self.leftovers:
            print(f"[{self.label}] panel serve exited with {code}; log in {self.logs}")
        else:
            shutil.rmtree(self.logs, ignore_errors=True)  # kept only when something went wrong
        return code

    def last_error(self) -> str:
        text = self.log()
        at = text.rfind("Traceback")
        return text[at:].strip()[-2500:] if at >= 0 else "\n".join(text.splitlines()[-25:])

    def scheduler_address(self) -> str | None:
        """The embedded cluster's scheduler: a ``dask spec`` child, whose spec names the
        file where it wrote its address (None: the scheduler runs in the server)."""
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            cmd = child.cmdline()
            if "--spec" in cmd and "distributed.Scheduler" in " ".join(cmd):
                spec = json.loads(cmd[cmd.index("--spec") + 1])
                return json.loads(Path(spec["opts"]["scheduler_file"]).read_text())["address"]
        return None


def cpu_seconds(server: Server) -> dict[str, float]:
    """CPU seconds so far of the server, its scheduler, its workers and every chromium."""
    out = {"server": 0.0, "scheduler": 0.0, "workers": 0.0, "browser": 0.0}
    try:
        procs = [(psutil.Process(server.proc.pid), "server")]
        procs += [(p, None) for p in procs[0][0].children(recursive=True)]
    except psutil.NoSuchProcess:
        procs = []
    procs += [(p, "browser") for p in psutil.process_iter() if "chrom" in p.name()]
    for proc, kind in procs:
        try:
            if kind is None:
                cmd = " ".join(proc.cmdline())
                kind = "scheduler" if "distributed.Scheduler" in cmd else "workers"
            t = proc.cpu_times()
            out[kind] += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return out


def minus(after: dict, before: dict) -> dict:
    return {k: after[k] - before.get(k, 0.0) for k in after}


# -- the browser --------------------------------------------------------------------------------
def query(config: dict) -> str:
    return urllib.parse.urlencode(
        {k: json.dumps(v, separators=(",", ":")) if isinstance(v, list) else v
         for k, v in config.items()}
    )  # fmt: skip


def url_config(url: str) -> dict:
    values = {}
    for key, value in urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
        values[key] = tuple(value) if isinstance(value, list) else value
    return values


class Tab:
    """One tab on the server: the probe, the websocket capture and the settle loop."""

    def __init__(self, browser, server: Server, dashboard: bool = True):
        self.server = server
        self.context = browser.new_context(viewport={"width": 1500, "height": 1100})
        panel_cdn_from_package(self.context)
        if not dashboard:  # the scheduler's pages: measured apart
            self.context.route("**/individual-*", lambda route: route.abort())
        self.page = self.context.new_page()
        self.page.add_init_script(PROBE_JS)
        self.frames: list[tuple[bool, int]] = []
        self.page.on("websocket", self._on_websocket)

    def _on_websocket(self, ws) -> None:
        if urllib.parse.urlsplit(ws.url).path.endswith("/ws"):
            ws.on("framereceived", lambda p: self.frames.append((not isinstance(p, str), len(p))))

    def link(self, config: dict) -> str:
        return f"{self.server.url}?{query(config)}"

    def open(self, config: dict) -> None:
        self.page.goto(self.link(config), timeout=120_000)

    def now(self) -> float:
        return self.page.evaluate("performance.now()")

    def probe(self, on: bool) -> None:
        self.page.evaluate(f"window.__lat.probe({'true' if on else 'false'})")

    def settle(self, since: float, *, quiet_ms: float = 500, timeout: float = 120) -> dict:
        """Until the badge says done (or cached), an image arrived, and neither canvas
        nor websocket changed for ``quiet_ms``."""
        s = self.page.evaluate(SETTLE_JS, [since, IMAGE_BUFFER, quiet_ms, timeout * 1000])
        if s.get("failed"):
            raise BenchError(f"the job failed:\n{self.server.last_error()}")
        if s.get("timedOut"):
            raise BenchError(f"no full frame after {timeout:.0f} s: {s}\n"
                             f"{self.server.last_error()}")  # fmt: skip
        return s

    def badge(self) -> str | None:
        return self.page.locator(".job-state").first.get_attribute("data-state")

    def timeline(self, since: float) -> dict:
        self.page.wait_for_timeout(50)  # let Playwright deliver the last frame events
        return self.page.evaluate(TIMELINE_JS, since)

    def max_iter_box(self):
        return self.page.locator(".bk-Row", has_text="Max iterations").last.locator("input")

    def slider(self, label: str):
        col = self.page.locator(".bk-panel-models-layout-Column", has_text=label).last
        return col.locator(".noUi-handle")

    def type_max_iter(self, delta: int = 10, value: int | None = None) -> None:
        box = self.max_iter_box()
        box.fill(str(value if value is not None else int(box.input_value()) + delta))
        box.press("Enter")

    def close(self) -> None:
        self.context.close()


def figures(t: dict, start: float) -> dict:
    """Times (ms from ``start``, the change) of one frame, from the probe's timeline."""
    images = [m[0] for m in t["ws"] if m[1] == 1 and m[2] >= IMAGE_BUFFER]
    px = [p[0] for p in t["px"]]
    first_px = next((p for p in px if images and p >= images[0]), None)
    done = next((s[0] for s in t["states"] if s[1] in ("done", "cached")), None)
    return {
        "first_px": None if first_px is None else first_px - start,
        "full": (px[-1] - start) if px else None,
        "full_epoch": (t["origin"] + px[-1]) / 1000 if px else None,
        "done": None if done is None else done - start,
        "engine": t["engine"][-1][1] if t["engine"] else None,
    }


# -- the measurements ---------------------------------------------------------------------------
def tile_end(client, key: str) -> float | None:
    """When the last tile of frame ``key`` finished on a worker (epoch seconds)."""
    from compute.engine.diagnostics import task_spans

    ends = [end for k, _, end in client.sync(task_spans, client) if f"-{key}'" in k]
    return max(ends) if ends else None


def changes(tab: Tab, client, n: int, config_of) -> list[dict]:
    """``n`` changes (max_iter +10): the figures of each, and the frame's key."""
    from compute.engine.diagnostics import ExecutionCounter
    from compute.fractal import FractalConfig

    out = []
    for _ in range(n):
        if client is not None:
            client.register_plugin(ExecutionCounter())
        since = tab.now()
        tab.type_max_iter()
        tab.settle(since)
        t = tab.timeline(since)
        if not t["keys"]:
            raise BenchError("the key press was not seen by the page")
        fig = figures(t, t["keys"][0])
        config = FractalConfig(**{**config_of, **url_config(tab.page.url)})
        fig["config"] = config
        end = None if client is None else tile_end(client, config.key)
        fig["tile_to_screen"] = (
            None if end is None or fig["full_epoch"] is None else (fig["full_epoch"] - end) * 1000
        )
        out.append(fig)
    return out


def cold_start(browser) -> dict:
    server = Server("cold")
    began = time.monotonic()
    try:
        server.start()
        live = time.monotonic() - began
        tab = Tab(browser, server)
        try:
            tab.open(LIGHT)
            tab.settle(0.0, quiet_ms=700, timeout=180)
            fig = figures(tab.timeline(0.0), 0.0)
        finally:
            tab.close()
    finally:
        server.stop()
    return {"live": live * 1000, **fig}


def drag(tab: Tab, ms: int = 2000) -> dict:
    tab.open(LIGHT)
    tab.settle(0.0)
    handle = tab.slider("c (real)")
    since = tab.now()
    start, end = tab.page.evaluate(DRAG_JS, [handle.element_handle(), ms, 0.5])
    tab.page.wait_for_timeout(100)
    t = tab.timeline(since)
    shown = [p for p in t["px"] if start <= p[0] <= end]
    previews = [m for m in t["ws"] if m[1] == 1 and m[2] == PREVIEW_BYTES and m[0] <= end]
    return {
        "seconds": (end - start) / 1000,
        "shown_per_s": len(shown) / ((end - start) / 1000),
        "previews_per_s": len(previews) / ((end - start) / 1000),
    }


def pixels_while_heavy(busy: Tab, tab: Tab) -> list[float]:
    """A key press on c (real) in one tab while another tab's heavy frame computes: ms to
    its first new pixels."""
    out = []
    for _ in range(3):
        since = busy.now()
        busy.type_max_iter()  # a new heavy frame: the cluster is busy with its tiles
        start = time.monotonic()
        while "running" not in busy.page.evaluate(STATUS_JS, [since, IMAGE_BUFFER])["states"]:
            if time.monotonic() - start > 60:
                raise BenchError("the heavy frame never ran")
            busy.page.wait_for_timeout(25)
        busy.page.wait_for_timeout(300)  # well into its tiles
        mark = tab.now()
        tab.slider("c (real)").press("ArrowRight")
        while True:
            t = tab.timeline(mark)
            fig = figures(t, t["keys"][0]) if t["keys"] else {"first_px": None}
            if fig["first_px"] is not None:
                out.append(fig["first_px"])
                break
            if time.monotonic() - start > 120:
                raise BenchError("no new pixels after the key press")
        tab.settle(mark)
        busy.settle(since, timeout=180)
    return out


def cpu_per_frame(browser, server: Server, config: dict, n: int) -> dict:
    """CPU seconds per frame, the dashboard's pages blocked."""
    tab = Tab(browser, server, dashboard=False)
    try:
        tab.open(config)
        tab.settle(0.0)
        tab.probe(False)
        tab.page.wait_for_timeout(1500)
        idle0, t0 = cpu_seconds(server), time.monotonic()
        tab.page.wait_for_timeout(3000)
        idle = {
            k: v / (time.monotonic() - t0) for k, v in minus(cpu_seconds(server), idle0).items()
        }
        before, t0 = cpu_seconds(server), time.monotonic()
        for _ in range(n):
            since = tab.now()
            tab.type_max_iter()
            tab.settle(since, quiet_ms=400)
        spent, wall = minus(cpu_seconds(server), before), time.monotonic() - t0
    finally:
        tab.close()
    # What a process does when nothing happens (heartbeats) is taken out, per second.
    return {k: (spent[k] - idle[k] * wall) / n for k in spent} | {"idle": idle, "wall": wall / n}


def dashboard_cost(browser, server: Server) -> dict:
    """CPU seconds per second while heavy frames compute, with the card of the three
    dashboard pages open (as a user may open it), against closed (the app's default)."""
    out = {}
    for shown in (False, True):
        tab = Tab(browser, server)
        try:
            # A view of its own (c = 0.24, as heavy): none of its frames is in a cache.
            tab.open({**HEAVY, "c_real": 0.24, "max_iter": 20})
            tab.settle(0.0)
            if shown:
                open_dashboard(tab.page)
                tab.page.wait_for_timeout(3000)  # the pages load
            tab.probe(False)
            before, t0 = cpu_seconds(server), time.monotonic()
            for n in range(2):  # heavy frames: the task stream page draws every tile
                since = tab.now()
                tab.type_max_iter(value=HEAVY["max_iter"] + 10 * (n + 1 + 2 * shown))
                tab.settle(since, timeout=180)
            spent = minus(cpu_seconds(server), before)
            out[shown] = {k: v / (time.monotonic() - t0) for k, v in spent.items()}
        finally:
            tab.close()
    return out


def render_ms(configs, repeats: int = 3) -> dict[str, float]:
    from compute.fractal import render
    from compute.fractal.kernels import warm_up

    warm_up()
    out = {}
    for config in configs:
        if config.key not in out:
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                render(config)
                times.append((time.perf_counter() - start) * 1000)
            out[config.key] = statistics.median(times)
    return out


# -- the report ---------------------------------------------------------------------------------
def spread(xs, fmt="{:.0f}") -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    return f"{fmt.format(statistics.median(xs))} [{fmt.format(min(xs))}-{fmt.format(max(xs))}]"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def step(what: str) -> None:
    print(f"... {what}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer changes")
    args = parser.parse_args()
    n_light, n_heavy = (3, 2) if args.quick else (6, 3)

    from distributed import Client
    from playwright.sync_api import sync_playwright

    load = os.getloadavg()
    began = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            print(f"{os.cpu_count()} CPUs, load average {load[0]:.1f}; chromium {browser.version}")
            step("cold start")
            cold = cold_start(browser)
            server = Server("app")
            server.start()
            try:
                with Client(server.scheduler_address(), set_as_default=False) as client:
                    tab = Tab(browser, server)
                    try:
                        step("light frames")
                        tab.open(LIGHT)
                        tab.settle(0.0)
                        tab.type_max_iter()  # a warm-up change
                        tab.settle(0.0)
                        light = changes(tab, client, n_light, LIGHT)
                        step("a drag")
                        dragged = drag(tab)
                        busy = Tab(browser, server)
                        try:
                            step("heavy frames")
                            busy.open(HEAVY)
                            busy.settle(0.0, timeout=180)
                            heavy = changes(busy, client, n_heavy, HEAVY)
                            step("pixels while a heavy frame computes")
                            while_heavy = pixels_while_heavy(busy, tab)
                        finally:
                            busy.close()
                    finally:
                        tab.close()
                    step("CPU per frame")
                    # Views not computed before: each change a new frame, none from a cache.
                    fresh = {"c_imag": 0.157}
                    cpu_light = cpu_per_frame(browser, server, {**LIGHT, **fresh}, n_light)
                    cpu_small = cpu_per_frame(browser, server, {**SMALL, **fresh}, n_light)
                    step("the dashboard's cost")
                    dash = dashboard_cost(browser, server)
            finally:
                server.stop()
            step("light frames, the scheduler in the server's process")
            inside = Server("thread", env={"FRACTAL_SCHEDULER": "thread"})
            inside.start()
            try:
                tab = Tab(browser, inside)
                try:
                    tab.open(LIGHT)
                    tab.settle(0.0)
                    tab.type_max_iter()
                    tab.settle(0.0)
                    in_server = changes(tab, None, n_light, LIGHT)
                finally:
                    tab.close()
            finally:
                inside.stop()
        finally:
            browser.close()

    renders = render_ms([f["config"] for f in light + heavy])

    def ratio(figs, key):
        return [f[key] / renders[f["config"].key] if f[key] is not None else None for f in figs]

    print()
    print("ms; median [min-max]; 'change' is the key press (Enter) in the page")
    print(f"{'':46}{'light 1024x1024':>24}{'heavy 1024x1024':>24}  target")
    rows = [
        ("change -> first new pixels", "first_px", "{:.0f}", "<= 150 light"),
        ("change -> full frame", "full", "{:.0f}", "<= 400 light"),
        ("engine job (badge 'done in')", "engine", "{:.0f}", ""),
        ("last tile computed -> on screen", "tile_to_screen", "{:.0f}", "<= 150"),
    ]
    for name, key, fmt, target in rows:
        print(f"{name:46}{spread([f[key] for f in light], fmt):>24}"
              f"{spread([f[key] for f in heavy], fmt):>24}  {target}")  # fmt: skip
    print(f"{'render(config) in-process':46}"
          f"{spread([renders[f['config'].key] for f in light]):>24}"
          f"{spread([renders[f['config'].key] for f in heavy]):>24}")  # fmt: skip
    print(f"{'full frame / render()':46}{spread(ratio(light, 'full'), '{:.1f}x'):>24}"
          f"{spread(ratio(heavy, 'full'), '{:.2f}x'):>24}  <= 1.3x heavy")  # fmt: skip
    print(f"{'first new pixels while a heavy frame computes':46}{'':>24}"
          f"{spread(while_heavy):>24}  <= 300")  # fmt: skip
    print()
    print(
        "the same light changes with the scheduler in the server's process (a LocalCluster): "
        f"engine job {spread([f['engine'] for f in in_server])} ms, full frame "
        f"{spread([f['full'] for f in in_server])} ms (its own process: "
        f"{spread([f['engine'] for f in light])} and {spread([f['full'] for f in light])})"
    )
    print(
        f"2 s drag of c (real) (mouse moves at 60 Hz): {dragged['shown_per_s']:.1f} new "
        f"images drawn a second, {dragged['previews_per_s']:.1f} previews received a "
        "second (target >= 10)"
    )
    print(
        f"cold start ('make serve', then open the page): server live after "
        f"{cold['live'] / 1000:.1f} s; first pixels {cold['first_px']:.0f} ms and full first "
        f"frame {cold['full']:.0f} ms after navigation (target <= 3000)"
    )
    print()
    print("CPU seconds per frame (dashboard pages blocked, idle use taken out):")
    for label, cpu in (("1024x1024", cpu_light), ("256x256", cpu_small)):
        print(
            f"  {label:10} browser {cpu['browser']:.2f} (target <= 0.3 at 1024x1024), "
            f"server {cpu['server']:.2f}, scheduler {cpu['scheduler']:.2f}, "
            f"workers {cpu['workers']:.2f}; a frame every {cpu['wall']:.2f} s"
        )
    idle = cpu_light["idle"]
    print(
        f"  idle, per second: server {idle['server']:.3f}, scheduler {idle['scheduler']:.3f}, "
        f"workers {idle['workers']:.3f}, browser {idle['browser']:.3f}"
    )
    print(
        "CPU seconds a second while heavy frames compute, with the dashboard card open "
        f"(its three pages) / closed (the default): browser {dash[True]['browser']:.2f} / "
        f"{dash[False]['browser']:.2f}, scheduler {dash[True]['scheduler']:.2f} / "
        f"{dash[False]['scheduler']:.2f}, workers {dash[True]['workers']:.2f} / "
        f"{dash[False]['workers']:.2f}"
    )
    print(
        f"(load average {os.getloadavg()[0]:.1f} at the end; the run took "
        f"{time.monotonic() - began:.0f} s)"
    )


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        sys.exit(f"latency bench failed: {exc}")
