"""Tiling: split covers the frame, render equals one whole-frame kernel call."""

from __future__ import annotations

import numpy as np
import pytest

from compute.config import FractalConfig
from compute.fractal import render as render_frame
from compute.kernels import escape_time
from compute.tiles import (
    MAX_TILES_PER_AXIS,
    Tile,
    TileTask,
    assemble,
    compute_tile,
    pixel_centers,
    render,
    split,
    tile_tasks,
)

SIZES = [(16, 16), (1024, 1024), (1000, 700), (4096, 16), (16, 4096), (257, 255)]


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_split_covers_every_pixel_once(width, height):
    tiles = split(width, height)
    cover = np.zeros((height, width), dtype=np.int64)
    for tile in tiles:
        assert 0 <= tile.y0 < tile.y1 <= height
        assert 0 <= tile.x0 < tile.x1 <= width
        assert tile.shape == (tile.y1 - tile.y0, tile.x1 - tile.x0)
        assert tile.size == tile.shape[0] * tile.shape[1]
        cover[tile.slices] += 1
    np.testing.assert_array_equal(cover, 1)
    assert sum(t.size for t in tiles) == width * height


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_split_grid_shape(width, height):
    tiles = split(width, height)
    rows = {t.row for t in tiles}
    cols = {t.col for t in tiles}
    assert 1 <= len(rows) <= MAX_TILES_PER_AXIS
    assert 1 <= len(cols) <= MAX_TILES_PER_AXIS
    assert len(tiles) == len(rows) * len(cols)
    assert rows == set(range(len(rows)))
    assert cols == set(range(len(cols)))
    # Tiles of a row share their rows of pixels; tiles of a column their columns.
    for t in tiles:
        same_row = [u for u in tiles if u.row == t.row]
        assert {(u.y0, u.y1) for u in same_row} == {(t.y0, t.y1)}
        same_col = [u for u in tiles if u.col == t.col]
        assert {(u.x0, u.x1) for u in same_col} == {(t.x0, t.x1)}


def test_split_tile_counts():
    assert len(split(16, 16)) == 1
    assert len(split(1024, 1024)) == 16
    assert len(split(4096, 16)) == 4
    # Tiles of one axis differ in size by at most one pixel.
    for width, height in SIZES:
        tiles = split(width, height)
        heights = {t.shape[0] for t in tiles}
        widths = {t.shape[1] for t in tiles}
        assert max(heights) - min(heights) <= 1
        assert max(widths) - min(widths) <= 1


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_split_centre_tiles_first(width, height):
    tiles = split(width, height)
    nrows = max(t.row for t in tiles) + 1
    ncols = max(t.col for t in tiles) + 1
    centre_r, centre_c = (nrows - 1) / 2, (ncols - 1) / 2
    distances = [(t.row - centre_r) ** 2 + (t.col - centre_c) ** 2 for t in tiles]
    assert distances == sorted(distances)


def test_split_1024_starts_with_the_four_centre_tiles():
    tiles = split(1024, 1024)
    assert {(t.row, t.col) for t in tiles[:4]} == {(1, 1), (1, 2), (2, 1), (2, 2)}
    assert {(t.row, t.col) for t in tiles[-4:]} == {(0, 0), (0, 3), (3, 0), (3, 3)}


def test_pixel_centers():
    np.testing.assert_allclose(pixel_centers(0.0, 4.0, 4), [0.5, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(pixel_centers(-1.0, 1.0, 2), [-0.5, 0.5])
    xs = pixel_centers(-1.6, 1.6, 1024)
    assert xs.shape == (1024,)
    assert xs.dtype == np.float64
    assert (np.diff(xs) > 0).all()
    np.testing.assert_allclose(np.diff(xs), 3.2 / 1024, rtol=1e-9)
    assert xs[0] == pytest.approx(-1.6 + 1.6 / 1024)
    assert xs[-1] == pytest.approx(1.6 - 1.6 / 1024)
    # Symmetric about the middle of the range.
    np.testing.assert_allclose(xs + xs[::-1], 0.0, atol=1e-12)


def ranges(cfg: FractalConfig) -> tuple[tuple[float, float], tuple[float, float]]:
    """The float64 ranges the kernel computes from: the config's derived ranges, to the
    15 significant digits its key names them by (so equal keys are equal frames)."""
    values = cfg.compute_values()
    for name, derived in (("x_range", cfg.x_range), ("y_range", cfg.y_range)):
        np.testing.assert_allclose(values[name], derived, rtol=1e-14, atol=0)
    return values["x_range"], values["y_range"]


def whole_frame(cfg: FractalConfig) -> np.ndarray:
    x_range, y_range = ranges(cfg)
    xs = pixel_centers(*x_range, cfg.width)
    ys = pixel_centers(*y_range, cfg.height)
    c = complex(cfg.c_real, cfg.c_imag)
    return escape_time(xs, ys, c, cfg.fractal == "mandelbrot", cfg.max_iter)


RENDER_CONFIGS = [
    dict(fractal="julia", c_real=-0.8, c_imag=0.156, max_iter=80, width=300, height=200),
    dict(
        fractal="mandelbrot",
        max_iter=60,
        width=513,
        height=260,
        x_range=(-2.2, 0.8),
        y_range=(-0.4, 1.2),
    ),
    dict(fractal="julia", c_real=0.285, c_imag=0.01, max_iter=40, width=16, height=37),
]


@pytest.mark.parametrize("values", RENDER_CONFIGS)
def test_render_equals_one_kernel_call(values):
    cfg = FractalConfig(**values)
    frame = render(cfg, threads=2)
    assert frame.shape == (cfg.height, cfg.width)
    assert frame.dtype == np.float64
    expected = whole_frame(cfg)
    assert np.isnan(expected).any()
    assert (~np.isnan(expected)).any()
    np.testing.assert_array_equal(frame, expected)


def test_render_single_thread_equals_threaded():
    cfg = FractalConfig(**RENDER_CONFIGS[1])
    np.testing.assert_array_equal(render(cfg, threads=1), render(cfg, threads=2))
    np.testing.assert_array_equal(render(cfg), render(cfg, threads=1))


def test_render_row_zero_is_y_range_start():
    # Mandelbrot over an asymmetric y range: only y >= 0.6 rows, where the set is thin.
    cfg = FractalConfig(
        fractal="mandelbrot",
        max_iter=50,
        width=64,
        height=32,
        center_real="-0.5",
        center_imag="1",
        span="1.6",  # 0.8 high: y from 0.6 to 1.4
    )
    assert (cfg.x_range, cfg.y_range) == ((-1.3, 0.3), (0.6, 1.4))
    frame = render(cfg, threads=1)
    ys = pixel_centers(0.6, 1.4, 32)
    xs = pixel_centers(*cfg.x_range, 64)
    np.testing.assert_array_equal(frame[0], escape_time(xs, ys[:1], 0j, True, 50)[0])
    np.testing.assert_array_equal(frame[-1], escape_time(xs, ys[-1:], 0j, True, 50)[0])
    assert not np.array_equal(frame[0], frame[-1], equal_nan=True)


def test_render_mandelbrot_ignores_c():
    base = dict(fractal="mandelbrot", max_iter=40, width=48, height=40)
    a = render(FractalConfig(**base, c_real=0.3, c_imag=0.3), threads=1)
    b = render(FractalConfig(**base, c_real=-1.0, c_imag=0.0), threads=1)
    np.testing.assert_array_equal(a, b)


def test_tile_tasks_match_split_and_config():
    cfg = FractalConfig(
        fractal="julia", c_real=0.25, c_imag=-0.5, max_iter=33, width=600, height=300
    )
    tasks = tile_tasks(cfg, job_key="job-1")
    assert [t.tile for t in tasks] == split(600, 300)
    xs = pixel_centers(*cfg.x_range, cfg.width)
    ys = pixel_centers(*cfg.y_range, cfg.height)
    for task in tasks:
        np.testing.assert_array_equal(task.xs, xs[task.tile.x0 : task.tile.x1])
        np.testing.assert_array_equal(task.ys, ys[task.tile.y0 : task.tile.y1])
        assert (task.c_real, task.c_imag) == (0.25, -0.5)
        assert task.mandelbrot is False
        assert task.max_iter == 33
        assert task.job_key == "job-1"


def test_assemble_places_tiles():
    tiles = split(20, 10)
    pieces = [(t, np.full(t.shape, float(i))) for i, t in enumerate(tiles)]
    frame = assemble(10, 20, pieces)
    for i, t in enumerate(tiles):
        assert (frame[t.slices] == i).all()


def make_task(**changes) -> TileTask:
    values = dict(
        tile=Tile(row=0, col=0, y0=0, y1=3, x0=0, x1=4),
        xs=np.linspace(-1.0, 1.0, 4),
        ys=np.linspace(-1.0, 1.0, 3),
        c_real=-0.8,
        c_imag=0.156,
        mandelbrot=False,
        max_iter=20,
    )
    values.update(changes)
    return TileTask(**values)


def test_compute_tile_valid_task():
    task = make_task()
    values = compute_tile(task)
    assert values.shape == (3, 4)
    np.testing.assert_array_equal(
        values, escape_time(task.xs, task.ys, complex(-0.8, 0.156), False, 20)
    )


@pytest.mark.parametrize("max_iter", [0, -1])
def test_compute_tile_rejects_max_iter_below_one(max_iter):
    with pytest.raises(ValueError, match="max_iter must be at least 1"):
        compute_tile(make_task(max_iter=max_iter))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("axis", ["xs", "ys"])
def test_compute_tile_rejects_non_finite_coordinates(bad, axis):
    task = make_task()
    coords = getattr(task, axis).copy()
    coords[1] = bad
    with pytest.raises(ValueError, match="finite"):
        compute_tile(make_task(**{axis: coords}))


@pytest.mark.parametrize(
    "changes",
    [
        {"xs": np.linspace(-1.0, 1.0, 5)},
        {"ys": np.linspace(-1.0, 1.0, 4)},
        {"xs": np.linspace(-1.0, 1.0, 3), "ys": np.linspace(-1.0, 1.0, 4)},
        {"xs": np.zeros((4, 1))},
    ],
)
def test_compute_tile_rejects_mismatched_shapes(changes):
    with pytest.raises(ValueError, match=r"tile shape \(3, 4\)"):
        compute_tile(make_task(**changes))


@pytest.mark.parametrize("render", [render, render_frame], ids=["float64", "frame"])
def test_render_validates_config(render):
    # The frame budget is a frame's (FrameWork's, see test_config), not render's: render
    # checks the view. A Julia set's span, valid alone, deeper than its perturbation goes:
    cfg = FractalConfig(fractal="julia", width=64, height=64, max_iter=10)
    cfg.span = "1e-400"
    with pytest.raises(ValueError, match=r"span 1e-400 .*deeper than Julia sets are drawn"):
        render(cfg, threads=1)
    # A view assigned in a non-canonical form is made canonical first: the frame of its key.
    cfg = FractalConfig(fractal="mandelbrot", width=64, height=64, max_iter=10)
    cfg.param.update(center_real="-0.50", span="2.0")
    frame = render(cfg, threads=1)
    assert (cfg.center_real, cfg.span) == ("-0.5", "2")
    np.testing.assert_array_equal(frame, whole_frame(cfg))
