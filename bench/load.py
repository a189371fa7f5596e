"""Many sessions at once: the explorer against the simplest synchronous app, in one run.

Run: ``.venv/bin/python bench/load.py``. Two cases, clocks started at navigation:

* **Four heavy sessions and a light one.** Four tabs (each its own browser context, as
  separate users have) open four distinct heavy 1024x1024 views at once (4000
  iterations, every pixel inside: about two seconds of one core each); half a second
  later a fifth opens the light default view. For the explorer (``panel serve app.py``
  as ``make serve`` runs it, its embedded Dask cluster, dashboard pages shown) and for
  ``bench/sync_app.py`` (``render()`` in the server's callback, as the HoloViews
  gallery's app does): the time until all four heavy frames are drawn, the light
  session's wait, and the CPU seconds of the browser, the server and the workers.
* **Fair share.** One tab renders a heavy frame while another keeps changing its own
  heavy view (a key press every 0.4 s, each a new frame, newer than the first tab's):
  the first tab's time to its full frame, against the same frame alone.

A frame is drawn once its canvas changed and then stayed unchanged (and, for the
explorer, its badge says done).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from latency import CHROMIUM, HEAVY, LIGHT, BenchError, Server, Tab, cpu_seconds, minus


def heavy(n: int) -> dict:
    """Distinct heavy views (no two sessions share a frame): c along the real axis,
    inside the main cardioid."""
    return {**HEAVY, "c_real": round(HEAVY["c_real"] - n * 1e-3, 6)}


def drawn(tab: Tab, *, badge: bool, quiet_ms: float = 1000, timeout: float = 300) -> float:
    """ms from navigation until the canvas changed and stayed still (and, with ``badge``,
    the job badge said done)."""
    start = time.monotonic()
    while True:
        s = tab.page.evaluate(
            """() => { const P = window.__lat; return {now: performance.now(),
               px: P.px.length ? P.px[P.px.length - 1][0] : null,
               done: P.states.some((s) => s[1] === "done" || s[1] === "cached")}; }"""
        )
        # A frame finished before the page was built arrives done: no badge change to see.
        done = not badge or s["done"] or tab.badge() in ("done", "cached")
        if s["px"] is not None and done and s["now"] - s["px"] >= quiet_ms:
            return s["px"]
        if time.monotonic() - start > timeout:
            raise BenchError(f"a session never finished drawing: {s}, badge {tab.badge()}")
        tab.page.wait_for_timeout(50)


def crowd(browser, server, badge: bool) -> dict:
    """Four heavy sessions and, half a second later, a light one."""
    tabs = [Tab(browser, server) for _ in range(5)]
    try:
        before, began = cpu_seconds(server), time.monotonic()
        for n, tab in enumerate(tabs[:4]):
            # Navigation starts now; waiting for the page is the measurement's job.
            tab.page.goto(tab.link(heavy(n)), wait_until="commit")
        time.sleep(0.5)
        tabs[4].page.goto(tabs[4].link(LIGHT), wait_until="commit")
        # Each page's own clock starts at its navigation: performance.now() is its wait.
        times = [drawn(tab, badge=badge) for tab in tabs]
        wall = time.monotonic() - began
        spent = minus(cpu_seconds(server), before)
    finally:
        for tab in tabs:
            tab.close()
    return {"heavy": max(times[:4]), "each": times[:4], "light": times[4], "cpu": spent,
            "wall": wall}  # fmt: skip


def fair_share(browser, server) -> dict:
    """A heavy frame alone, then the same kind of frame while another tab keeps changing."""
    out = {}
    for busy in (False, True):
        first, other = Tab(browser, server), Tab(browser, server)
        try:
            base = heavy(10 + 2 * busy)
            for tab, config in ((first, base), (other, heavy(11 + 2 * busy))):
                tab.open({**config, "max_iter": 20})
                drawn(tab, badge=True, quiet_ms=500)
            since = first.now()
            first.type_max_iter(base["max_iter"] - 20)  # now the heavy frame
            if busy:
                other.type_max_iter(HEAVY["max_iter"] - 20)
                handle = other.slider("c (real)")
                for _ in range(8):
                    other.page.wait_for_timeout(400)  # each press its own frame
                    handle.press("ArrowRight")
            first.settle(since, quiet_ms=700, timeout=300)
            t = first.timeline(since)
            out[busy] = t["px"][-1][0] - t["keys"][0] if t["px"] and t["keys"] else None
        finally:
            first.close()
            other.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    results = {}
    began = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            # The baseline: no cluster, the frame computed in the server's callback.
            sync = Server("sync", extra=(), script="bench/sync_app.py")
            sync.start()
            try:
                results["sync"] = crowd(browser, sync, badge=False)
            finally:
                sync.stop()
            app = Server("app")
            app.start()
            try:
                results["explorer"] = crowd(browser, app, badge=True)
                fair = fair_share(browser, app)
            finally:
                app.stop()
        finally:
            browser.close()

    print()
    print("Four heavy 1024x1024 sessions at once, and a light one half a second later")
    print(f"{'':44}{'synchronous app':>18}{'explorer':>18}{'ratio':>8}")
    s, e = results["sync"], results["explorer"]
    rows = [
        ("all four heavy frames drawn, s", s["heavy"] / 1000, e["heavy"] / 1000),
        ("the light session's frame drawn, s", s["light"] / 1000, e["light"] / 1000),
        ("CPU s: browser", s["cpu"]["browser"], e["cpu"]["browser"]),
        ("CPU s: server (its scheduler included)", s["cpu"]["server"],
         e["cpu"]["server"] + e["cpu"]["scheduler"]),
        ("CPU s: workers", s["cpu"]["workers"], e["cpu"]["workers"]),
    ]  # fmt: skip
    for name, a, b in rows:
        ratio = f"{a / b:.2f}x" if b else ""
        print(f"{name:44}{a:>18.2f}{b:>18.2f}{ratio:>8}")
    print(f"(each heavy session, s: synchronous {[round(x / 1000, 1) for x in s['each']]}, "
          f"explorer {[round(x / 1000, 1) for x in e['each']]})")  # fmt: skip
    print()
    alone, shared = fair[False], fair[True]
    print(
        f"Fair share: a heavy frame took {alone / 1000:.1f} s alone and {shared / 1000:.1f} s "
        f"while another tab changed its own heavy view every 0.4 s ({shared / alone:.2f}x; "
        "a cluster shared fairly by two is at most 2x)"
    )
    print(f"(the run took {time.monotonic() - began:.0f} s)")


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        sys.exit(f"load bench failed: {exc}")
