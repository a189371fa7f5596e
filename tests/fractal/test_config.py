"""FractalConfig: bounds, cross-field validation, the cache key, copy, summary and preview."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import sys

import pytest

from compute.colour import COLORMAPS, NORMALIZATIONS
from compute.config import (
    COMPUTE_PARAMS,
    DISPLAY_PARAMS,
    FRAME_BUDGET,
    LEGACY_PARAMS,
    MAX_ITER,
    PIXEL_BUDGET,
    FractalConfig,
)
from compute.engine.schema import OverBudget
from compute.fractal import FrameWork
from compute.fractal.kernels import KERNEL_VERSION
from compute.fractal.viewport import auto_max_iter


def test_defaults_are_valid():
    cfg = FractalConfig()
    assert cfg.validate() is cfg
    assert cfg.fractal in ("julia", "mandelbrot")
    assert cfg.colormap in COLORMAPS
    assert cfg.normalization in NORMALIZATIONS
    assert cfg.pixel_iterations == cfg.width * cfg.height * cfg.max_iter <= PIXEL_BUDGET
    cfg.check_budget()
    # The old default view, x_range = y_range = (-1.6, 1.6), as a centre and a span.
    assert (cfg.center_real, cfg.center_imag, cfg.span) == ("0", "0", "3.2")
    assert (cfg.x_range, cfg.y_range) == ((-1.6, 1.6), (-1.6, 1.6))
    assert cfg.deep is False


def test_every_parameter_is_either_compute_or_display():
    names = set(FractalConfig.param) - {"name"}
    assert names == set(COMPUTE_PARAMS) | set(DISPLAY_PARAMS)
    assert not set(COMPUTE_PARAMS) & set(DISPLAY_PARAMS)


# Each assignable parameter: refused at construction and on assignment alike.
OUT_OF_BOUNDS = [
    ("fractal", "burning_ship"),
    ("c_real", 2.01),
    ("c_real", -2.01),
    ("c_real", math.nan),
    ("c_real", math.inf),
    ("c_imag", 2.01),
    ("c_imag", -2.01),
    ("c_imag", math.nan),
    ("c_imag", -math.inf),
    ("max_iter", 0),
    ("max_iter", -5),
    ("max_iter", MAX_ITER + 1),
    ("max_iter", 100.5),
    ("width", 15),
    ("width", 4097),
    ("height", 15),
    ("height", 4097),
    ("center_real", "4.01"),
    ("center_real", "-4.000000001"),
    ("center_imag", "4.01"),
    ("center_real", "abc"),
    ("center_imag", "nan"),
    ("center_real", 0.5),  # a float, not a decimal string: digits would be lost
    ("span", "8.01"),
    ("span", "0"),
    ("span", "-1"),
    ("span", "1e-1001"),
    ("span", 1.0),
    ("colormap", "no-such-colormap"),
    ("normalization", "sqrt"),
]
# The old view's names: given at construction only (read-only properties afterwards).
LEGACY_OUT_OF_BOUNDS = [
    ("x_range", (-4.5, 1.0)),
    ("x_range", (-1.0, 4.5)),
    ("y_range", (-4.5, 1.0)),
    ("y_range", (-1.0, 4.5)),
]


@pytest.mark.parametrize(("name", "value"), OUT_OF_BOUNDS + LEGACY_OUT_OF_BOUNDS)
def test_out_of_bounds_rejected_at_construction(name, value):
    with pytest.raises(ValueError, match=name):
        FractalConfig(**{name: value})


@pytest.mark.parametrize(("name", "value"), OUT_OF_BOUNDS)
def test_out_of_bounds_rejected_on_assignment(name, value):
    cfg = FractalConfig()
    before = getattr(cfg, name)
    with pytest.raises(ValueError, match=name):
        setattr(cfg, name, value)
    assert getattr(cfg, name) == before


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("c_real", 2.0),
        ("c_real", -2.0),
        ("c_imag", 2.0),
        ("max_iter", 1),
        ("max_iter", MAX_ITER),
        ("width", 16),
        ("height", 16),
        ("width", 4096),
        ("center_real", "4"),
        ("center_real", "-4"),
        ("center_imag", "4"),
        ("span", "8"),
        ("span", "1e-300"),  # deep: a Mandelbrot view (see below)
    ],
)
def test_bounds_are_inclusive(name, value):
    cfg = FractalConfig(**{"fractal": "mandelbrot", "width": 64, "height": 64, name: value})
    assert getattr(cfg, name) == value


def test_the_old_ranges_bounds_are_inclusive():
    cfg = FractalConfig(x_range=(-4.0, 4.0), y_range=(-4.0, 4.0), width=64, height=64)
    assert (cfg.x_range, cfg.y_range) == ((-4.0, 4.0), (-4.0, 4.0))
    assert (cfg.center_real, cfg.center_imag, cfg.span) == ("0", "0", "8")


@pytest.mark.parametrize("name", ["x_range", "y_range"])
@pytest.mark.parametrize("value", [(1.0, -1.0), (0.5, 0.5)])
def test_ranges_must_increase(name, value):
    with pytest.raises(ValueError, match=rf"{name} must be increasing"):
        FractalConfig(**{name: value})


@pytest.mark.parametrize("name", ["x_range", "y_range"])
def test_the_old_ranges_are_read_only_after_construction(name):
    cfg = FractalConfig()
    before = cfg.to_dict()
    # A property now: the view is set as a centre and a span.
    with pytest.raises(AttributeError):
        setattr(cfg, name, (-1.0, 1.0))
    assert cfg.to_dict() == before
    assert getattr(cfg, name) == (-1.6, 1.6)
    # A copy still takes them, and refuses a decreasing one by name.
    with pytest.raises(ValueError, match=f"{name} must be increasing"):
        cfg.copy(**{name: (1.0, -1.0)})


@pytest.mark.parametrize("name", ["x_range", "y_range"])
def test_non_finite_range_rejected(name):
    with pytest.raises(ValueError, match=name):
        FractalConfig(**{name: (math.nan, 1.0)})


@pytest.mark.parametrize(
    "view",
    [
        {"x_range": (0.5, 0.5 + 1e-14), "y_range": (-0.5e-14, 0.5e-14)},
        {"center_real": "0.5", "span": "1e-14"},
    ],
    ids=["old-ranges", "centre-and-span"],
)
def test_a_view_beyond_float64_is_deep(view):
    # Past float64's precision a view is computed by perturbation, a Julia set's too...
    deep = FractalConfig(fractal="mandelbrot", **view)
    assert deep.deep is True
    assert deep.span == "1e-14"
    assert FractalConfig(fractal="julia", **view).deep is True
    # ...but a Julia set no deeper than 2**-1000, naming the span and what to do instead.
    with pytest.raises(ValueError, match=r"span 1e-400 .*deeper than Julia sets are drawn"):
        FractalConfig(fractal="julia", span="1e-400")


def test_deep_starts_where_float64_can_no_longer_tell_pixels_apart():
    # At 1024 px around 0.5: a pixel must be at least 2**-40 (9.09e-13) wide.
    shallow = FractalConfig(center_real="0.5", span="1e-9", width=1024, height=1024)
    assert shallow.deep is False
    assert shallow.x_range == pytest.approx((0.5 - 0.5e-9, 0.5 + 0.5e-9), rel=1e-15)
    assert FractalConfig(center_real="0.5", span="9e-10", width=1024, height=1024).deep
    assert FractalConfig(fractal="mandelbrot", center_real="0.5", span="9e-10").deep
    # Fewer pixels over the same span are wider: shallow again.
    assert not FractalConfig(center_real="0.5", span="9e-10", width=512, height=512).deep


def test_a_view_made_deep_by_assignment_is_refused_by_validate():
    cfg = FractalConfig(fractal="julia", width=64, height=64)
    cfg.span = "1e-400"  # a valid span alone; too deep for a Julia set
    with pytest.raises(ValueError, match="span"):
        cfg.validate()


def test_validate_makes_assigned_values_canonical():
    cfg = FractalConfig(fractal="mandelbrot")
    cfg.param.update(center_real="-0.750", center_imag="+1E-1", span="2.50")
    assert cfg.validate() is cfg
    assert (cfg.center_real, cfg.center_imag, cfg.span) == ("-0.75", "0.1", "2.5")


# --- the frame budget -------------------------------------------------------------------


def test_the_frame_budget_is_checked_by_check_budget_not_at_construction():
    # 4096 x 4096 x 4096 is exactly the budget: allowed; one more iteration is not.
    at_budget = FractalConfig(width=4096, height=4096, max_iter=4096)
    assert at_budget.pixel_iterations == FRAME_BUDGET
    at_budget.check_budget()
    over = FractalConfig(width=4096, height=4096, max_iter=4097)  # each value valid: made
    assert over.validate() is over
    with pytest.raises(OverBudget, match=r"worst case .*max_iter 4097.*over the budget"):
        over.check_budget()


def test_an_estimate_is_checked_against_the_budget_and_capped_at_the_worst_case():
    cfg = FractalConfig(width=4096, height=4096, max_iter=MAX_ITER)
    cfg.check_budget(FRAME_BUDGET)  # a preview's estimate, at the budget
    with pytest.raises(OverBudget, match=r"estimate .*over the budget.*max_iter"):
        cfg.check_budget(FRAME_BUDGET + 1)
    # No estimate costs more than every pixel to max_iter.
    cheap = FractalConfig(width=64, height=64, max_iter=100)
    cheap.check_budget(100 * FRAME_BUDGET)


def test_a_frame_of_an_over_budget_config_is_refused_but_its_preview_is_not():
    cfg = FractalConfig(width=4096, height=4096, max_iter=100)
    cfg.max_iter = 20_000  # in bounds on its own, over the budget together
    assert cfg.validate() is cfg  # the budget is no longer validate's
    with pytest.raises(OverBudget, match="over the budget"):
        cfg.check_budget()
    with pytest.raises(OverBudget, match="max_iter 20000"):
        FrameWork(cfg)
    with pytest.raises(OverBudget, match="estimate"):
        FrameWork(cfg, iterations=2 * FRAME_BUDGET)
    # With a preview's estimate under the budget (pixels that escape early), it renders.
    assert FrameWork(cfg, iterations=FRAME_BUDGET / 2).key == cfg.key
    assert FrameWork(cfg, preview=True).key == cfg.key


# --- the key ------------------------------------------------------------------------

KEY_CONFIGS = [
    {},
    {"fractal": "mandelbrot", "max_iter": 250, "width": 640, "height": 480},
    {"c_real": 0.285, "c_imag": 0.01, "x_range": (-1.0, 0.5), "y_range": (-0.3, 0.7)},
    {"c_real": 0.285, "center_real": "-0.25", "center_imag": "0.2", "span": "1.5"},
    # Deep: named by its canonical strings.
    {"fractal": "mandelbrot", "center_real": "-0.75", "center_imag": "0.1", "span": "1e-40"},
]


def test_key_format():
    for values in KEY_CONFIGS:
        cfg = FractalConfig(**values)
        assert re.fullmatch(rf"{cfg.fractal}-[0-9a-f]{{24}}", cfg.key)


def test_key_is_deterministic_across_processes():
    local = [FractalConfig(**values).key for values in KEY_CONFIGS]
    assert len(set(local)) == len(local)
    assert local == [FractalConfig(**values).key for values in KEY_CONFIGS]
    program = (
        "import json, sys\n"
        "from compute.config import FractalConfig\n"
        "configs = json.loads(sys.argv[1])\n"
        "for values in configs:\n"
        "    for k in ('x_range', 'y_range'):\n"
        "        if k in values: values[k] = tuple(values[k])\n"
        "    print(FractalConfig(**values).key)\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", program, json.dumps(KEY_CONFIGS)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    assert result.stdout.split() == local


@pytest.mark.parametrize(
    "change",
    [{"colormap": "viridis"}, {"colormap": "kbc"}, {"normalization": "linear"}, {"name": "x"}],
)
def test_key_ignores_display_parameters(change):
    values = {"colormap": "fire", "normalization": "eq_hist", "name": "base"}
    base = FractalConfig(**values)
    assert FractalConfig(**{**values, **change}).key == base.key
    assert base.copy(**{k: v for k, v in change.items() if k != "name"}).key == base.key


def test_mandelbrot_key_ignores_c():
    a = FractalConfig(fractal="mandelbrot", c_real=-0.8, c_imag=0.156)
    b = FractalConfig(fractal="mandelbrot", c_real=0.3, c_imag=-1.2)
    assert a.key == b.key
    assert a.compute_values() == b.compute_values()


def test_julia_key_depends_on_c():
    a = FractalConfig(fractal="julia", c_real=-0.8, c_imag=0.156)
    b = FractalConfig(fractal="julia", c_real=-0.8, c_imag=0.157)
    assert a.key != b.key


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("fractal", "mandelbrot"),
        ("c_real", -0.800000000000001),  # the 15th significant digit
        ("c_imag", 0.2),
        ("max_iter", 501),
        ("width", 1023),
        ("height", 1000),
        ("x_range", (-1.6, 1.5)),
        ("x_range", (-1.5, 1.6)),
        ("y_range", (-1.6, 1.5)),
        ("y_range", (-1.5, 1.6)),
        ("center_real", "0.001"),
        ("center_imag", "-0.001"),
        ("span", "3.1"),
    ],
)
def test_key_changes_with_each_compute_parameter(name, value):
    base = FractalConfig(
        fractal="julia",
        c_real=-0.8,
        c_imag=0.156,
        max_iter=500,
        width=1024,
        height=1024,
        x_range=(-1.6, 1.6),
        y_range=(-1.6, 1.6),
    )
    changed = base.copy(**{name: value})
    assert getattr(changed, name) != getattr(base, name)
    assert changed.key != base.key


def test_float_noise_from_a_browser_is_the_same_view():
    # A slider at -0.581 reports -0.5810000000000001; a range echoes back one ulp off.
    assert FractalConfig(c_real=-0.5810000000000001).key == FractalConfig(c_real=-0.581).key
    assert FractalConfig(c_real=-0.7999999999999999).key == FractalConfig(c_real=-0.8).key
    noisy = FractalConfig(x_range=(-1.6000000000000003, 1.6), y_range=(-1.6, 1.5999999999999999))
    assert noisy.key == FractalConfig().key


def test_key_does_not_depend_on_int_or_float_range_bounds():
    assert FractalConfig(x_range=(-1, 1)).key == FractalConfig(x_range=(-1.0, 1.0)).key


def test_key_does_not_depend_on_int_or_float_c():
    assert FractalConfig(c_real=0).key == FractalConfig(c_real=0.0).key
    assert FractalConfig(c_real=1, c_imag=-1).key == FractalConfig(c_real=1.0, c_imag=-1.0).key


# --- copy and summary ---------------------------------------------------------------


def test_copy_changes_only_what_is_asked():
    cfg = FractalConfig(fractal="mandelbrot", max_iter=300, colormap="kbc", width=800)
    other = cfg.copy(max_iter=400)
    assert other is not cfg
    assert other.max_iter == 400
    assert cfg.max_iter == 300
    for name in set(COMPUTE_PARAMS + DISPLAY_PARAMS) - {"max_iter"}:
        assert getattr(other, name) == getattr(cfg, name), name


def test_copy_without_changes_has_same_key():
    cfg = FractalConfig(c_real=0.3, c_imag=-0.2, max_iter=123)
    assert cfg.copy().key == cfg.key


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"x_range": (1.0, -1.0)}, "x_range"),
        ({"max_iter": 0}, "max_iter"),
        ({"span": "9"}, "span"),
        ({"center_imag": "-4.5"}, "center_imag"),
        # Too deep for a Julia set's perturbation, too deep for any.
        ({"span": "1e-400"}, "span .*deeper than Julia sets are drawn"),
        ({"span": "1e-1001"}, "span"),
    ],
)
def test_copy_validates(changes, match):
    with pytest.raises(ValueError, match=match):
        FractalConfig().copy(**changes)


def test_copy_of_an_over_budget_size_is_made_and_refused_as_a_frame():
    big = FractalConfig().copy(width=4096, height=4096, max_iter=20_000)
    assert big.pixel_iterations > FRAME_BUDGET
    with pytest.raises(OverBudget, match="budget"):
        FrameWork(big)


def test_summary_julia():
    cfg = FractalConfig(
        fractal="julia",
        c_real=-0.8,
        c_imag=0.156,
        max_iter=500,
        width=640,
        height=480,
        x_range=(-1.6, 1.6),
        y_range=(-1.2, 1.2),
    )
    assert cfg.summary() == "julia c=-0.8000+0.1560i, 500 it, 640x480, zoom 1 at 0+0i"


def test_summary_mandelbrot():
    cfg = FractalConfig(
        fractal="mandelbrot",
        c_real=0.3,
        max_iter=1000,
        width=300,
        height=200,
        x_range=(-2.25, 0.75),
        y_range=(-1.0, 1.0),
    )
    # Zoom 3.2 / 3 against the default view, centred on -0.75.
    assert cfg.summary() == "mandelbrot, 1000 it, 300x200, zoom 1.07 at -0.75+0i"


def test_summary_of_a_deep_view():
    cfg = FractalConfig(
        fractal="mandelbrot",
        max_iter=1000,
        width=64,
        height=64,
        center_real="-0.743643887037151",
        center_imag="0.13182590420533",
        span="3.2e-30",
    )
    assert cfg.deep
    assert cfg.summary() == (
        "mandelbrot, 1000 it, 64x64, zoom 1.0e+30 at -0.743643887037+0.131825904205i"
    )


# --- preview --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "edge", "expected"),
    [
        ((1024, 1024), 128, (128, 128)),
        ((1024, 512), 128, (128, 64)),
        ((300, 900), 128, (43, 128)),  # 300 * 128 / 900 = 42.7
        ((1000, 1000), 250, (250, 250)),
        ((4096, 64), 128, (128, 16)),  # 64 / 32 = 2, raised to the minimum of 16
        ((64, 4096), 16, (16, 16)),
        ((100, 60), 128, (100, 60)),  # already small: kept as it is
    ],
)
def test_preview_size(size, edge, expected):
    width, height = size
    preview = FractalConfig(width=width, height=height, max_iter=100).preview(edge)
    assert (preview.width, preview.height) == expected
    assert max(preview.width, preview.height) <= edge
    assert min(preview.width, preview.height) >= 16


@pytest.mark.parametrize(("width", "height"), [(1024, 768), (640, 1024), (2000, 1000)])
def test_preview_keeps_the_aspect_ratio(width, height):
    preview = FractalConfig(width=width, height=height, max_iter=100).preview(128)
    assert max(preview.width, preview.height) == 128
    # Within the rounding of one pixel on the shorter side.
    short, long = sorted((preview.width, preview.height))
    assert abs(short - long * min(width, height) / max(width, height)) <= 0.5


def test_preview_default_edge_is_128():
    preview = FractalConfig(width=2048, height=1024).preview()
    assert (preview.width, preview.height) == (128, 64)


def test_preview_keeps_the_view_and_gets_its_own_key():
    config = FractalConfig(
        fractal="julia",
        c_real=0.285,
        c_imag=0.01,
        max_iter=321,
        width=1024,
        height=768,
        x_range=(-1.0, 0.5),
        y_range=(-0.3, 0.7),
        colormap="kbc",
        normalization="log",
    )
    preview = config.preview(128)
    assert preview is not config
    assert (preview.width, preview.height) == (128, 96)
    for name in set(COMPUTE_PARAMS + DISPLAY_PARAMS) - {"width", "height"}:
        assert getattr(preview, name) == getattr(config, name), name
    assert preview.key != config.key
    assert (config.width, config.height) == (1024, 768)  # the original is untouched


def test_preview_of_a_small_frame_is_the_same_computation():
    config = FractalConfig(fractal="mandelbrot", width=96, height=64, max_iter=50)
    assert config.preview(128).key == config.key


# --- the view as a centre and a span; the old ranges ----------------------------------------


def key_before_the_centre(fractal, c, max_iter, width, height, x_range, y_range) -> str:
    """A frame's key as the code computed it when the view was x_range and y_range."""
    c_real, c_imag = (0.0, 0.0) if fractal == "mandelbrot" else c
    exact = {
        "fractal": fractal,
        "c_real": float(c_real).hex(),
        "c_imag": float(c_imag).hex(),
        "max_iter": max_iter,
        "width": width,
        "height": height,
        "x_range": [float(v).hex() for v in x_range],
        "y_range": [float(v).hex() for v in y_range],
        "kernel": KERNEL_VERSION,
    }
    digest = hashlib.sha256(json.dumps(exact, sort_keys=True).encode()).hexdigest()
    return f"{fractal}-{digest[:24]}"


def test_a_square_old_range_is_its_centre_and_span_and_keeps_its_key():
    # 2.75 x 1.25 in the plane on 880 x 400 pixels: square pixels, as the old view had.
    size = {"width": 880, "height": 400, "max_iter": 200}
    old = FractalConfig(x_range=(-1.5, 1.25), y_range=(-0.75, 0.5), **size)
    new = FractalConfig(center_real="-0.125", center_imag="-0.125", span="2.75", **size)
    assert (old.center_real, old.center_imag, old.span) == ("-0.125", "-0.125", "2.75")
    assert old.to_dict() == new.to_dict()
    assert old.key == new.key
    assert (new.x_range, new.y_range) == ((-1.5, 1.25), (-0.75, 0.5))
    assert new.key == key_before_the_centre(
        "julia", (-0.8, 0.156), 200, 880, 400, (-1.5, 1.25), (-0.75, 0.5)
    )
    # And a key written by the code of the store fixture (tests/data/store-82de712).
    fixture = FractalConfig(
        fractal="mandelbrot", max_iter=60, width=64, height=64, center_real="-0.75", span="2.5"
    )
    assert fixture.key == "mandelbrot-a51bba07ec6602baa5e6a561"
    assert fixture.key == key_before_the_centre(
        "mandelbrot", (0.0, 0.0), 60, 64, 64, (-2.0, 0.5), (-1.25, 1.25)
    )


def test_for_a_non_square_old_range_x_wins_and_y_keeps_its_middle():
    cfg = FractalConfig(x_range=(-1.5, 1.25), y_range=(-0.75, 0.5), width=640, height=480)
    assert (cfg.center_real, cfg.center_imag, cfg.span) == ("-0.125", "-0.125", "2.75")
    assert cfg.x_range == (-1.5, 1.25)
    # 2.75 * 480 / 640 = 2.0625 high, about the old middle -0.125.
    assert cfg.y_range == (-1.15625, 0.90625)
    (x0, x1), (y0, y1) = cfg.x_range, cfg.y_range
    assert (x1 - x0) / cfg.width == pytest.approx((y1 - y0) / cfg.height, rel=1e-15)
    # A y range taller than the frame's aspect shrinks to it, too.
    tall = FractalConfig(x_range=(-1.0, 1.0), y_range=(-2.0, 4.0), width=100, height=100)
    assert (tall.x_range, tall.y_range) == ((-1.0, 1.0), (0.0, 2.0))
    # A missing range is the old default's, (-1.6, 1.6).
    assert FractalConfig(x_range=(-1.0, 0.0)).viewport.to_strings() == ("-0.5", "0", "1")
    assert FractalConfig(y_range=(0.0, 1.0)).viewport.to_strings() == ("0", "0.5", "3.2")
    # The same goes for a copy given one of them: the other is the copy's own.
    moved = FractalConfig(width=200, height=100).copy(x_range=(0.0, 1.0))
    assert (moved.x_range, moved.y_range) == ((0.0, 1.0), (-0.25, 0.25))


@pytest.mark.parametrize("name", ["center_real", "center_imag", "span"])
def test_the_view_is_given_one_way_not_both(name):
    with pytest.raises(ValueError, match=rf"not both \({name} with x_range\)"):
        FractalConfig(**{"x_range": (-1.0, 1.0), name: "0.5"})


def test_a_copy_given_the_view_both_ways_is_refused():
    with pytest.raises(ValueError, match="not both"):
        FractalConfig().copy(x_range=(-1.0, 1.0), span="1")


@pytest.mark.parametrize(
    "view",
    [
        ("0.10", "-0", "3.20e0"),
        ("+0.1", "0.000", "32E-1"),
        ("1e-1", "-0.0e5", "3.2000000000000000000000"),
        # Digits below the centre's grid (25 places under the span's): rounded away.
        ("0.1" + "0" * 30 + "1", "1e-40", "3.2"),
    ],
)
def test_canonical_forms_of_a_view_are_one_view_and_one_key(view):
    real, imag, span = view
    cfg = FractalConfig(center_real=real, center_imag=imag, span=span)
    assert (cfg.center_real, cfg.center_imag, cfg.span) == ("0.1", "0", "3.2")
    plain = FractalConfig(center_real="0.1", center_imag="0", span="3.2")
    assert cfg.key == plain.key
    assert cfg.to_dict() == plain.to_dict()


def test_canonical_forms_of_a_deep_view_are_one_key():
    deep = {"fractal": "mandelbrot", "width": 64, "height": 64}
    one = FractalConfig(center_real="-0.75", center_imag="0.1", span="1e-40", **deep)
    other = FractalConfig(center_real="-0.750", center_imag="1E-1", span="0.1e-39", **deep)
    assert one.deep
    assert other.deep
    assert (other.center_real, other.center_imag, other.span) == ("-0.75", "0.1", "1e-40")
    assert other.key == one.key
    assert FractalConfig(center_real="-0.75", center_imag="0.1", span="2e-40", **deep).key != (
        one.key
    )


def test_a_300_digit_centre_survives_json_exactly():
    digits = "".join(str((7 * i + 3) % 10) for i in range(299)) + "7"  # no trailing zero
    centre = f"-0.{digits}"
    cfg = FractalConfig(
        fractal="mandelbrot",
        center_real=centre,
        center_imag="0.1",
        span="1e-280",  # its centre's grid: 1e-305, finer than the 300 digits
        max_iter=1000,
        width=64,
        height=64,
    )
    assert cfg.deep
    assert cfg.center_real == centre
    stored = json.loads(json.dumps(cfg.to_dict()))
    assert stored["center_real"] == centre
    again = FractalConfig.from_dict(stored)
    assert again.to_dict() == cfg.to_dict()
    assert again.key == cfg.key
    # The API's path: the JSON body read against the config's schema.
    assert FrameWork.from_params(stored).config.to_dict() == cfg.to_dict()
    # Every digit counts: the last one makes another view, and another frame.
    other = cfg.copy(center_real=f"-0.{digits[:-1]}8")
    assert other.key != cfg.key


@pytest.mark.parametrize("span", ["3.2", "1e-5", "1e-20", "3.2e-100", "1e-300"])
def test_max_iter_none_is_resolved_to_the_automatic_count_for_the_span(span):
    cfg = FractalConfig(fractal="mandelbrot", span=span, max_iter=None, width=64, height=64)
    assert cfg.max_iter == auto_max_iter(span)
    assert isinstance(cfg.max_iter, int)
    # Resolved before the key: the same frame as the count given explicitly.
    explicit = cfg.copy(max_iter=auto_max_iter(span))
    assert explicit.key == cfg.key
    assert FractalConfig.from_dict({**cfg.to_dict(), "max_iter": None}).key == cfg.key


def test_max_iter_none_grows_with_depth_and_is_resolved_again_in_a_copy():
    top = FractalConfig(fractal="mandelbrot", max_iter=None)
    assert top.max_iter == auto_max_iter("3.2") == 200
    deeper = top.copy(span="1e-10", max_iter=None)
    assert deeper.max_iter == auto_max_iter("1e-10") > top.max_iter
    # A copy that does not ask again keeps the resolved count.
    assert top.copy(span="1e-10").max_iter == 200


def test_the_old_names_are_still_named_as_legacy():
    assert set(LEGACY_PARAMS) == {"x_range", "y_range"}
    assert not set(LEGACY_PARAMS) & set(FractalConfig.param)
    assert not set(LEGACY_PARAMS) & set(FractalConfig().to_dict())
