"""Deep zoom in a real browser: a 300-digit link, the wheel and a drag at a span of 1e-280,
and the same digits back from the history and the HTTP API."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pages import (
    colourful,
    deep_text,
    finished,
    js,
    link,
    url_config,
    wait_image,
    wait_state,
    wait_text,
    wait_url,
)

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

# i + 1.2...e-271: beside the Misiurewicz point c = i (on the boundary at every scale),
# 301 significant digits; its pixels escape after about 720 iterations.
DEEP = {
    "fractal": "mandelbrot",
    "center_real": "0",
    "center_imag": "1." + "0" * 270 + "123456789012345678901234567891",
    "span": "1e-280",
    "max_iter": 2000,
    "width": 256,
    "height": 256,
}


def open_deep(page, app):
    page.goto(link(app, **DEEP))
    wait_state(page, "done", "cached")
    return wait_image(page, colourful, "the deep view rendered")


def test_a_300_digit_link_opens_the_view_and_its_digits_come_back(page, api_app):
    open_deep(page, api_app)
    shown = url_config(page)
    assert (shown.center_imag, shown.span) == (DEEP["center_imag"], "1e-280")
    assert shown.deep
    wait_text(page, ".view-position", "zoom 3.2e+280 at 0+1i")
    wait_text(page, ".job-history", "mandelbrot, 2000 it, 256x256, zoom 3.2e+280")

    # The same view through the HTTP API: the same key (found, not computed) and digits.
    status, answer = js(api_app, "POST", "/api/jobs", {"kind": "frame", "params": DEEP})
    assert status == 202, answer
    job = finished(api_app, answer["id"])
    assert job["state"] == "cached", job
    assert job["key"] == shown.key
    assert job["config"]["center_imag"] == DEEP["center_imag"]

    # The wheel, at depth: a deeper span, the centre's digits kept.
    box = page.locator(".fractal-view canvas").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -200)
    zoomed = wait_url(page, lambda c: Decimal(c.span) < Decimal("1e-280"), "a deeper span")
    assert zoomed.center_imag.startswith("1." + "0" * 270 + "1234")
    wait_state(page, "done", "cached")

    # A drag to the left by a tenth of the plot: the centre moves right by a tenth of the
    # view, exactly in decimal (float64 would not see it move at all).
    plot = page.locator(".fractal-view .bk-Canvas, .fractal-view canvas").first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(x - step * plot["width"] / 100, y)
    page.mouse.up()
    dragged = wait_url(page, lambda c: c.center_real != zoomed.center_real, "a panned centre")
    moved = (Decimal(dragged.center_real) - Decimal(zoomed.center_real)) / Decimal(zoomed.span)
    assert 0.03 < moved < 0.2, moved
    assert dragged.span == zoomed.span
    wait_state(page, "done", "cached")

    # The first row of the history restores the link's view, to the last digit.
    page.locator(".job-history td").get_by_text("zoom 3.2e+280").first.click()
    wait_url(page, lambda c: c.center_imag == DEEP["center_imag"], "the link's view again")
    wait_url(page, lambda c: c.center_real == "0" and c.span == "1e-280", "its span")
    assert "zoom 3.2e+280" in deep_text(page, ".view-position")


def test_a_julia_set_and_a_view_past_1e300_open_at_depth(page, api_app):
    # A Julia set at 1e-60, centred on its critical point (c = i: 0 is in the Julia set),
    # drawn from two reference orbits; then the Mandelbrot set at 1e-600, where offsets
    # are a mantissa and an exponent.
    julia = {
        "fractal": "julia", "c_real": 0.0, "c_imag": 1.0, "center_real": "0",
        "center_imag": "0", "span": "1e-60", "max_iter": 2000, "width": 128, "height": 128,
    }  # fmt: skip
    page.goto(link(api_app, **julia))
    wait_state(page, "done", "cached")
    wait_image(page, colourful, "the deep Julia view rendered")
    assert url_config(page).deep
    wait_text(page, ".view-position", "zoom 3.2e+60 at 0+0i")
    deepest = {**DEEP, "center_imag": "1", "span": "1e-600", "width": 128, "height": 128}
    page.goto(link(api_app, **deepest))
    wait_state(page, "done", "cached")
    wait_image(page, colourful, "the view at 1e-600 rendered")
    wait_text(page, ".view-position", "zoom 3.2e+600 at 0+1i")
