"""Reading and driving the app's page: job state, canvas pixels, text in shadow DOM, URLs."""

from __future__ import annotations

import http.cookiejar
import io
import json
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlencode, urlparse, urlsplit

import numpy as np
from PIL import Image

# The offline browser's set-up, the dashboard card and the one poller, shared with the
# benchmarks and every layer's tests, live in the packages; these tests import them from
# here too.
from components.testing import open_dashboard, panel_cdn_from_package  # noqa: F401 (re-exported)
from compute.engine.testing import wait_until
from compute.fractal import FractalConfig


# -- the browser ---------------------------------------------------------------------------------
class Wire:
    """What the app's websocket brought to the page: binary frames carry image data.

    Attach before the page navigates. A 128 px preview is one 16,384-byte buffer (one
    byte per pixel); a tile is its own pixels.
    """

    PREVIEW_BYTES = 128 * 128

    def __init__(self, page):
        self.frames: list[tuple[float, int]] = []  # (monotonic time, bytes) of binaries
        page.on("websocket", self._opened)

    def _opened(self, ws) -> None:
        if urlsplit(ws.url).path.endswith("/ws"):  # the app's, not a dashboard page's
            ws.on("framereceived", self._received)

    def _received(self, payload) -> None:
        if not isinstance(payload, str):
            self.frames.append((time.monotonic(), len(payload)))

    def mark(self) -> int:
        """A point in the stream to count from."""
        return len(self.frames)

    def previews(self, since: int = 0) -> int:
        """Preview images received since ``since``."""
        return sum(size == self.PREVIEW_BYTES for _, size in self.frames[since:])

    def images(self, since: int = 0) -> list[int]:
        """Sizes of the image buffers received since ``since`` (empty layers excluded)."""
        return [size for _, size in self.frames[since:] if size >= 256]


# -- reading the page ----------------------------------------------------------------------------
def badge(page):
    return page.locator(".job-state").first


def wait_state(page, *states: str, timeout: float = 90_000) -> str:
    """Wait until the job badge shows one of ``states``; return it."""
    selector = ", ".join(f'.job-state[data-state="{s}"]' for s in states)
    page.locator(selector).first.wait_for(timeout=timeout)
    return badge(page).get_attribute("data-state")


def banner_kind(page) -> str:
    """What the line over the image says the image is: "stale", "preview" or "false"."""
    return page.evaluate(_DEEP_ATTRIBUTE, [".stale-banner", ".stale", "data-stale"]) or "false"


def canvas_pixels(page) -> np.ndarray:
    """What the plot's canvas shows, as an RGB array (from a screenshot of the element)."""
    canvas = page.locator(".fractal-view canvas").first
    png = canvas.screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def image_region(pixels: np.ndarray) -> np.ndarray:
    """The centre of the plot area, clear of axes and toolbar."""
    h, w = pixels.shape[:2]
    return pixels[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]


def distinct_colours(pixels: np.ndarray) -> int:
    return len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0))


_DEEP_TEXT = """
(selector) => {
    // Panel draws inside shadow roots: collect the text of every match, shadows included.
    const out = [];
    const text = (node) => {
        if (node.nodeName === "STYLE" || node.nodeName === "SCRIPT") return "";
        let t = node.shadowRoot ? text(node.shadowRoot) : "";
        for (const child of node.childNodes) {
            t += child.nodeType === Node.TEXT_NODE ? child.textContent : text(child);
        }
        return t;
    };
    const walk = (root) => {
        for (const el of root.querySelectorAll("*")) {
            if (el.matches(selector)) out.push(text(el));
            if (el.shadowRoot) walk(el.shadowRoot);
        }
    };
    walk(document);
    return out.join(" ");
}
"""


_DEEP_ATTRIBUTE = """
([host, inner, name]) => {
    // An attribute of an element inside a component's shadow root.
    const find = (root) => {
        for (const el of root.querySelectorAll("*")) {
            if (el.matches(host)) {
                const hit = (el.shadowRoot || el).querySelector(inner);
                if (hit) return hit.getAttribute(name);
            }
            if (el.shadowRoot) { const found = find(el.shadowRoot); if (found) return found; }
        }
        return null;
    };
    return find(document);
}
"""


def deep_text(page, selector: str) -> str:
    """The text of the elements matching ``selector``, including their shadow DOM."""
    return page.evaluate(_DEEP_TEXT, selector)


def wait_text(page, selector: str, expected: str, timeout: float = 60.0) -> str:
    """Wait until ``expected`` appears in :func:`deep_text`; return the text."""
    deadline = time.monotonic() + timeout
    while True:
        text = deep_text(page, selector)
        if expected in text:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{expected!r} never appeared in {selector}: {text!r}")
        page.wait_for_timeout(100)


def wait_image(page, predicate, what: str, timeout: float = 60.0) -> np.ndarray:
    """Poll the canvas until ``predicate(pixels)`` holds (tiles paint after the badge)."""
    deadline = time.monotonic() + timeout
    while True:
        pixels = image_region(canvas_pixels(page))
        if predicate(pixels):
            return pixels
        if time.monotonic() > deadline:
            raise AssertionError(f"the canvas never showed {what}")
        page.wait_for_timeout(200)


def wait_url(page, predicate, what: str, timeout: float = 60.0) -> FractalConfig:
    """Poll the URL's config until ``predicate(config)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            config = url_config(page)
        except ValueError:
            config = None
        if config is not None and predicate(config):
            return config
        if time.monotonic() > deadline:
            raise AssertionError(f"the URL never showed {what}: {page.url}")
        page.wait_for_timeout(100)


def url_config(page) -> FractalConfig:
    """The config the page's URL query holds (values as JSON, selector names and the
    view's decimals as text)."""
    values = {}
    for name, (text, *_) in parse_qs(urlparse(page.url).query).items():
        if name not in FractalConfig.param:
            continue
        if name in ("center_real", "center_imag", "span"):
            values[name] = text
            continue
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        values[name] = tuple(value) if isinstance(value, list) else value
    return FractalConfig(**values)


# -- driving the app ----------------------------------------------------------------------------
def colourful(pixels) -> bool:
    return distinct_colours(pixels) > 50


def changed(before):
    def differs(after) -> bool:
        # The axes' labels change width with the view: compared where both have pixels.
        h, w = min(before.shape[0], after.shape[0]), min(before.shape[1], after.shape[1])
        moved = np.any(before[:h, :w] != after[:h, :w], axis=-1)
        return colourful(after) and np.mean(moved) > 0.3

    return differs


def link(app, **query) -> str:
    text = urlencode(
        {k: json.dumps(list(v)) if isinstance(v, tuple) else v for k, v in query.items()}
    )
    return app.url + (f"?{text}" if text else "")


def view_of(config: FractalConfig) -> dict:
    """The link query that shows ``config``'s computed view."""
    names = ("fractal", "c_real", "c_imag", "max_iter", "width", "height")
    names += ("center_real", "center_imag", "span")
    return {name: getattr(config, name) for name in names}


def slider_handle(page, label: str):
    """The handle of the slider labelled ``label`` ("c (real)", "Max iterations")."""
    return page.locator(".bk-panel-models-layout-Column", has_text=label).last.locator(
        ".noUi-handle"
    )


def set_max_iter(page, value: int) -> None:
    box = page.locator(".fractal-controls input").nth(2)
    box.fill(str(value))
    box.press("Enter")


#: The password of the tests' apps behind Panel's ``--basic-auth`` (any user name).
PASSWORD = "open-sesame-4711"


def log_in(page, app, user: str) -> None:
    """Log ``user`` in through Panel's own login form, in ``page``'s browser context."""
    page.goto(app.url.rsplit("/", 1)[0] + "/login")
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(lambda url: "/login" not in url)


# -- the HTTP API ---------------------------------------------------------------------------------
def js(app, method: str, path: str, body=None, raw: bytes | None = None, **headers):
    """``(status, JSON body)`` of one API request (JSON ``body`` or ``raw`` bytes, more
    ``headers``); the answer must be JSON, errors included."""
    status, answered, data = app.request(method, path, body, raw, headers=headers)
    assert answered["Content-Type"].startswith("application/json"), data[:200]
    return status, json.loads(data)


def token(value: str) -> dict:
    """The header an anonymous client lets go of its job with (``js(..., **token(t))``)."""
    return {"X-Job-Token": value}


def finished(app, job_id: str, limit: float = 120.0) -> dict:
    """The job ``job_id`` as the API describes it once it has ended."""

    def ended() -> dict | None:
        status, job = js(app, "GET", f"/api/jobs/{job_id}")
        assert status == 200
        return job if job["state"] in ("done", "cached", "failed", "cancelled") else None

    return wait_until(ended, f"job {job_id} to finish", limit=limit)


def logged_in(app, user: str):
    """An opener holding ``user``'s login cookie (Panel's login form), and the base URL."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = app.url.rsplit("/", 1)[0]
    form = urlencode({"username": user, "password": PASSWORD}).encode()
    opener.open(base + "/login", data=form, timeout=60).close()
    return opener, base


def as_user(opener, base: str, method: str, path: str, body=None):
    """``(status, JSON body)`` of one API request with a :func:`logged_in` opener."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with opener.open(request, timeout=60) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
