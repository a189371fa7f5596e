"""A zoom step by mouse at depth, in a real browser: how soon new pixels show.

Run: ``.venv/bin/python bench/deep_zoom.py`` (``--steps N``: wheel steps per depth).
Starts ``panel serve app.py`` as ``make serve`` does, drives Debian's chromium headless
through Playwright, opens a 512x512 Mandelbrot view centred on the Misiurewicz point
``c = i`` (boundary at every scale) at several spans, and turns the mouse wheel once over
the plot's centre per step, measuring on the page's own clock (the probe of
``bench/latency.py``): the wheel to the first new pixels (the preview) and to the full
frame. Iterations follow the depth (the explorer's default). The baseline is the same
step on a float64 view (a span of 1e-3) in the same server, side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency import CHROMIUM, Server, Tab, figures

#: Spans measured: float64's (the baseline), then perturbation's (three steps in from 1e-290
#: stay above the deepest span, 1e-300).
SPANS = ("1e-3", "1e-30", "1e-100", "1e-200", "1e-290")
VIEW = {"fractal": "mandelbrot", "center_real": "0", "center_imag": "1", "width": 512,
        "height": 512}  # fmt: skip


def wheel_steps(tab: Tab, span: str, steps: int) -> list[dict]:
    tab.open({**VIEW, "span": span})
    tab.settle(0.0, timeout=300)
    box = tab.page.locator(".fractal-view canvas").first.bounding_box()
    tab.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    measured = []
    for _ in range(steps):
        start = tab.now()
        tab.page.mouse.wheel(0, -120)
        tab.settle(start, timeout=300)
        measured.append(figures(tab.timeline(start), start))
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=3, help="wheel steps per depth")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    server = Server("deep-zoom")
    server.start()
    results = {}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
            try:
                for span in SPANS:
                    tab = Tab(browser, server, dashboard=False)
                    began = time.monotonic()
                    results[span] = wheel_steps(tab, span, args.steps)
                    print(f"  span {span}: {time.monotonic() - began:.0f} s", flush=True)
                    tab.close()
            finally:
                browser.close()
    finally:
        server.stop()

    def med(span: str, key: str) -> float | None:
        values = [m[key] for m in results[span] if m[key] is not None]
        return statistics.median(values) if values else None

    base = med(SPANS[0], "first_px"), med(SPANS[0], "full")
    print(f"\nOne wheel step over a 512x512 view at c = i, median of {args.steps} (ms):")
    print(f"{'span':>8} {'first new pixels':>17} {'x float64':>10} {'full frame':>11} "
          f"{'x float64':>10}")  # fmt: skip
    for span in SPANS:
        first, full = med(span, "first_px"), med(span, "full")
        ratios = [
            f"{value / baseline:.1f}" if value and baseline else "-"
            for value, baseline in ((first, base[0]), (full, base[1]))
        ]
        print(f"{span:>8} {first or float('nan'):>17.0f} {ratios[0]:>10} "
              f"{full or float('nan'):>11.0f} {ratios[1]:>10}")  # fmt: skip


if __name__ == "__main__":
    main()
