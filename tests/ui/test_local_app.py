"""The app in a real browser, on its default local cluster (started inside the server)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from pages import (
    canvas_pixels,
    changed,
    colourful,
    deep_text,
    distinct_colours,
    link,
    open_dashboard,
    url_config,
    wait_image,
    wait_state,
    wait_text,
    wait_until,
    wait_url,
)
from PIL import Image

from compute.fractal import FractalConfig

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

DEFAULT = FractalConfig()


def open_app(page, app, **query) -> np.ndarray:
    page.goto(link(app, **query))
    wait_state(page, "done", "cached")
    return wait_image(page, colourful, "a rendered fractal")


def test_first_image_appears_in_the_canvas(page, local_app):
    pixels = open_app(page, local_app)
    # A rendered fractal: many colours from the colormap, not a blank canvas.
    assert distinct_colours(pixels) > 50
    assert url_config(page).key == DEFAULT.key
    wait_text(page, ".job-history", "julia c=-0.8000+0.1560i, 500 it, 1024x1024")


def test_a_widget_change_changes_the_image(page, local_app):
    before = open_app(page, local_app, width=512, height=512)
    page.get_by_role("button", name="mandelbrot").click()
    wait_url(page, lambda c: c.fractal == "mandelbrot", "fractal=mandelbrot")
    wait_state(page, "done", "cached")
    wait_image(page, changed(before), "the Mandelbrot set")
    wait_text(page, ".job-history", "mandelbrot, 500 it, 512x512")


def test_wheel_zoom_rerenders_and_reset_returns(page, local_app):
    before = open_app(page, local_app, width=512, height=512)
    box = page.locator(".fractal-view canvas").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(5):
        page.mouse.wheel(0, -200)
        page.wait_for_timeout(50)
    wait_url(page, lambda c: c.x_range[1] - c.x_range[0] < 3.0, "a zoomed viewport")

    def zoomed_frame_rendered() -> bool:
        # Wheel events may still be arriving: whatever viewport the URL holds last is
        # rendered at full resolution, and the history says so.
        return url_config(page).summary() in deep_text(page, ".job-history")

    wait_until(zoomed_frame_rendered, "the zoomed viewport's frame in the history")
    wait_state(page, "done", "cached")
    wait_image(page, changed(before), "the zoomed view")

    page.get_by_role("button", name="Reset view").click()
    wait_url(page, lambda c: c.x_range == DEFAULT.x_range, "the default viewport")
    wait_state(page, "done", "cached")


def test_the_url_restores_a_view(page, local_app):
    view = {
        "fractal": "mandelbrot",
        "max_iter": 300,
        "width": 512,
        "height": 512,
        "x_range": (-0.8, -0.7),
        "y_range": (0.05, 0.15),
        "colormap": "bgy",
    }
    open_app(page, local_app, **view)
    # The old link's ranges are rewritten as the view's new names.
    wait_url(page, lambda c: c.key == FractalConfig(**view).key, "the link's view, renamed")
    shown = url_config(page)
    assert (shown.center_real, shown.center_imag, shown.span) == ("-0.75", "0.1", "0.1")
    wait_text(page, ".job-history", "mandelbrot, 300 it, 512x512, zoom 32 at -0.75+0.1i")
    assert "zoom 32 at -0.75+0.1i" in deep_text(page, ".fractal-controls")


def test_an_invalid_link_shows_a_message_and_the_default_view(page, local_app):
    page.goto(local_app.url + "?max_iter=9999999&width=256&height=256")
    message = wait_text(page, ".input-error", "max_iter")
    assert "9999999" in message
    wait_state(page, "done", "cached")
    assert url_config(page).max_iter == DEFAULT.max_iter


def test_an_over_budget_request_shows_a_message_and_the_app_keeps_working(page, local_app):
    open_app(page, local_app, width=4096, height=4096, max_iter=100)
    # Over a frame's budget by the estimate of its preview: the view lies inside the
    # Mandelbrot set's main cardioid, where every pixel costs every iteration.
    page.goto(link(local_app, fractal="mandelbrot", center_real="-0.2", span="0.4",
                   width=4096, height=4096, max_iter=20000))  # fmt: skip
    message = wait_text(page, ".input-error", "budget")
    assert "estimate" in message
    assert "Lower max_iter or the resolution" in message
    # Now a valid change through a widget: the message goes and the frame renders.
    iterations = page.locator(".fractal-controls input").nth(2)
    iterations.fill("50")
    iterations.press("Enter")
    wait_url(page, lambda c: c.max_iter == 50, "max_iter=50")
    wait_text(page, ".job-history", "50 it, 4096x4096")
    wait_state(page, "done", "cached")
    assert "budget" not in deep_text(page, ".input-error")


def test_cancel_stops_a_slow_frame(page, local_app):
    # Nearly every pixel of this view is inside the set: each costs max_iter iterations.
    slow = link(
        local_app,
        c_real=-0.1,
        c_imag=0.1,
        x_range=(-0.5, 0.5),
        y_range=(-0.5, 0.5),
        width=2048,
        height=2048,
        max_iter=1000,
    )
    page.goto(slow)
    wait_state(page, "running")
    page.locator(".cancel-button button").click()
    assert wait_state(page, "cancelled") == "cancelled"
    wait_text(page, ".job-history", "cancelled")
    wait_text(page, ".stale-banner", "Cancelled")


def test_the_history_restores_a_view_on_click(page, local_app):
    open_app(page, local_app, width=256, height=256, max_iter=80)
    page.get_by_role("button", name="mandelbrot").click()
    wait_url(page, lambda c: c.fractal == "mandelbrot", "fractal=mandelbrot")
    wait_text(page, ".job-history", "mandelbrot, 80 it")
    page.locator(".job-history td").get_by_text("julia c=-0.8000+0.1560i, 80 it").first.click()
    wait_url(page, lambda c: c.fractal == "julia", "fractal=julia")
    assert wait_state(page, "cached") == "cached"
    assert url_config(page).key == FractalConfig(width=256, height=256, max_iter=80).key


def test_the_image_downloads_as_png(page, local_app):
    open_app(page, local_app, width=320, height=240, max_iter=100)
    with page.expect_download() as download:
        page.get_by_text("Download PNG").click()
    picture = Image.open(io.BytesIO(download.value.path().read_bytes()))
    assert picture.format == "PNG"
    assert picture.size == (320, 240)
    assert distinct_colours(np.asarray(picture.convert("RGB"))) > 50


def test_the_dask_dashboard_pages_load(page, local_app):
    open_app(page, local_app, width=256, height=256, max_iter=100)
    # Closed at first: the pages cost the browser CPU the workers could use.
    assert page.locator("iframe").count() == 0
    assert page.locator(".dask-dashboard-link").first.get_attribute("href").endswith("/status")
    open_dashboard(page)
    frames = page.locator("iframe")
    frames.first.wait_for()
    sources = [frames.nth(i).get_attribute("src") for i in range(frames.count())]
    assert [s.rsplit("/", 1)[1] for s in sources] == [
        "individual-task-stream",
        "individual-progress",
        "individual-workers-memory",
    ]
    for i in range(len(sources)):
        # Each page is a Bokeh document served by the scheduler: it draws on a canvas.
        frames.nth(i).content_frame.locator("canvas").first.wait_for()


def test_the_canvas_is_what_the_server_computed(page, local_app):
    """Tiles land where they belong: the top-left of the picture is the top-left of the
    view, checked against the Mandelbrot set's known shape (its cusp points right)."""
    open_app(page, local_app, fractal="mandelbrot", width=256, height=256)
    pixels = canvas_pixels(page)
    h, w = pixels.shape[:2]
    inside = np.all(pixels < 30, axis=-1)  # black: inside the set
    # The main cardioid fills the middle-right; the far left (x < -2) is outside.
    assert inside[h // 2, int(w * 0.55)]
    assert not inside[h // 2, int(w * 0.05)]
