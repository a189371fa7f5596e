"""Zoom movies in a real browser: made in one tab, finished in another, played, downloaded.

The app runs on the test's `dask scheduler` + one `dask worker`; the worker's own count
of executed frames says what the cluster did.
"""

from __future__ import annotations

import pytest
from pages import deep_text, link, view_of, wait_state, wait_text, wait_until

from compute.fractal import FractalConfig
from compute.fractal.video import probe

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

# A view a few zooms deep whose movie takes seconds on one single-threaded worker.
END = FractalConfig(
    c_real=-0.8, c_imag=0.156, max_iter=2500, width=512, height=512,
    x_range=(-0.1, 0.1), y_range=(-0.1, 0.1),
)  # fmt: skip


def movie_state(page) -> str:
    return deep_text(page, ".movie-progress")


def video_playing(page) -> bool:
    return page.evaluate(
        """() => {
            const find = (root) => {
                const v = root.querySelector('video');
                if (v) return v;
                for (const el of root.querySelectorAll('*')) {
                    if (el.shadowRoot) { const f = find(el.shadowRoot); if (f) return f; }
                }
                return null;
            };
            const v = find(document);
            return !!v && v.readyState >= 2 && v.duration > 0 && v.videoWidth > 0;
        }"""
    )


def test_a_movie_outlives_its_tab_finishes_in_another_and_plays(tabs, external_app, counter):
    first = tabs.open()
    first.goto(link(external_app, **view_of(END)))
    wait_state(first, "done", "cached")
    counter.reset()
    first.locator(".movie-studio input").first.fill("80")  # frames
    first.locator(".movie-studio input").first.press("Enter")
    first.locator(".make-movie button").click()
    wait_text(first, ".movie-progress", "frame ")
    wait_until(
        lambda: "frame 0 of" not in movie_state(first) and "frame " in movie_state(first),
        "a few frames",
    )
    # The tab goes away mid-movie; the movie does not.
    first.context.close()
    tabs.contexts.remove(first.context)
    second = tabs.open()
    second.goto(link(external_app, **view_of(END)))
    wait_state(second, "done", "cached")
    # The new session shows the movie in flight, then its end: notification, history row.
    wait_text(second, ".movie-progress", "80 frames", timeout=60)
    wait_text(second, ".movie-progress", "done in", timeout=180)
    wait_text(second, ".job-history", "movie:")
    wait_text(second, ".bk-notification, .notyf", "Movie finished")
    wait_until(lambda: video_playing(second), "the video to play")
    ran = counter.executed("fractal-movieframe")
    assert len(ran) == 80  # each frame once: closing the tab cost nothing
    with second.expect_download() as download:
        second.locator(".download-gif button, .download-gif a").first.click()
    info = probe(download.value.path().read_bytes())
    assert (info.format, info.frames) == ("gif", 80)
    with second.expect_download() as download:
        second.locator(".download-mp4 button, .download-mp4 a").first.click()
    info = probe(download.value.path().read_bytes())
    assert (info.codec, info.frames, info.width, info.height) == ("h264", 80, 384, 384)


def test_a_deep_movie_over_its_budget_is_refused_with_a_message(page, external_app):
    # A view beyond float64 at the movie's 1024 px (drawn by perturbation, as its frames
    # would be), with a million iterations: 48 such frames are over the movie's budget.
    deep = END.copy(
        fractal="mandelbrot", width=64, height=64, max_iter=1_000_000,
        center_real="-0.75", center_imag="0.1", span="4e-12",
    )  # fmt: skip
    page.goto(link(external_app, **view_of(deep)))
    wait_state(page, "done", "cached", "failed")
    page.locator(".movie-studio select").first.select_option("1024")
    page.locator(".make-movie button").click()
    text = wait_text(page, ".movie-error", "budget")
    assert "pixel-iterations" in text
