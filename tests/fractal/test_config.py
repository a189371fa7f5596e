"""FractalConfig: bounds, cross-field validation, the cache key, copy, summary and preview."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import pytest

from compute.colour import COLORMAPS, NORMALIZATIONS
from compute.config import COMPUTE_PARAMS, DISPLAY_PARAMS, PIXEL_BUDGET, FractalConfig


def test_defaults_are_valid():
    cfg = FractalConfig()
    assert cfg.validate() is cfg
    assert cfg.fractal in ("julia", "mandelbrot")
    assert cfg.colormap in COLORMAPS
    assert cfg.normalization in NORMALIZATIONS
    assert cfg.pixel_iterations == cfg.width * cfg.height * cfg.max_iter <= PIXEL_BUDGET


def test_every_parameter_is_either_compute_or_display():
    names = set(FractalConfig.param) - {"name"}
    assert names == set(COMPUTE_PARAMS) | set(DISPLAY_PARAMS)
    assert not set(COMPUTE_PARAMS) & set(DISPLAY_PARAMS)


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
    ("max_iter", 20_001),
    ("max_iter", 100.5),
    ("width", 15),
    ("width", 4097),
    ("height", 15),
    ("height", 4097),
    ("x_range", (-4.5, 1.0)),
    ("x_range", (-1.0, 4.5)),
    ("y_range", (-4.5, 1.0)),
    ("y_range", (-1.0, 4.5)),
    ("colormap", "no-such-colormap"),
    ("normalization", "sqrt"),
]


@pytest.mark.parametrize(("name", "value"), OUT_OF_BOUNDS)
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
        ("max_iter", 20_000),
        ("width", 16),
        ("height", 16),
        ("width", 4096),
        ("x_range", (-4.0, 4.0)),
        ("y_range", (-4.0, 4.0)),
    ],
)
def test_bounds_are_inclusive(name, value):
    cfg = FractalConfig(**{"width": 64, "height": 64, name: value})
    assert getattr(cfg, name) == value


@pytest.mark.parametrize("name", ["x_range", "y_range"])
@pytest.mark.parametrize("value", [(1.0, -1.0), (0.5, 0.5)])
def test_ranges_must_increase(name, value):
    with pytest.raises(ValueError, match=rf"{name} must be increasing"):
        FractalConfig(**{name: value})


@pytest.mark.parametrize("name", ["x_range", "y_range"])
def test_a_decreasing_range_is_refused_when_set_after_construction(name):
    cfg = FractalConfig()
    # Each bound is in range: the pair's own type sees it, as it is set.
    with pytest.raises(ValueError, match=f"{name} must be increasing"):
        setattr(cfg, name, (1.0, -1.0))
    assert getattr(cfg, name) == (-1.6, 1.6)


@pytest.mark.parametrize("name", ["x_range", "y_range"])
def test_non_finite_range_rejected(name):
    with pytest.raises(ValueError, match=name):
        FractalConfig(**{name: (math.nan, 1.0)})


@pytest.mark.parametrize("name", ["x_range", "y_range"])
def test_zoom_beyond_float64_precision_rejected(name):
    with pytest.raises(ValueError, match="precision"):
        FractalConfig(**{name: (0.5, 0.5 + 1e-14)})
    # Deep, but still well within float64: accepted.
    FractalConfig(**{name: (0.5, 0.5 + 1e-9)})


def test_pixel_budget_boundary():
    # 4096 x 4096 x 256 is exactly the budget: allowed; one more iteration is not.
    at_budget = FractalConfig(width=4096, height=4096, max_iter=256)
    assert at_budget.pixel_iterations == PIXEL_BUDGET
    with pytest.raises(ValueError, match="budget"):
        FractalConfig(width=4096, height=4096, max_iter=257)


def test_validate_catches_budget_exceeded_by_assignments():
    cfg = FractalConfig(width=4096, height=4096, max_iter=100)
    cfg.max_iter = 20_000  # in bounds on its own
    with pytest.raises(ValueError, match="budget"):
        cfg.validate()


# --- the key ------------------------------------------------------------------------

KEY_CONFIGS = [
    {},
    {"fractal": "mandelbrot", "max_iter": 250, "width": 640, "height": 480},
    {"c_real": 0.285, "c_imag": 0.01, "x_range": (-1.0, 0.5), "y_range": (-0.3, 0.7)},
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
        ({"width": 4096, "height": 4096, "max_iter": 20_000}, "budget"),
        ({"max_iter": 0}, "max_iter"),
        ({"y_range": (0.1, 0.1 + 1e-15)}, "precision"),
    ],
)
def test_copy_validates(changes, match):
    with pytest.raises(ValueError, match=match):
        FractalConfig().copy(**changes)


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
    assert cfg.summary() == "julia c=-0.8000+0.1560i, 500 it, 640x480, x[-1.6, 1.6] y[-1.2, 1.2]"


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
    assert cfg.summary() == "mandelbrot, 1000 it, 300x200, x[-2.25, 0.75] y[-1, 1]"


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
