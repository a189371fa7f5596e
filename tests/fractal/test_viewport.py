"""Viewport: one canonical string per value, strict bounded parsing, exact gestures at any
depth, and agreement with FractalConfig's float64 ranges and pixel coordinates."""

from __future__ import annotations

import json
from decimal import Decimal, localcontext

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from compute import FractalConfig
from compute.fractal.config import PLANE
from compute.fractal.tiles import tile_tasks
from compute.fractal.viewport import (
    CENTRE_PLACES,
    DEFAULT_SPAN,
    MAX_CHARS,
    PLANE_RADIUS,
    Viewport,
    auto_max_iter,
    canonical,
)

FIELDS = ("center_real", "center_imag", "span")


def quantum(span: str) -> Decimal:
    """The centre's grid at ``span``: the rule the module documents."""
    return Decimal(1).scaleb(Decimal(span).adjusted() - CENTRE_PLACES)


def spans(deepest: int = -300, shallowest: int = 0, digits: int = 12):
    """Spans with at most ``digits`` significant digits, within [10**deepest, 8]."""
    return st.builds(
        lambda m, e: Decimal(m).scaleb(e - len(str(m)) + 1),
        st.integers(1, 10**digits - 1),
        st.integers(deepest, shallowest),
    ).filter(lambda s: Decimal(10) ** deepest <= s <= 8)


def long_centres(size: int = 330, whole: int = 3):
    """Centres of ``size`` decimals within (-whole - 1, whole + 1), as given by a person."""
    return st.builds(
        lambda sign, whole, frac: f"{sign}{whole}.{frac}",
        st.sampled_from(["", "-", "+"]),
        st.integers(0, whole),
        st.text("0123456789", min_size=size, max_size=size),
    )


# Floats as a browser sends them, and values on the offsets' 6-place grid with all their
# digits (the cases where the centre's 25 places are all needed).
anchors = st.one_of(st.floats(-0.5, 0.5), st.integers(-500_000, 500_000).map(lambda n: n / 1e6))


@pytest.fixture(autouse=True)
def exact_decimals():
    # The tests' own arithmetic on 330-digit centres must be exact too (28 digits by default).
    with localcontext(prec=5000):
        yield


# -- the canonical form ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spellings", "expected"),
    [
        (["0.1", "0.10", "1e-1", "+0.1", "0.1000", ".1", "00.1", "1E-1", "0.01e1"], "0.1"),
        (["0", "-0", "+0", "0.000", "-0e5", "0e-400"], "0"),
        (["-1.5", "-1.50", "-15e-1", "-0.15E+1"], "-1.5"),
        (["3", "3.", "3.000", "0.3e1", "300e-2"], "3"),
        (["0.000001", "1e-6", "10e-7"], "0.000001"),
        (["1e-7", "0.0000001", "0.10e-6"], "1e-7"),
        (["3.2e-213", "32e-214", "0.32000e-212"], "3.2e-213"),
        (["-1.25e-7", "-0.000000125"], "-1.25e-7"),
    ],
)
def test_equal_values_have_one_string(spellings, expected):
    assert {canonical(Decimal(s)) for s in spellings} == {expected}
    # As a span the value is rounded too, so the check runs where all of them fit.
    for spelling in spellings:
        if Decimal(spelling) > 0:
            assert Viewport("0", "0", spelling).span == expected
        assert Viewport(spelling, "0", "1e-200").center_real == expected


@given(spans(), long_centres(40), st.integers(0, 5), st.booleans())
def test_spellings_of_a_viewport_are_one_value(span, centre, zeros, plus):
    v = Viewport(centre, "0", canonical(span))
    real = Decimal(v.center_real)
    # The same value in other notations: trailing zeros, another exponent, a plus sign.
    sign, digits, exponent = real.as_tuple()
    padded = Decimal((sign, digits + (0,) * zeros, exponent - zeros))
    spellings = {str(real), f"{real:f}", f"{padded:E}", str(padded)}
    if not sign:
        spellings.add(f"+{real:e}")
    for spelling in spellings:
        w = Viewport(spelling, "-0", f"{span:e}")
        assert w == v
        assert w.to_strings() == v.to_strings()
        assert hash(w) == hash(v)
    # The canonical string is the value itself, and parses back to the same viewport.
    assert Decimal(v.center_real) == real
    assert Viewport(*v.to_strings()) == v


@given(spans(-300, -5), long_centres(), long_centres())
def test_deep_round_trip(span, real, imag):
    v = Viewport.from_strings(real, imag, canonical(span))
    assert Viewport.from_strings(*v.to_strings()).to_strings() == v.to_strings()
    again = json.loads(json.dumps(v.to_dict()))
    assert all(isinstance(value, str) for value in again.values())
    assert Viewport.from_dict(again) == v
    # The centre is the given one rounded to a sub-pixel grid: 1/16 pixel at 4096 px or
    # finer, and no finer than the documented rule.
    q = quantum(v.span)
    assert q <= Decimal(v.span) / 65536
    for given_value, kept in ((real, v.center_real), (imag, v.center_imag)):
        assert abs(Decimal(kept) - Decimal(given_value)) <= q / 2
        assert Decimal(kept) % q == 0
    # About 330 digits at 1e-300, never more than the depth needs.
    digits = len(Decimal(v.center_real).as_tuple().digits)
    assert digits <= 1 + CENTRE_PLACES - Decimal(v.span).adjusted()


def test_a_span_keeps_20_significant_digits():
    assert Viewport("0", "0", "1.234567890123456789050001").span == "1.2345678901234567891"
    assert Viewport("0", "0", "1.23456789012345678905").span == "1.234567890123456789"  # even
    assert Viewport("0", "0", "9.99999999999999999995e-5").span == "0.0001"


def test_a_centre_at_the_deepest_span_has_about_330_digits():
    v = Viewport("-1." + "7" * 400, "0", "1e-300")
    # 25 places below the span's leading digit: "-1." and 325 decimals.
    assert len(v.center_real) == 3 + 325
    assert v.center_real.startswith("-1.777")
    assert v.center_real.endswith("8")  # rounded


# -- strict parsing ----------------------------------------------------------------------------

MALFORMED = [
    "abc",
    "1e",
    "e5",
    "nan",
    "NaN",
    "inf",
    "-Infinity",
    "1_0",
    "1 0",
    " 1",
    "1\n",
    "0x10",
    "",
    "-",
    ".",
    "1.2.3",
    "١",
    "1e+-3",
    "--1",
]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_decimals_are_refused_by_name(field, bad):
    values = dict(center_real="0", center_imag="0", span="1")
    values[field] = bad
    with pytest.raises(ValueError, match=f"^{field} must be a finite decimal"):
        Viewport(**values)


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("bad", [0.1, 1, None, b"0.1", Decimal("0.1"), ["0.1"]])
def test_non_strings_are_refused_by_name(field, bad):
    values = dict(center_real="0", center_imag="0", span="1")
    values[field] = bad
    with pytest.raises(ValueError, match=f"^{field} must be a decimal string"):
        Viewport(**values)


@pytest.mark.parametrize("field", FIELDS)
def test_over_long_strings_are_refused_with_the_limit(field):
    values = dict(center_real="0", center_imag="0", span="1")
    values[field] = "0." + "1" * MAX_CHARS
    with pytest.raises(ValueError, match=f"^{field} has {MAX_CHARS + 2} characters.*{MAX_CHARS}"):
        Viewport(**values)
    assert len(repr(values[field])) > 100  # and the message quotes a short excerpt only


@pytest.mark.parametrize(
    ("field", "value", "limit"),
    [
        ("span", "0", "positive"),
        ("span", "-1e-5", "positive"),
        ("span", "8.000000000000000000000000001", "at most 8"),
        ("span", "1e999999999", "at most 8"),
        ("span", "9.99e-1001", "at least 1e-1000"),
        ("span", "1e-999999999", "at least 1e-1000"),
        ("center_real", "4.0000000000000000000000000000000001", "±4"),
        ("center_real", "-1e999999999", "±4"),
        ("center_imag", "-4.5", "±4"),
        ("center_imag", "1e-99999999999999999999999", "exponent is out of range"),
    ],
)
def test_values_beyond_the_limits_are_refused_by_name(field, value, limit):
    values = dict(center_real="0", center_imag="0", span="1")
    values[field] = value
    with pytest.raises(ValueError, match=f"^{field}.*{limit}"):
        Viewport(**values)


def test_the_depth_limit_is_configurable():
    assert Viewport("0", "0", "1e-300").span == "1e-300"
    assert Viewport("0", "0", "1e-400", min_span="1e-500").span == "1e-400"
    with pytest.raises(ValueError, match=r"^span must be at least 1e-100 \(min_span"):
        Viewport("0", "0", "1e-101", min_span="1e-100")
    for bad in ("1e-1001", "0", "9", "x"):
        with pytest.raises(ValueError, match=r"^min_span"):
            Viewport("0", "0", "1", min_span=bad)
    # Gestures keep the limit, and a too deep zoom is refused with it.
    shallow = Viewport("0", "0", "1e-99", min_span="1e-100")
    with pytest.raises(ValueError, match=r"^span must be at least 1e-100"):
        shallow.zoom(16, 0, 0)
    assert shallow.pan(0.1, 0).min_span == "1e-100"
    # The limit is no part of the value.
    assert Viewport("0", "0", "1", min_span="1e-10") == Viewport("0", "0", "1")


@given(st.sampled_from(FIELDS), st.text(max_size=30))
def test_any_text_is_a_viewport_or_a_named_value_error(field, text):
    values = dict(center_real="0", center_imag="0", span="1")
    values[field] = text
    try:
        v = Viewport(**values)
    except ValueError as error:
        message = str(error)
    else:
        assert Viewport(*v.to_strings()) == v
        return
    assert message.startswith(field)


# -- gestures ------------------------------------------------------------------------------------


# Half this span has 20 digits: the anchor's offset then needs all 25 places.
@example(Decimal("2.4691357802469135782e-10"), "0.1", "-0.2", 0.123457, -0.499999, 1)
@given(
    spans(-280, -1, digits=14),
    long_centres(60, 2),
    long_centres(60, 2),
    anchors,
    anchors,
    st.integers(1, 8),
)
def test_zoom_in_then_out_is_the_identity(span, real, imag, ax, ay, k):
    v = Viewport(real, imag, canonical(span))
    deeper = v.zoom(2.0**k, ax, ay)
    assert Decimal(deeper.span) == Decimal(v.span) / 2**k
    # The point under the anchor stays put, exactly.
    a = [Decimal(x).quantize(Decimal("1e-6")) for x in (ax, ay)]
    for axis, name in enumerate(("center_real", "center_imag")):
        before = Decimal(getattr(v, name)) + a[axis] * Decimal(v.span)
        after = Decimal(getattr(deeper, name)) + a[axis] * Decimal(deeper.span)
        assert before == after
    assert deeper.zoom(2.0**-k, ax, ay) == v


@given(spans(-280, -4), long_centres(60, 2), anchors, anchors, st.integers(1, 8))
def test_zoom_out_then_in_moves_the_centre_by_a_sub_pixel_only(span, real, ax, ay, k):
    v = Viewport(real, "-0.5", canonical(span))
    back = v.zoom(2.0**-k, ax, ay).zoom(2.0**k, ax, ay)
    assert back.span == v.span
    shallow_grid = quantum(canonical(span * 2**k))
    assert abs(Decimal(back.center_real) - Decimal(v.center_real)) <= shallow_grid
    assert shallow_grid <= Decimal(v.span) * 2**k / 65536  # a 1/16 pixel at 4096 px


@given(
    long_centres(),
    long_centres(),
    st.one_of(st.floats(-3, 3), anchors),
    st.one_of(st.floats(-3, 3), anchors),
    st.sampled_from(["1e-300", "1.2345678901234567891e-280"]),  # 1 or 20 digits
)
def test_pan_is_exact_at_the_deepest_span(real, imag, dx, dy, span):
    v = Viewport(real, imag, span)
    moved = v.pan(dx, dy)
    step = [Decimal(d).quantize(Decimal("1e-6")) * Decimal(span) for d in (dx, dy)]
    assert Decimal(moved.center_real) - Decimal(v.center_real) == step[0]
    assert Decimal(moved.center_imag) - Decimal(v.center_imag) == step[1]
    assert moved.span == v.span
    assert moved.pan(-dx, -dy) == v


def test_a_quarter_span_pan():
    v = Viewport("-1." + "25" * 160, "0.1", "3.2e-300")
    moved = v.pan(0.25, -0.25)
    assert Decimal(moved.center_real) == Decimal(v.center_real) + Decimal("0.8e-300")
    assert Decimal(moved.center_imag) == Decimal("0.1") - Decimal("0.8e-300")


def test_recentre_on_a_box():
    v = Viewport("0.1", "0", "3.2")
    # A box zoom on the middle half: same centre, half the span.
    assert v.recentre(-0.25, 0.25, -0.25, 0.25) == Viewport("0.1", "0", "1.6")
    # A drag: the same size, moved; the browser's float noise is dropped.
    assert v.recentre(-0.4, 0.6000000000000001, -0.5, 0.5) == Viewport("0.42", "0", "3.2")
    # A box of another aspect: its x width wins, its middle is the centre.
    assert v.recentre(-0.1, 0.3, 0.0, 0.2) == Viewport("0.42", "0.32", "1.28")
    deep = Viewport("0." + "3" * 320, "0", "1e-290")
    boxed = deep.recentre(0.0, 0.125, -0.0625, 0.0625)
    assert Decimal(boxed.center_real) == Decimal(deep.center_real) + Decimal("0.0625e-290")
    assert boxed.span == "1.25e-291"


@pytest.mark.parametrize(
    ("gesture", "args", "name"),
    [
        ("zoom", (0, 0, 0), "factor"),
        ("zoom", (float("nan"), 0, 0), "factor"),
        ("zoom", (2, float("inf"), 0), "anchor_x"),
        ("zoom", (2, 0, True), "anchor_y"),
        ("zoom", (1e-3, 0, 0), "span"),  # beyond the whole plane
        ("zoom", (1e300, 0, 0), "span"),  # beyond the depth limit
        ("pan", (2.0, 0), "center_real"),
        ("pan", (0, "0.1"), "dy"),
        ("recentre", (0.5, -0.5, 0, 1), "the box"),
        ("recentre", (0, 1, 0, float("nan")), "y1"),
    ],
)
def test_gestures_refuse_by_name(gesture, args, name):
    v = Viewport("2.5", "0", "3.2e-705" if args == (1e300, 0, 0) else "4")
    with pytest.raises(ValueError, match=f"^{name}"):
        getattr(v, gesture)(*args)


# -- the old float64 ranges ---------------------------------------------------------------------


def test_default_view_and_constants_agree_with_fractal_config():
    cfg = FractalConfig()
    v = Viewport.from_ranges(cfg.x_range, cfg.y_range, cfg.width, cfg.height)
    assert v.to_strings() == ("0", "0", "3.2")
    assert v.to_ranges(cfg.width, cfg.height) == (cfg.x_range, cfg.y_range)
    assert Decimal(repr(cfg.x_range[1] - cfg.x_range[0])) == DEFAULT_SPAN
    assert tuple(map(Decimal, PLANE)) == (-PLANE_RADIUS, PLANE_RADIUS)
    assert v.zoom_level == 1
    assert v.shallow(cfg.width)


def test_a_non_square_range_keeps_its_x_span_and_y_middle():
    v = Viewport.from_ranges((-2.0, 2.0), (0.0, 1.0), 200, 100)
    assert v.to_strings() == ("0", "0.5", "4")
    # The y range follows the frame's aspect: 4 * 100/200 = 2 high, around 0.5.
    assert v.to_ranges(200, 100) == ((-2.0, 2.0), (-0.5, 1.5))
    # A square range already of the frame's aspect comes back as it was.
    assert Viewport.from_ranges((-2.0, 1.0), (0.0, 1.0), 300, 100).to_ranges(300, 100) == (
        (-2.0, 1.0),
        (0.0, 1.0),
    )


@given(
    st.floats(-3, 3),
    st.floats(-3, 3),
    st.floats(1e-9, 1),
    st.integers(16, 4096),
    st.integers(16, 4096),
)
def test_ranges_round_trip_for_shallow_views(x, y, span, width, height):
    x_range = (x - span / 2, x + span / 2)
    y_range = (y - span * height / width / 2, y + span * height / width / 2)
    v = Viewport.from_ranges(x_range, y_range, width, height)
    (x0, x1), (y0, y1) = v.to_ranges(width, height)
    # x comes back; y keeps its middle and takes the x width's height (they differ by the
    # float rounding of the ranges given). Floats are read as their shortest repr.
    (a, b), (c, d) = ([Decimal(repr(v)) for v in pair] for pair in (x_range, y_range))
    middle, half = (c + d) / 2, (b - a) * height / width / 2
    for got, want in zip(
        (x0, x1, y0, y1), (*x_range, float(middle - half), float(middle + half)), strict=True
    ):
        assert abs(got - want) <= np.spacing(abs(want))


@given(st.floats(-2, 2), st.floats(-2, 2), spans(-14, -1), st.integers(16, 4096))
def test_shallow_views_pass_fractal_configs_precision_check(x, y, span, width):
    v = Viewport(repr(x), repr(y), canonical(span))
    height = min(4096, width * 2)
    pixel = span / width
    limit = Decimal(2) ** -40 * max(
        Decimal(1), abs(Decimal(v.center_real)), abs(Decimal(v.center_imag))
    )
    assert v.shallow(width) == (pixel >= limit)
    if v.shallow(width):
        x_range, y_range = v.to_ranges(width, height)
        FractalConfig(x_range=x_range, y_range=y_range, width=width, height=height, max_iter=10)


def test_shallow_threshold():
    # 2**-40 is 9.095e-13: a pixel of 1e-9 / 1099 = 9.099e-13 is shallow, 1e-9 / 1100 not.
    assert Viewport("0", "0", "1e-9").shallow(1099)
    assert not Viewport("0", "0", "1e-9").shallow(1100)
    assert Viewport("0.5", "-1", "1e-9").shallow(1099)
    assert not Viewport("-3", "0", "1e-9").shallow(1099)  # the bound scales with |centre|
    assert Viewport("0", "-3", "3e-9").shallow(1099)
    assert not Viewport("0", "3.01", "3e-9").shallow(1099)
    assert not Viewport("0", "0", "1e-300").shallow(16)


# -- renderers' helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(16, 16), (64, 16), (17, 33), (1000, 600)])
def test_pixel_offsets_match_the_tiles_pixel_coordinates(width, height):
    v = Viewport("-0.7436438870371587", "0.1318259042053", "0.0123")
    x_range, y_range = v.to_ranges(width, height)
    cfg = FractalConfig(x_range=x_range, y_range=y_range, width=width, height=height)
    (task,) = tile_tasks(cfg, grid=(1, 1))
    dx, dy = v.pixel_offsets(width, height)
    assert dx.shape == (width,)
    assert dy.shape == (height,)
    assert dx.dtype == dy.dtype == np.float64
    real, imag, span = (float(d) for d in v.decimals())
    pixel = span / width
    np.testing.assert_allclose(real + dx * span, task.xs, rtol=0, atol=1e-6 * pixel)
    np.testing.assert_allclose(imag + dy * span, task.ys, rtol=0, atol=1e-6 * pixel)
    # Right is +x, and row 0 the bottom (y_range[0]); pixels are square and centred.
    assert np.all(np.diff(dx) > 0)
    assert np.all(np.diff(dy) > 0)
    np.testing.assert_allclose(np.diff(dy), 1 / width)
    np.testing.assert_allclose(dx + dx[::-1], 0, atol=1e-15)
    assert dy[0] == pytest.approx(-(height - 1) / (2 * width))


def test_zoom_level_and_description():
    v = Viewport("-0.75", "0.1", "2e-85")
    assert v.zoom_level == Decimal("1.6e85")
    assert v.describe() == "zoom 1.6e+85 at -0.75+0.1i"
    assert Viewport("0", "0", "0.32").describe() == "zoom 10 at 0+0i"


def test_auto_max_iter_grows_with_depth():
    assert auto_max_iter("3.2") == auto_max_iter("8") == 200
    assert auto_max_iter(Viewport("0", "0", "3.2e-10")) == 200 + round(100 * 10**1.3)
    depths = [auto_max_iter(f"1e-{k}") for k in range(0, 301, 10)]
    assert depths == sorted(depths)
    assert len(set(depths)) == len(depths)
    assert all(isinstance(n, int) for n in depths)
    assert 150_000 < auto_max_iter("1e-300") < 180_000
    assert auto_max_iter(1e-300) == auto_max_iter("1e-300")
    assert auto_max_iter("1e-1000") > auto_max_iter("1e-300")
    for bad in ("0", "abc", 0.0, -1.0, float("nan"), Decimal("NaN")):
        with pytest.raises(ValueError, match=r"^span"):
            auto_max_iter(bad)
