"""Bad input through the app itself: malformed links.

* Links: a real `panel serve app.py` opened by plain HTTP GET for many generated bad
  queries (Bokeh builds the session, explorer included, on the page's GET: a traceback
  would be a 500, or a traceback in the server's log, which the fixture checks as it
  stops the server), and a few in chromium: the message shows, and frames render.

Bad values typed into the widgets: tests/components/test_bad_widgets.py.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pages import deep_text, url_config, wait_state, wait_text, wait_url

from components.testing import ROOT
from compute.fractal import COMPUTE_PARAMS, DISPLAY_PARAMS, FractalConfig

pytestmark = [pytest.mark.cluster]

PARAMS = COMPUTE_PARAMS + DISPLAY_PARAMS
NOTE = "Ignored invalid values in the link"
OURS = (f"{ROOT}/components/", f"{ROOT}/compute/", f"{ROOT}/app.py", f"{ROOT}/api/")
CHECKED = settings(max_examples=40)  # (the profile: tests/conftest.py)


def refused_text(name: str):
    """Link texts that parameter ``name`` must refuse, as a hand-edited link holds them."""
    p = FractalConfig.param[name]
    junk = st.one_of(
        st.sampled_from(["true", "false", "null", "NaN", "-Infinity", "1e999", "", "[", "{}"]),
        # "\u00b2" makes Panel's own query parser raise (str.isdigit, but no int).
        st.sampled_from(["%", "<b>x</b>", "[1, 2j]", "{1, 2}", "[[0,1]]", "1_0", "\u00b2"]),
        st.text(max_size=10).map(lambda t: "~" + t),
    )
    if name in ("center_real", "center_imag", "span"):
        # Beyond the plane, beyond the deepest span, too many characters, no decimal.
        far = st.sampled_from(["4.5", "-9", "1e-1001", "0", "-1", "8.5", "1e400", "1" * 2100])
        malformed = st.sampled_from(["1..2", "0x10", "1e", "- 1", "1,5", "inf", "1_0e1"])
        return st.one_of(junk, far, malformed)
    if name in ("x_range", "y_range"):
        same = st.floats(min_value=-4, max_value=4).map(lambda v: json.dumps([v, v]))
        inverted = st.tuples(st.floats(0.1, 4), st.floats(-4, 0)).map(lambda v: json.dumps(v))
        wrong = st.sampled_from(["[0]", "[0, 1, 2]", "[-5, 0]", "[0, 1e999]", "[true, 1]", "5"])
        return st.one_of(junk, same, inverted, wrong)
    if name in ("fractal", "colormap", "normalization"):
        return st.one_of(junk, st.text(max_size=8)).filter(lambda t: t not in p.objects)
    lo, hi = p.bounds
    outside = st.one_of(st.integers(max_value=math.floor(lo) - 1), st.integers(min_value=hi + 1))
    values = [outside.map(str), junk]
    if name in ("max_iter", "width", "height"):
        values.append(st.sampled_from(["2.5", "64.5", "[64]"]))
    return st.one_of(values)


@st.composite
def bad_queries(draw) -> list[tuple[str, str]]:
    """A link's query with one to three bad values among good ones (and a stranger)."""
    bad = draw(st.lists(st.sampled_from(PARAMS), min_size=1, max_size=3, unique=True))
    pairs = [(name, draw(refused_text(name))) for name in bad]
    if draw(st.booleans()):
        pairs.insert(0, ("width", "256"))
    if draw(st.booleans()):
        pairs.append(("utm_source", draw(st.sampled_from(["mail", "", "[1,"]))))
    return pairs


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def our_tracebacks(log: str) -> list[str]:
    blocks = log.split("Traceback (most recent call last):")[1:]
    return [block for block in blocks if any(path in block for path in OURS)]


# -- links, served ----------------------------------------------------------------------------
@settings(CHECKED, max_examples=25)  # each is a session built by the server
@given(pairs=bad_queries())
@example(pairs=[("max_iter", "\u00b2"), ("width", "256")])  # Panel's parser raises on it
def test_bad_links_build_a_session_with_a_message(local_app, pairs):
    status, page = get(f"{local_app.url}?{urllib.parse.urlencode(pairs)}")
    assert status == 200, page[-2000:]
    assert not our_tracebacks(local_app.log()), pairs


@pytest.mark.browser
@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("y_range=[0,0]&width=256&height=256", "y_range"),
        ("span=1e-400&center_real=-0.75&width=256&height=256", "span"),
        ("max_iter=true&width=256&height=256", "max_iter"),
        ("fractal=<img src=x onerror=window.hacked=1>&max_iter=&width=256", "fractal"),
    ],
)
def test_a_bad_link_shows_its_message_and_frames_still_render(page, local_app, query, named):
    page.goto(f"{local_app.url}?{query}")
    message = wait_text(page, ".input-error", NOTE)
    assert named in message
    wait_state(page, "done", "cached")
    # The link now holds what is shown: the bad values replaced by the config's.
    shown = url_config(page)
    assert shown.width == 256
    assert page.evaluate("window.hacked") is None  # the link's text is text, not HTML
    page.get_by_role("button", name="mandelbrot").click()
    wait_url(page, lambda c: c.fractal == "mandelbrot", "fractal=mandelbrot")
    wait_state(page, "done", "cached")
    assert "Traceback" not in deep_text(page, "body")
