"""Latency and bytes in a real browser: widget change -> pixels, against in-process render().

Run: ``.venv/bin/python bench/latency.py`` (``--quick``: 2 changes, no second server).
Starts ``panel serve app.py`` (a fresh server: nothing is cached), drives Debian's chromium
headless through Playwright and changes a widget: by default it types max_iter + 10 into
the "Max iterations" text box and presses Enter (``--widget c_real``: ArrowRight on the
"c (real)" slider handle), a new 1024x1024 Julia frame each time. For each change it
records, on the page's own clock (``performance.now()``):

* the change: the keydown of Enter (or ArrowRight);
* the job's submission: when the badge's ``queued``/``running`` update arrived. The app
  debounces changes by 250 ms, so "submitted -> ..." figures exclude the debounce (they
  still include the server->browser delivery of that update);
* the first new pixels and the full frame: the first and the last change of a checksum of
  the Bokeh plot's canvas, sampled on every animation frame; the frame counts as complete
  once the badge says done, all image buffers (the preview and every tile) arrived, and
  neither canvas nor websocket changed for 500 ms;
* the bytes the server sent on the app's websocket from the change to the full frame:
  Playwright's ``framereceived`` payloads (CDP reports them decompressed), the TCP payload
  bytes the kernel counted on the server's sockets (``ss``: what went over the wire,
  compressed or not), and a zlib estimate of permessage-deflate on the payloads.

The baseline is ``compute.render(config)`` of the same configs in this process (median of
3, kernels compiled first). The first frame of the session (cluster start and numba
warm-up included) is reported separately; one warm-up change follows it. A second server
with ``--websocket-compression-level`` measures the same, and on each server a colormap
change checks that recolouring sends little and runs no job.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The checkout first: tests/compute/ would otherwise shadow the compute package.
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "ui")]
# One panel-serve harness and one browser set-up, shared with the browser tests.
from pages import panel_cdn_from_package  # noqa: E402
from support import AppServer  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
START = {
    "fractal": "julia",
    "c_real": -0.8,
    "c_imag": 0.156,
    "max_iter": 500,
    "width": 1024,
    "height": 1024,
    "x_range": [-1.6, 1.6],
    "y_range": [-1.6, 1.6],
}
WIDGETS = {
    "max_iter": "'Max iterations' text box +10, Enter",
    "c_real": "'c (real)' slider handle, ArrowRight (+0.001)",
}
IMAGE_BUFFER = 256  # binary frames at least this big carry image data (blanks are 1 byte)

# Installed in the page before its scripts run (top frame only: the Dask dashboard's
# iframes are left alone). Timestamps are performance.now(): ms since navigation start.
PROBE_JS = r"""
(() => {
  if (window.top !== window) return;
  const P = (window.__lat = {ws: [], px: [], states: [], engine: [], keys: [], inputs: [],
                             polls: 0, pollMs: 0, last: null, canvas: null, searched: -1e9});
  const Native = window.WebSocket;
  const STATE = /job-state(?:&quot;|\\?")\s+data-state=(?:&quot;|\\?")(\w+)/;
  class Probe extends Native {
    constructor(url, protocols) {
      super(url, protocols);
      if (new URL(String(url), location.href).host !== location.host) return;
      this.addEventListener('message', (ev) => {
        const t = performance.now(), d = ev.data;
        if (typeof d === 'string') {
          P.ws.push([t, 0, d.length]);
          const s = d.match(STATE);
          if (s) P.states.push([t, s[1]]);
          const e = d.match(/done in (\d+) ms/);
          if (e) P.engine.push([t, +e[1]]);
        } else {
          P.ws.push([t, 1, d.byteLength ?? d.size]);
        }
      });
    }
  }
  window.WebSocket = Probe;
  window.addEventListener('keydown', (ev) => { P.keys.push(performance.now()); }, true);
  window.addEventListener('input', (ev) => { P.inputs.push(performance.now()); }, true);

  function findCanvas(root) {
    // Bokeh draws the plot on the first of its canvas layers (the second holds tool
    // overlays); the layers live in open shadow roots.
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'CANVAS' && el.classList.contains('bk-layer') && el.width >= 300)
        return el;
      if (el.shadowRoot) { const c = findCanvas(el.shadowRoot); if (c) return c; }
    }
    return null;
  }
  // A nearest-neighbour sample on a 240x240 grid (every third device pixel of the plot)
  // read back from a CPU-side canvas: about 0.1-0.5 ms, where a full getImageData of the
  // GPU-backed plot canvas costs about 10 ms. A 256x256 tile spans ~160 screen pixels,
  // ~2,800 samples: any tile that lands changes the checksum.
  const N = 240;
  let small = null, sctx = null;
  function checksum(c) {
    if (!small) {
      small = document.createElement('canvas');
      small.width = N; small.height = N;
      sctx = small.getContext('2d', {willReadFrequently: true});
    }
    sctx.imageSmoothingEnabled = false;
    sctx.clearRect(0, 0, N, N);
    sctx.drawImage(c, 0, 0, c.width, c.height, 0, 0, N, N);
    const u = new Uint32Array(sctx.getImageData(0, 0, N, N).data.buffer);
    let h = 0x811c9dc5;
    for (let i = 0; i < u.length; i++) h = Math.imul(h ^ u[i], 16777619);
    return (h >>> 0) ^ (c.width << 16) ^ c.height;
  }
  function tick() {
    const t = performance.now();
    if ((!P.canvas || !P.canvas.isConnected) && t - P.searched > 100) {
      P.searched = t;
      P.canvas = findCanvas(document);
    }
    if (P.canvas && P.canvas.width > 0) {
      const h = checksum(P.canvas);
      P.polls++;
      P.pollMs += performance.now() - t;
      if (h !== P.last) { P.px.push([t, h]); P.last = h; }
    }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
})();
"""

# What the settle loop needs, counted from `since` (page ms).
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

TIMELINE_JS = """(since) => {
  const P = window.__lat;
  const after = (xs) => xs.filter((x) => x[0] > since);
  return {ws: after(P.ws), px: after(P.px), states: after(P.states), engine: after(P.engine),
          keys: P.keys.filter((t) => t > since), inputs: P.inputs.filter((t) => t > since),
          polls: P.polls, pollMs: P.pollMs};
}"""


class BenchError(RuntimeError):
    pass


# -- the server ---------------------------------------------------------------------------------
class Server(AppServer):
    """The tests' ``panel serve app.py`` (tests/support.py), plus what the bench reads."""

    def __init__(self, root: Path, extra: list[str], label: str):
        logs = Path(tempfile.mkdtemp(prefix=f"latency-{label}-"))
        super().__init__(logs, name=label, args=tuple(extra), root=root)
        self.label = label

    def stop(self) -> int | None:
        code = super().stop()
        if code not in (0, -signal.SIGTERM) or self.leftovers:
            print(f"[{self.label}] panel serve exited with {code}; log in {self.logs}")
        elif "Traceback" in self.log().partition("Received signal SIGTERM")[0]:
            print(f"[{self.label}] tracebacks in the server log: {self.logs}")
        else:
            shutil.rmtree(self.logs, ignore_errors=True)  # kept only when something went wrong
        return code

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def last_error(self) -> str:
        """The last traceback of the server log, if any (why a change did nothing)."""
        text = self.log()
        at = text.rfind("Traceback")
        return text[at:].strip()[-2500:] if at >= 0 else self.tail()

    def wire_bytes(self) -> dict | None:
        """TCP payload bytes sent so far on each of the server's connections (``ss``)."""
        if shutil.which("ss") is None:
            return None
        out = subprocess.run(
            ["ss", "-tinH", "state", "established", f"( sport = :{self.port} )"],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        sent, key = {}, None
        for line in out.splitlines():
            if line[:1].strip():
                key = tuple(line.split()[-2:])
            elif key is not None and (m := re.search(r"bytes_sent:(\d+)", line)):
                sent[key] = int(m.group(1))
        return sent


def busiest(before: dict | None, after: dict | None):
    """The connection that sent the most in between: the websocket, during a frame."""
    if not before or not after:
        return None
    return max(after, key=lambda k: after[k] - before.get(k, 0))


def wire_delta(before: dict | None, after: dict | None, ws) -> tuple[int | None, int | None]:
    """Bytes sent on the websocket's connection ``ws`` and on all others (HTTP)."""
    if before is None or after is None or ws not in after:
        return None, None
    deltas = {k: v - before.get(k, 0) for k, v in after.items()}
    return deltas[ws], sum(v for k, v in deltas.items() if k != ws)


# -- bytes ----------------------------------------------------------------------------------------
def frame_header(n: int) -> int:
    return 2 if n < 126 else 4 if n < 65536 else 10


def deflate_estimate(payloads: list[bytes], level: int, mem_level: int) -> int:
    """Wire bytes under permessage-deflate (context takeover, 15-bit window), framing included."""
    comp = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, mem_level)
    total = 0
    for p in payloads:
        n = len(comp.compress(p) + comp.flush(zlib.Z_SYNC_FLUSH)) - 4  # RFC 7692 7.2.1
        total += n + frame_header(n)
    return total


# -- the browser ------------------------------------------------------------------------------
def percent_query(config: dict) -> str:
    return urllib.parse.urlencode(
        {
            k: json.dumps(v, separators=(",", ":")) if isinstance(v, list) else v
            for k, v in config.items()
        }
    )


def url_config(url: str) -> dict:
    """The config the page's URL holds (the app syncs it), as FractalConfig keywords."""
    values = dict(START)
    for key, value in urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
        values[key] = tuple(value) if isinstance(value, list) else value
    return values


class Session:
    """One tab on one server: the probe, the websocket capture and the settle loop."""

    def __init__(self, browser, server: Server):
        self.server = server
        self.context = browser.new_context(viewport={"width": 1500, "height": 1100})
        panel_cdn_from_package(self.context)
        self.page = self.context.new_page()
        self.page.add_init_script(PROBE_JS)
        self.frames: list[tuple[bool, bytes]] = []
        self.extensions: str | None = None
        self.page.on("websocket", self._on_websocket)
        cdp = self.context.new_cdp_session(self.page)
        cdp.send("Network.enable")
        cdp.on("Network.webSocketHandshakeResponseReceived", self._on_handshake)
        # The browser's own requests too (Playwright does not report favicon fetches).
        self.requests: list[str] = []
        cdp.on(
            "Network.requestWillBeSent",
            lambda e: self.requests.append(urllib.parse.urlsplit(e["request"]["url"]).path),
        )

    def _is_app(self, url: str) -> bool:
        path = urllib.parse.urlsplit(url).path
        return f"localhost:{self.server.port}/" in url and path.endswith("/ws")

    def _on_websocket(self, ws) -> None:
        if self._is_app(ws.url):
            ws.on("framereceived", self._on_frame)

    def _on_frame(self, payload) -> None:
        if isinstance(payload, str):
            self.frames.append((False, payload.encode()))
        else:
            self.frames.append((True, bytes(payload)))

    def _on_handshake(self, params) -> None:
        headers = {k.lower(): v for k, v in params["response"].get("headers", {}).items()}
        if self.extensions is None or "sec-websocket-extensions" in headers:
            self.extensions = headers.get("sec-websocket-extensions", "")

    def close(self) -> None:
        self.context.close()

    # -- waiting ------------------------------------------------------------------------------
    def settle(self, since: float, *, images: int, need_done: bool, quiet_ms: float,
               timeout: float, submit_timeout: float | None = None) -> dict:  # fmt: skip
        """Until the frame is complete: badge done (if asked), ``images`` image buffers
        received, and neither the canvas nor the websocket changed for ``quiet_ms``."""
        start = time.monotonic()
        while True:
            s = self.page.evaluate(STATUS_JS, [since, IMAGE_BUFFER])
            bad = [x for x in s["states"] if x in ("failed", "cancelled")]
            if bad:
                raise BenchError(f"the job ended {bad[-1]}:\n{self.server.last_error()}")
            done = any(x in ("done", "cached") for x in s["states"])
            quiet = s["now"] - max(s["lastWs"], s["lastPx"])
            if (done or not need_done) and s["images"] >= images and quiet >= quiet_ms:
                return s
            waited = time.monotonic() - start
            if submit_timeout is not None and not s["states"] and waited > submit_timeout:
                raise BenchError(
                    f"no job started {submit_timeout:.0f} s after the change (URL "
                    f"{self.page.url}). Last error in the server log:\n{self.server.last_error()}"
                )
            if waited > timeout:
                raise BenchError(f"no full frame after {timeout:.0f} s: {s}")
            self.page.wait_for_timeout(25)

    def window(self, since: float) -> dict:
        self.page.wait_for_timeout(50)  # let Playwright deliver the last frame events
        return self.page.evaluate(TIMELINE_JS, since)


def frame_figures(t: dict, start: float, frames: list, expected_states=True) -> dict:
    """Times (ms from ``start``) and bytes of one frame, from the probe's timeline."""
    image_times = [m[0] for m in t["ws"] if m[1] == 1 and m[2] >= IMAGE_BUFFER]
    first_image = image_times[0] if image_times else None
    px = [p[0] for p in t["px"]]
    # New pixels: the first canvas change once image data arrived (a re-layout can repaint
    # the canvas earlier with the old image); the full frame: the last change.
    first_px = next((p for p in px if first_image is not None and p >= first_image), None)
    submit = next((s[0] for s in t["states"] if s[1] in ("queued", "running")), None)
    done = next((s[0] for s in t["states"] if s[1] in ("done", "cached")), None)
    payload = sum(len(p) for _, p in frames)
    binary = sum(len(p) for b, p in frames if b)
    return {
        "submit": None if submit is None else submit - start,
        "first_px": None if first_px is None else first_px - start,
        "full": (px[-1] - start) if px else None,
        "done": None if done is None else done - start,
        "engine": t["engine"][-1][1] if t["engine"] else None,
        "states": [s[1] for s in t["states"]],
        "payload": payload,
        "binary": binary,
        "text": payload - binary,
        "messages": len(frames),
    }


def measure_server(browser, server: Server, widget: str, changes: int, level: int | None,
                   mem_level: int, quiet_ms: float) -> dict:  # fmt: skip
    from compute import FractalConfig
    from compute.tiles import split

    pixels = START["width"] * START["height"]
    images = 1 + len(split(START["width"], START["height"]))  # the preview, then the tiles
    session = Session(browser, server)
    page = session.page
    result = {"changes": []}
    try:
        page.goto(f"http://localhost:{server.port}/app?{percent_query(START)}", timeout=120_000)
        # The first frame: the cluster starts and its workers compile the kernels.
        session.settle(0.0, images=images, need_done=True, quiet_ms=quiet_ms, timeout=180)
        t = session.window(0.0)
        first = frame_figures(t, 0.0, session.frames)
        ws_open = t["ws"][0][0] if t["ws"] else 0.0
        first["ws_open"] = ws_open
        result["first"] = first

        if widget == "max_iter":
            # The editable slider's text box: typed, then committed with Enter.
            control = page.locator(".bk-Row", has_text="Max iterations").locator("input")
        else:
            # The slider's handle: ArrowRight moves c (real) by its step, 0.001.
            col = page.locator(".bk-panel-models-layout-Column", has_text="c (real)").last
            control = col.locator(".noUi-handle")
        if control.count() != 1:
            raise BenchError(f"cannot find the widget for {widget} in the page")

        for n in range(changes + 1):  # the first one warms up
            since = page.evaluate("performance.now()")
            session.frames.clear()
            session.requests.clear()
            wire0 = server.wire_bytes()
            if widget == "max_iter":
                control.fill(str(int(control.input_value()) + 10))
                control.press("Enter")  # the change: its keydown starts the clock
            else:
                control.press("ArrowRight")
            session.settle(
                since, images=images, need_done=True, quiet_ms=quiet_ms, timeout=120,
                submit_timeout=20,
            )  # fmt: skip
            t = session.window(since)
            wire1 = server.wire_bytes()
            frames = list(session.frames)
            if not t["keys"]:
                raise BenchError("the key press was not seen by the page")
            fig = frame_figures(t, t["keys"][0], frames)
            if n == 0:  # the warm-up frame's megabyte identifies the websocket's socket
                ws_socket = busiest(wire0, wire1)
            fig["wire"], fig["http"] = wire_delta(wire0, wire1, ws_socket)
            fig["requests"] = list(session.requests)
            fig["estimate"] = deflate_estimate([p for _, p in frames], level or 6, mem_level)
            fig["pixels"] = pixels
            config = url_config(page.url)
            FractalConfig(**config)  # the URL holds a valid config
            badge = page.locator(".job-state").get_attribute("data-state")
            if badge not in ("done", "cached"):
                raise BenchError(f"badge says {badge!r} after the frame")
            fig["config"] = config
            if n:
                result["changes"].append(fig)
            else:
                result["warmup"] = fig

        # A colormap change: recoloured in the browser, no job.
        select = page.locator("select:has(option[value='fire'])")
        current = select.input_value()
        target = next(o for o in ("bmy", "kbc", "fire") if o != current)
        since = page.evaluate("performance.now()")
        session.frames.clear()
        session.requests.clear()
        wire0 = server.wire_bytes()
        select.select_option(target)
        start = time.monotonic()
        while time.monotonic() - start < 15:
            if page.evaluate(STATUS_JS, [since, IMAGE_BUFFER])["pxChanges"]:
                break
            page.wait_for_timeout(25)
        session.settle(since, images=0, need_done=False, quiet_ms=quiet_ms, timeout=30)
        t = session.window(since)
        frames = list(session.frames)
        start_ms = t["inputs"][0] if t["inputs"] else since
        cmap = frame_figures(t, start_ms, frames)
        cmap["first_px"] = (t["px"][0][0] - start_ms) if t["px"] else None
        cmap["wire"], cmap["http"] = wire_delta(wire0, server.wire_bytes(), ws_socket)
        cmap["requests"] = list(session.requests)
        cmap["estimate"] = deflate_estimate([p for _, p in frames], level or 6, mem_level)
        cmap["badge"] = page.locator(".job-state").get_attribute("data-state")
        cmap["colormap"] = url_config(page.url).get("colormap")
        cmap["target"] = target
        result["colormap"] = cmap
        result["poll_ms"] = t["pollMs"] / max(t["polls"], 1)
        result["extensions"] = session.extensions
    finally:
        session.close()
    return result


# -- report ---------------------------------------------------------------------------------------
def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs, fmt="{:.0f}"):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    return f"{fmt.format(statistics.median(xs))} [{fmt.format(min(xs))}-{fmt.format(max(xs))}]"


def render_times(configs: list[dict], repeats: int) -> dict[str, float]:
    """Median in-process render() time (ms) per distinct config, kernels warmed up first."""
    from compute import FractalConfig, render
    from compute.kernels import warm_up

    warm_up()
    out = {}
    for values in configs:
        config = FractalConfig(**values)
        if config.key in out:
            continue
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            render(config)
            times.append((time.perf_counter() - start) * 1000)
        out[config.key] = statistics.median(times)
    return out


def config_key(fig: dict) -> str:
    from compute import FractalConfig

    return FractalConfig(**fig["config"]).key


def report(runs: dict, renders: dict, args) -> None:
    key = config_key
    labels = list(runs)
    header = f"{'per change (ms; median [min-max])':44}" + "".join(f"{lab:>28}" for lab in labels)
    print()
    print("'change' is the keydown in the page, so 'change ->' figures include the app's 250 ms")
    print("debounce; 'submitted' is when the badge's queued/running update reached the page.")
    print(header)
    print("-" * len(header))

    def row(name, fn, fmt="{:.0f}"):
        cells = []
        for lab in labels:
            cells.append(spread([fn(f) for f in runs[lab]["changes"]], fmt))
        print(f"{name:44}" + "".join(f"{c:>28}" for c in cells))

    def sub(a, b):
        return None if a is None or b is None else a - b

    row("change -> job submitted (debounce 250)", lambda f: f["submit"])
    row("change -> first new pixels", lambda f: f["first_px"])
    row("change -> full frame", lambda f: f["full"])
    row("submitted -> first new pixels", lambda f: sub(f["first_px"], f["submit"]))
    row("submitted -> full frame", lambda f: sub(f["full"], f["submit"]))
    row("engine job time (badge 'done in')", lambda f: f["engine"])
    row("badge 'done' -> full frame", lambda f: sub(f["full"], f["done"]))
    row("render(config) in-process", lambda f: renders[key(f)])
    row("ratio full frame / render()", lambda f: f["full"] / renders[key(f)], "{:.1f}x")
    row(
        "ratio (from submit) / render()",
        lambda f: sub(f["full"], f["submit"]) / renders[key(f)],
        "{:.1f}x",
    )
    print(f"{'bytes per frame (1024x1024 = 1,048,576 px)':44}")
    row("  websocket payload, B/px", lambda f: f["payload"] / f["pixels"], "{:.3f}")
    row("    of which binary buffers, B/px", lambda f: f["binary"] / f["pixels"], "{:.3f}")
    row("    of which JSON text, kB", lambda f: f["text"] / 1000, "{:.1f}")
    row(
        "  websocket on the wire (ss), B/px",
        lambda f: f["wire"] and f["wire"] / f["pixels"],
        "{:.3f}",
    )
    row(
        f"  zlib estimate (deflate L{args.compression_level}), B/px",
        lambda f: f["estimate"] / f["pixels"],
        "{:.3f}",
    )
    row(
        "  other HTTP on the wire (see below), kB",
        lambda f: f["http"] and f["http"] / 1000,
        "{:.1f}",
    )

    seen = sorted({r for lab in labels for f in runs[lab]["changes"] for r in f["requests"]})
    print(f"  (HTTP requests the browser made during the changes: {', '.join(seen) or 'none'})")
    print()
    print("first frame of the session (from navigation start; includes the cluster start and")
    print("the workers' numba warm-up), ms:")
    for lab in labels:
        f = runs[lab]["first"]
        print(
            f"  {lab:26} websocket open {f['ws_open']:.0f}, job submitted {f['submit']:.0f}, "
            f"first pixels {f['first_px']:.0f}, badge done {f['done']:.0f}, "
            f"full frame {f['full']:.0f}"
        )
    print()
    print("colormap change (display only):")
    for lab in labels:
        c = runs[lab]["colormap"]
        jobs = c["states"]
        verdict = "no job ran" if not jobs and c["badge"] == "done" else "A JOB RAN"
        wire = (
            f"{c['wire'] / 1000:.1f} kB on the wire (+{c['http'] / 1000:.1f} kB other HTTP)"
            if c["wire"] is not None
            else "wire not measured"
        )
        print(
            f"  {lab:26} -> {c['colormap']}: first pixels {c['first_px']:.0f} ms, "
            f"recoloured {c['full']:.0f} ms; {c['payload'] / 1000:.1f} kB payload "
            f"({c['binary']} B binary), {wire}; job-state updates {jobs or 'none'}, "
            f"badge {c['badge']!r}: {verdict}"
        )
    print()
    for lab in labels:
        r = runs[lab]
        print(
            f"{lab}: negotiated websocket extensions: {r['extensions'] or 'none'}; "
            f"canvas probe {r['poll_ms']:.2f} ms per animation frame"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 changes, one server only")
    parser.add_argument("--changes", type=int, default=5, help="measured changes per server")
    parser.add_argument(
        "--widget",
        choices=("max_iter", "c_real"),
        default="max_iter",
        help="type +10 into 'Max iterations' (Enter), or press ArrowRight on 'c (real)'",
    )
    parser.add_argument("--compression-level", type=int, default=6)
    parser.add_argument("--compression-mem-level", type=int, default=8)
    parser.add_argument("--quiet-ms", type=float, default=500, help="canvas+socket quiet time")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose app.py to serve")
    args = parser.parse_args()
    changes = 2 if args.quick else args.changes

    from playwright.sync_api import sync_playwright

    variants = {"plain": []}
    if not args.quick:
        variants[f"deflate L{args.compression_level}"] = [
            "--websocket-compression-level", str(args.compression_level),
            "--websocket-compression-mem-level", str(args.compression_mem_level),
        ]  # fmt: skip
    load = os.getloadavg()
    began = time.monotonic()
    runs = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            import bokeh
            import panel

            print(
                f"{os.cpu_count()} CPUs, load average {load[0]:.1f}; chromium "
                f"{browser.version}, panel {panel.__version__}, bokeh {bokeh.__version__}; "
                f"1024x1024 Julia frames; change: {WIDGETS[args.widget]}; "
                f"{changes} changes per server after 1 warm-up"
            )
            for label, extra in variants.items():
                server = Server(args.root, extra, label.split()[0])
                try:
                    server.start()
                    runs[label] = measure_server(
                        browser, server, args.widget, changes,
                        args.compression_level if extra else None,
                        args.compression_mem_level, args.quiet_ms,
                    )  # fmt: skip
                finally:
                    server.stop()
        finally:
            browser.close()
    configs = [f["config"] for r in runs.values() for f in r["changes"]]
    renders = render_times(configs, repeats=3)
    report(runs, renders, args)

    plain = runs["plain"]["changes"]
    full = median([f["full"] for f in plain])
    first = median([f["first_px"] for f in plain])
    from_submit = median([f["full"] - f["submit"] for f in plain])
    base = median([renders[config_key(f)] for f in plain])
    ratio = median([f["full"] / renders[config_key(f)] for f in plain])
    bpp = median([f["payload"] / f["pixels"] for f in plain])
    deflated = next((r for lab, r in runs.items() if lab != "plain"), None)
    cmap = runs["plain"]["colormap"]
    zbpp = (
        f"{median([f['wire'] / f['pixels'] for f in deflated['changes']]):.2f} B/px with "
        f"permessage-deflate L{args.compression_level}"
        if deflated and all(f["wire"] for f in deflated["changes"])
        else f"~{median([f['estimate'] / f['pixels'] for f in plain]):.2f} B/px deflated "
        "(zlib estimate)"
    )
    print()
    print(
        f"Summary: in headless Chromium on {os.cpu_count()} cores, a 1024x1024 frame shows new "
        f"pixels {first:.0f} ms and is complete {full:.0f} ms after a widget change "
        f"(incl. the 250 ms debounce; {from_submit:.0f} ms from job submission), "
        f"{ratio:.1f}x the in-process render() ({base:.0f} ms); "
        f"{bpp:.2f} bytes/pixel over the websocket ({zbpp}); a colormap change sends "
        f"{cmap['payload'] / 1000:.1f} kB and "
        + ("runs no job." if not cmap["states"] and cmap["badge"] == "done" else "RAN A JOB.")
    )
    took = time.monotonic() - began
    print(f"(load average {os.getloadavg()[0]:.1f} at the end; the run took {took:.0f} s)")


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        sys.exit(f"latency bench failed: {exc}")
