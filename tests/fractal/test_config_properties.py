"""FractalConfig under generated input: every value either makes a valid config or is
refused with a ValueError (or TypeError) whose message names the parameter; nothing
else escapes, and a valid config survives JSON through to_dict/from_dict."""

from __future__ import annotations

import fractions
import json
import math
import numbers

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from compute import FractalConfig
from compute.fractal import FrameWork
from compute.fractal.config import (
    COMPUTE_PARAMS,
    DISPLAY_PARAMS,
    FRAME_BUDGET,
    LEGACY_PARAMS,
    MAX_ITER,
)

PARAMS = COMPUTE_PARAMS + DISPLAY_PARAMS
# Given at construction only: the old view, read back as properties.
MADE_WITH = PARAMS + LEGACY_PARAMS
# Decimal strings of every kind: canonical or not, at and beyond the bounds (±4, 8, 1e-300),
# deeper than float64 can tell pixels apart, malformed, and floats that are no strings.
decimals = st.one_of(
    st.sampled_from(
        ["0", "-0", "-0.75", "0.10", "1e-1", "+1.5E-3", "4", "-4.0000001", "8", "8.01",
         "1e-9", "1e-20", "3.2e-213", "1e-300", "1e-301", "1e-400", "", "abc", "1e", "nan",
         "Infinity", "1_0", " 1", "١", "1" * 3000]
    ),
    st.decimals(allow_nan=False, allow_infinity=False, places=30).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-400, 5).map(lambda e: f"1.25e{e}"),
)  # fmt: skip
CHECKED = settings(max_examples=300)  # (the profile: tests/conftest.py)
# What Python code may hand the config as a number: bools (ints, to Python), NaN and the
# infinities, ints beyond any float, numpy's scalars, fractions and complex numbers.
numbers_of_all_kinds = st.one_of(
    st.booleans(),
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**63]),
    st.floats(),
    st.floats(width=32).map(np.float32),
    st.integers(-(2**31), 2**31 - 1).map(np.int64),
    st.fractions(max_denominator=1000).map(fractions.Fraction),
    st.complex_numbers(max_magnitude=3),
)
scalars = st.one_of(st.none(), numbers_of_all_kinds, st.text(max_size=12))
anything = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.lists(scalars, max_size=3).map(tuple),
    st.tuples(numbers_of_all_kinds, numbers_of_all_kinds),
    st.dictionaries(st.text(max_size=4), scalars, max_size=2),
    st.just(lambda: 1.0),  # param would take a callable as a dynamic value
)


def plausible(name: str):
    """Values near what the parameter takes: within, at and just beyond its bounds."""
    if name in ("x_range", "y_range"):
        ends = st.one_of(st.floats(min_value=-5, max_value=5), st.sampled_from([-4.0, 0.0, 4.0]))
        near = ends.flatmap(lambda lo: st.tuples(st.just(lo), st.sampled_from([lo, lo + 1e-15])))
        return st.one_of(st.tuples(ends, ends), near)
    p = FractalConfig.param[name]
    if name in ("max_iter", "width", "height"):
        lo, hi = p.bounds
        return st.one_of(st.integers(lo - 2, hi + 2), st.sampled_from([lo, hi]))
    if name in ("c_real", "c_imag"):
        return st.floats(min_value=-2.5, max_value=2.5)
    if name in ("center_real", "center_imag", "span"):
        return decimals
    return st.one_of(st.sampled_from(p.objects), st.text(max_size=8))


values_of = {name: st.one_of(plausible(name), anything) for name in MADE_WITH}
some_values = st.fixed_dictionaries({}, optional=values_of)
# Mostly valid values, over the budget more often than not.
large = st.fixed_dictionaries(
    {
        "width": st.integers(16, 4096),
        "height": st.integers(16, 4096),
        "max_iter": st.integers(1, MAX_ITER),
    }
)


def attempt(make, *args):
    """``(result, None)``, or ``(None, message)`` of a refusal; anything else escapes."""
    try:
        return make(*args), None
    except (ValueError, TypeError) as exc:
        return None, str(exc)


def assert_well_formed(config: FractalConfig) -> None:
    for name in ("c_real", "c_imag", "max_iter", "width", "height"):
        value = getattr(config, name)
        assert isinstance(value, numbers.Real), name
        assert not isinstance(value, bool), name
        assert math.isfinite(value), name
    for name in ("center_real", "center_imag", "span"):
        assert isinstance(getattr(config, name), str), name
    assert config.viewport.to_dict() == {
        name: getattr(config, name) for name in ("center_real", "center_imag", "span")
    }, "not canonical"
    if not config.deep:
        # The centre lies within ±4 and the span is at most 8: x stays within ±8. The
        # height follows the frame's aspect (square pixels), so a tall frame's y range
        # may reach far beyond the plane: finite, increasing, and of the frame's aspect.
        (x0, x1), (y0, y1) = config.x_range, config.y_range
        assert -8.0 <= x0 < x1 <= 8.0, "x_range"
        assert math.isfinite(y0), "y_range"
        assert math.isfinite(y1), "y_range"
        assert y0 < y1, "y_range"
        aspect = (y1 - y0) / (x1 - x0)
        assert math.isclose(aspect, config.height / config.width, rel_tol=1e-9), "not square"


def assert_round_trips(config: FractalConfig) -> None:
    stored = json.loads(json.dumps(config.to_dict(), allow_nan=False))
    again = FractalConfig.from_dict(stored)
    assert again.to_dict() == config.to_dict()
    assert (again.key, again.colormap, again.normalization) == (
        config.key,
        config.colormap,
        config.normalization,
    )


@CHECKED
@given(values=some_values)
# Found by Hypothesis: an int beyond float's range beside a NumPy float overflowed when
# the pair's order was checked (OverflowError, or NumPy's overflow warning).
@example(values={"y_range": (10**400, np.float32(0.0))})
@example(values={"x_range": (-(10**400), np.float32(1.0))})
# Found by Hypothesis: an old x_range too narrow for a Julia set is refused as the span it
# makes (the width of x_range is the view's span).
@example(values={"x_range": (0.0, 1e-15)})
def test_a_config_is_made_or_refused_naming_a_parameter(values):
    config, refused = attempt(lambda: FractalConfig(**values))
    if refused is not None:
        named = set(values) | ({"span"} if "x_range" in values else set())
        assert any(name in refused for name in named), refused
        return
    assert_well_formed(config)
    assert_round_trips(config)


@CHECKED
@given(values=large, estimate=st.one_of(st.none(), st.floats(0, 4 * FRAME_BUDGET)))
def test_the_frame_budget_is_kept_and_named(values, estimate):
    config = FractalConfig(**values)
    cost = values["width"] * values["height"] * values["max_iter"]
    # An estimate is capped at the worst case: no pixel runs past max_iter.
    expected = cost if estimate is None else min(estimate, cost)
    if expected > FRAME_BUDGET:
        with pytest.raises(ValueError, match="over the budget") as refused:
            FrameWork(config, iterations=estimate)
        assert "max_iter" in str(refused.value)
    else:
        assert FrameWork(config, iterations=estimate).key == config.key
    assert_round_trips(config)


@CHECKED
@given(name=st.sampled_from(PARAMS), data=st.data())
def test_setting_a_value_keeps_the_config_well_formed(name, data):
    value = data.draw(values_of[name])
    config = FractalConfig(width=64, height=64, max_iter=50)
    before = config.to_dict()
    _, refused = attempt(setattr, config, name, value)
    if refused is not None:
        assert name in refused, refused
        assert config.to_dict() == before  # a refused value changes nothing
        return
    # Accepted alone; the constraints across parameters are validate()'s.
    _, invalid = attempt(config.validate)
    if invalid is not None:
        # The view together: its depth (a Julia set, a wider frame), its digits.
        assert name in invalid or "span" in invalid, invalid
        return
    assert_well_formed(config)
    assert_round_trips(config)


@CHECKED
@given(values=st.dictionaries(st.text(max_size=10), anything, max_size=4) | anything)
def test_from_dict_refuses_what_is_no_config_with_a_message(values):
    config, refused = attempt(FractalConfig.from_dict, values)
    if refused is not None:
        assert refused.strip(), "a refusal without a message"
        return
    assert_well_formed(config)
