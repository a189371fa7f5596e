"""The HTTP API under generated bad requests: a real `panel serve app.py --plugins api` on
a `dask scheduler` + `dask worker`, driven by Hypothesis through a real HTTP client.

Every generated body or query is wrong in at least one way (not JSON, JSON of the wrong
shape, an unknown field, a bad kind, a bad or unknown parameter, over a budget), so each
must get a 4xx JSON error with a message: never a 500, never a traceback (the server's
log is checked when the fixture stops it), and the server still serves a good request.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compute.engine.testing import wait_until
from compute.fractal import COMPUTE_PARAMS, DISPLAY_PARAMS, FractalConfig
from compute.fractal.config import LEGACY_PARAMS, VIEW_PARAMS

pytestmark = [pytest.mark.cluster]

PARAMS = COMPUTE_PARAMS + DISPLAY_PARAMS + LEGACY_PARAMS
CHECKED = settings(max_examples=200)  # (the profile: tests/conftest.py)
LIGHT = {"max_iter": 60, "width": 96, "height": 64, "c_real": -0.7, "c_imag": 0.2}


def call(app, method: str, path: str, data: bytes | None = None):
    """``(status, content type, body)`` of one request; HTTP errors are answers too."""
    status, headers, body = app.request(method, path, raw=data)
    return status, headers["Content-Type"], body


def assert_refused(app, method: str, path: str, data: bytes | None = None) -> dict:
    """The JSON error of a request that must be refused: a 4xx with a message."""
    status, kind, body = call(app, method, path, data)
    assert kind.startswith("application/json"), (status, body[:200])
    answer = json.loads(body)
    assert 400 <= status < 500, (status, answer, data, path)
    assert answer["status"] == status, answer
    assert isinstance(answer["error"], str), answer
    assert answer["error"].strip(), answer
    assert "Traceback" not in answer["error"], answer
    return answer


# JSON's own scalars (strict JSON: no NaN), as a client may send any of them anywhere.
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
not_numbers = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=8),
    st.lists(json_scalars, max_size=2),
    st.dictionaries(st.text(max_size=3), json_scalars, max_size=1),
)


def refused_by(name: str):
    """JSON values that parameter ``name`` of FractalConfig must refuse."""
    if name in ("x_range", "y_range"):  # the old view, still read
        lo, hi = -4.0, 4.0
        pairs_out = st.tuples(st.floats(min_value=-1e6, max_value=lo - 1e-9), st.just(hi))
        same = st.floats(min_value=lo, max_value=hi).map(lambda v: [v, v])
        inverted = st.tuples(
            st.floats(min_value=0.1, max_value=hi), st.floats(min_value=lo, max_value=0)
        ).map(list)
        wrong_length = st.lists(st.floats(min_value=-1, max_value=1), max_size=4).filter(
            lambda v: len(v) != 2
        )
        wrong_kind = st.lists(not_numbers, min_size=2, max_size=2)
        return st.one_of(
            not_numbers.filter(lambda v: not isinstance(v, list)),
            pairs_out.map(list),
            same,
            inverted,
            wrong_length,
            wrong_kind,
        )
    p = FractalConfig.param[name]
    if name in VIEW_PARAMS:
        return bad_decimals  # (a JSON number, too, in a body: see bad_deep_params)
    if name in ("max_iter", "width", "height", "c_real", "c_imag"):
        lo, hi = p.bounds
        beyond = st.one_of(
            st.integers(max_value=math.floor(lo) - 1), st.integers(min_value=math.ceil(hi) + 1)
        )
        outside = st.one_of(beyond, st.floats(min_value=hi + 0.5, max_value=1e300))
        if name in ("max_iter", "width", "height"):
            fractional = st.floats(min_value=lo, max_value=hi).filter(lambda v: not v.is_integer())
            # (max_iter may be null: it then grows with depth.)
            wrong = not_numbers.filter(lambda v: v is not None or name != "max_iter")
            return st.one_of(wrong, outside, fractional)
        return st.one_of(not_numbers, outside)
    return st.one_of(st.text(max_size=12), not_numbers).filter(lambda v: v not in p.objects)


def good_value(name: str):
    if name in ("x_range", "y_range"):
        return st.just([-1.6, 1.6])
    p = FractalConfig.param[name]
    if hasattr(p, "objects"):
        return st.sampled_from(p.objects)
    return st.just(p.default)


@st.composite
def bad_params(draw) -> dict:
    """A config's params with at least one bad value or one unknown name."""
    params = draw(st.dictionaries(st.sampled_from(PARAMS), st.none(), max_size=3))
    params = {name: draw(good_value(name)) for name in params}
    if draw(st.booleans()):
        name = draw(st.sampled_from(PARAMS))
        params[name] = draw(refused_by(name))
    else:
        unknown = draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in PARAMS))
        params[unknown] = draw(json_values)
    return params


over_budget = st.fixed_dictionaries(
    {"width": st.integers(2048, 4096), "height": st.integers(2048, 4096)}
).map(lambda p: {**p, "max_iter": 20_000})


@st.composite
def bad_movie_params(draw) -> dict:
    choice = draw(st.sampled_from(["view", "count", "unknown", "not an object"]))
    if choice == "view":
        return {draw(st.sampled_from(["start", "end"])): draw(bad_params() | json_scalars)}
    if choice == "count":
        name = draw(st.sampled_from(["frames", "fps", "width", "height"]))
        return {name: draw(not_numbers | st.integers(max_value=0) | st.just(10**9))}
    if choice == "unknown":
        known = ("start", "end", "frames", "fps", "width", "height", "colormap", "normalization")
        return {draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in known)): 1}
    return draw(st.lists(json_scalars, max_size=2) | json_scalars)


#: Decimal strings no view may have: malformed, too deep, too long, out of the plane.
bad_decimals = st.one_of(
    st.sampled_from(["", "abc", "1e", "nan", "inf", "-inf", "1_0", "0x10", " 1"]),
    # (Without a digit no text is a decimal.)
    st.text(max_size=6).filter(lambda t: not any(ch.isdigit() for ch in t)),
    st.integers(9, 10**6).map(str),
    st.just("1" + "0" * 3000),
)


#: JSON values that are no string: a decimal given as a JSON number is refused, not read.
no_strings = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False)
)


@st.composite
def bad_deep_params(draw) -> dict:
    """A deep view's params with one bad value: a decimal, a number as JSON, a count."""
    name = draw(st.sampled_from(["center_real", "center_imag", "span", "max_iter", "width"]))
    if name in ("max_iter", "width"):
        # (A deep view's max_iter may be null: it then grows with depth.)
        wrong = not_numbers.filter(lambda v: v is not None)
        return {name: draw(wrong | st.integers(max_value=0) | st.just(10**9))}
    if name == "span":
        # (1e-400 is a fine centre, 0 at any depth here, but no span.)
        too = st.sampled_from(["0", "-1e-10", "9", "1e-400"])
        return {name: draw(bad_decimals | too | no_strings)}
    return {name: draw(bad_decimals | no_strings)}


bad_bodies = st.one_of(
    # JSON of the wrong shape.
    json_values.filter(lambda v: not isinstance(v, dict)),
    # Fields the API does not know, beside anything.
    st.dictionaries(
        st.text(max_size=8).filter(lambda k: k not in ("kind", "params")),
        json_values,
        min_size=1,
        max_size=2,
    ).map(lambda extra: {"kind": "frame", "params": LIGHT, **extra}),
    # Kinds the API does not know.
    json_values.filter(lambda k: k not in ("frame", "movie", "deep")).map(
        lambda kind: {"kind": kind, "params": LIGHT}
    ),
    # A frame's params: not an object, a bad value, an unknown name, over the budget.
    json_values.filter(lambda v: not isinstance(v, dict)).map(
        lambda p: {"kind": "frame", "params": p}
    ),
    bad_params().map(lambda p: {"kind": "frame", "params": p}),
    over_budget.map(lambda p: {"kind": "frame", "params": p}),
    bad_movie_params().map(lambda p: {"kind": "movie", "params": p}),
    bad_deep_params().map(lambda p: {"kind": "deep", "params": p}),
)


def not_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return True
    return False


raw_bodies = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=30).map(str.encode),
    st.sampled_from([b"{", b"[1,", b'{"kind": "frame", "params": {"c_real": NaN}}', b"Infinity"]),
).filter(not_json)


@CHECKED
@given(body=bad_bodies)
def test_bad_job_bodies_get_a_4xx_json_error(api_app, body):
    assert_refused(api_app, "POST", "/api/jobs", json.dumps(body).encode())


@CHECKED
@given(data=raw_bodies)
def test_bodies_that_are_no_json_get_a_400(api_app, data):
    answer = assert_refused(api_app, "POST", "/api/jobs", data)
    assert answer["status"] == 400


@st.composite
def bad_queries(draw) -> str:
    """An app URL query for /api/frame.png with at least one bad value."""
    # wait=0 first: a bad wait below comes last, and the last of a name is the one read.
    pairs = [("wait", "0")]
    for name in draw(st.lists(st.sampled_from(PARAMS), max_size=2, unique=True)):
        pairs.append((name, json.dumps(draw(good_value(name)))))
    choice = draw(st.sampled_from(["value", "text", "unknown", "wait", "display"]))
    name = draw(st.sampled_from(PARAMS))
    if choice == "value":
        pairs.append((name, json.dumps(draw(refused_by(name)))))
    elif choice == "text":  # what a hand-edited link holds: not JSON, nor a name
        pairs.append((name, "~" + draw(st.text(max_size=12))))
    elif choice == "unknown":
        known = (*PARAMS, "wait", "format")
        pairs.append((draw(st.text(min_size=1, max_size=8).filter(lambda k: k not in known)), "1"))
    elif choice == "wait":
        pairs.append(("wait", draw(st.sampled_from(["soon", "nan", "", "1e999x", "[1]"]))))
        pairs.append(("max_iter", "true"))
    else:  # a bad display parameter along with a bad value: refused before any work
        display = draw(st.sampled_from(["colormap", "normalization"]))
        pairs.append((display, draw(st.text(max_size=8))))
        pairs.append(("width", "[]"))
    return urllib.parse.urlencode(pairs)


@CHECKED
@given(query=bad_queries())
def test_bad_frame_png_queries_get_a_4xx_json_error(api_app, query):
    assert_refused(api_app, "GET", f"/api/frame.png?{query}")


def test_a_body_over_the_limit_gets_413_and_good_requests_still_work(api_app):
    big = json.dumps({"kind": "frame", "params": {"fractal": "x" * 70_000}}).encode()
    assert assert_refused(api_app, "POST", "/api/jobs", big)["status"] == 413
    # After everything above: the server answers a good request, and computes it.
    status, _, body = call(
        api_app, "POST", "/api/jobs", json.dumps({"kind": "frame", "params": LIGHT}).encode()
    )
    assert status == 202, body
    job_id = json.loads(body)["id"]
    assert job_id == FractalConfig(**LIGHT).key

    def ended() -> dict | None:
        status, _, body = call(api_app, "GET", f"/api/jobs/{job_id}")
        assert status == 200, body
        job = json.loads(body)
        return job if job["state"] in ("done", "cached", "failed", "cancelled") else None

    # A hang guard, not a timing check.
    job = wait_until(ended, f"job {job_id} to finish", limit=120)
    assert job["state"] in ("done", "cached")
    status, kind, png = call(api_app, "GET", f"/api/jobs/{job_id}/result")
    assert png.startswith(b"\x89PNG")
    assert (status, kind) == (200, "image/png")
