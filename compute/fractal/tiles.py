"""Splitting a frame into tiles, computing a tile, assembling tiles into a frame.

Tiles are the unit of work sent to Dask: a frame is cancelled tile by tile (Dask cannot
stop a task that has started, but drops queued ones), and finished tiles stream to the
viewer while the rest compute. ``render`` runs the same tile function in-process, so the
Dask path and the in-process path give bit-identical frames.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..engine.reports import report_started
from .kernels import escape_time

#: Target tile edge when nothing is known of a frame's cost: 4x4 tiles for 1024x1024.
TILE_EDGE = 256
#: At most this many tiles along an axis (16 tiles in all). Finer grids were measured:
#: every tile slot is five Bokeh models in each session's document, and the server's
#: cost of every websocket message grows with the number of models (64 slots took it to
#: 725 models and about 2 ms of reference bookkeeping per message); 16 tiles of a heavy
#: frame still stream, cancel and take turns at a fraction of a second each.
MAX_TILES_PER_AXIS = 4
#: Tiles along an axis when nothing is known of the cost (the rule of TILE_EDGE).
DEFAULT_TILES_PER_AXIS = 4

#: The kernel's cost model, measured with ``bench/kernels.py`` on one core of this
#: project's 2-core machine: about a billion iterations a second, plus a fixed cost per
#: pixel (the smooth colouring's logarithms, lane refills) worth about 80 iterations.
ITERATIONS_PER_SECOND = 1.0e9
PIXEL_OVERHEAD = 80
#: Aim for tiles of about this many seconds of one core. Larger tiles waste less on
#: per-task overhead (a few ms each); smaller ones stream and cancel at a finer grain and
#: let other sessions' work interleave (see ``JobRegistry``).
TILE_SECONDS = 0.05
#: Below this many seconds a frame is one tile: splitting costs more than it saves.
SPLIT_SECONDS = 0.02


@dataclass(frozen=True)
class Tile:
    """A rectangle of pixels of a frame: rows ``y0:y1``, columns ``x0:x1``."""

    row: int
    col: int
    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0

    @property
    def size(self) -> int:
        return (self.y1 - self.y0) * (self.x1 - self.x0)


def _cuts(n: int, parts: int) -> list[int]:
    parts = max(1, min(parts, n))
    return [round(i * n / parts) for i in range(parts + 1)]


def default_grid(width: int, height: int) -> tuple[int, int]:
    """``(rows, cols)`` when the frame's cost is unknown: tiles of about TILE_EDGE pixels."""

    def parts(n: int) -> int:
        return min(DEFAULT_TILES_PER_AXIS, max(1, math.ceil(n / TILE_EDGE)))

    return parts(height), parts(width)


def split(width: int, height: int, grid: tuple[int, int] | None = None) -> list[Tile]:
    """Tiles covering a ``height x width`` frame, centre tiles first.

    ``grid`` is ``(rows, cols)``; by default :func:`default_grid`. Centre-first ordering
    makes the middle of the view, where the eye is, arrive first.
    """
    rows, cols = grid or default_grid(width, height)
    if not (1 <= rows <= MAX_TILES_PER_AXIS and 1 <= cols <= MAX_TILES_PER_AXIS):
        raise ValueError(f"a grid has 1..{MAX_TILES_PER_AXIS} tiles per axis, not {grid}")
    ys, xs = _cuts(height, rows), _cuts(width, cols)
    tiles = [
        Tile(r, c, ys[r], ys[r + 1], xs[c], xs[c + 1])
        for r in range(len(ys) - 1)
        for c in range(len(xs) - 1)
    ]
    cy, cx = (len(ys) - 2) / 2, (len(xs) - 2) / 2
    return sorted(tiles, key=lambda t: ((t.row - cy) ** 2 + (t.col - cx) ** 2, t.row, t.col))


def seconds(iterations: float, pixels: int) -> float:
    """Estimated seconds of one core for ``iterations`` over ``pixels`` (the cost model)."""
    return (iterations + PIXEL_OVERHEAD * pixels) / ITERATIONS_PER_SECOND


def expected_iterations(config, sample: np.ndarray) -> float:
    """Iterations ``config``'s frame will cost, estimated from a coarse ``sample`` of it.

    ``sample`` holds escape values of the same view at a coarser grid (a preview): each
    escaped pixel costs about its escape value, each inside pixel ``max_iter``. The
    estimate is deterministic (the sample is), so every process plans the same tiles.
    """
    values = np.asarray(sample, dtype=np.float64)
    inside = np.isnan(values)
    total = float(np.sum(values, where=~inside)) + float(inside.sum()) * config.max_iter
    return total * (config.width * config.height) / max(values.size, 1)


def plan(config, iterations: float | None = None) -> tuple[int, int]:
    """The ``(rows, cols)`` grid for ``config``'s frame, given its expected iterations.

    Cheap frames become few tasks (per-task overhead dominates them), heavy frames fine
    tiles of about :data:`TILE_SECONDS` each, at most ``MAX_TILES_PER_AXIS`` per axis.
    Without an estimate, :func:`default_grid`.
    """
    width, height = config.width, config.height
    if iterations is None:
        return default_grid(width, height)
    cost = seconds(iterations, width * height)
    wanted = 1 if cost < SPLIT_SECONDS else max(2, round(cost / TILE_SECONDS))
    # Powers of two, split along the longer side first, tiles at least 32 px a side.
    rows = cols = 1
    while rows * cols < wanted:
        if width / cols >= height / rows and cols < MAX_TILES_PER_AXIS and width >= 64 * cols:
            cols *= 2
        elif rows < MAX_TILES_PER_AXIS and height >= 64 * rows:
            rows *= 2
        elif cols < MAX_TILES_PER_AXIS and width >= 64 * cols:
            cols *= 2
        else:
            break
    return rows, cols


def pixel_centers(lo: float, hi: float, n: int) -> np.ndarray:
    """Coordinates of the centres of ``n`` pixels spanning ``[lo, hi]``."""
    return lo + (np.arange(n) + 0.5) * ((hi - lo) / n)


@dataclass(frozen=True)
class TileTask:
    """Everything a worker needs to compute one tile: plain data, cheap to pickle."""

    tile: Tile
    xs: np.ndarray
    ys: np.ndarray
    c_real: float
    c_imag: float
    mandelbrot: bool
    max_iter: int
    #: The job it is part of (its start is reported under this key).
    job_key: str = ""


def tile_tasks(config, job_key: str = "", grid: tuple[int, int] | None = None) -> list[TileTask]:
    """The tasks of a frame on ``grid`` (see :func:`split`), in scheduling order."""
    values = config.compute_values()
    tiles = split(values["width"], values["height"], grid)
    xs = pixel_centers(*values["x_range"], values["width"])
    ys = pixel_centers(*values["y_range"], values["height"])
    return [
        TileTask(
            tile=tile,
            xs=xs[tile.x0 : tile.x1].copy(),
            ys=ys[tile.y0 : tile.y1].copy(),
            c_real=values["c_real"],
            c_imag=values["c_imag"],
            mandelbrot=values["fractal"] == "mandelbrot",
            max_iter=values["max_iter"],
            job_key=job_key,
        )
        for tile in tiles
    ]


def compute_tile(task: TileTask) -> np.ndarray:
    """Compute one tile's smooth escape values (the function Dask workers run).

    The task is checked again here: a worker must fail with a clear message, not compute
    garbage, when input that the client should have refused slips through.
    """
    if task.max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {task.max_iter}")
    if task.xs.shape != (task.tile.shape[1],) or task.ys.shape != (task.tile.shape[0],):
        raise ValueError(f"coordinates do not match tile shape {task.tile.shape}")
    if not (np.isfinite(task.xs).all() and np.isfinite(task.ys).all()):
        raise ValueError("tile coordinates must be finite")
    # The worker's word that the tile really started, not a guess from the future: a
    # future is "processing" while the tile still waits in a queue.
    if task.job_key:
        report_started(task.job_key)
    return escape_time(
        task.xs, task.ys, complex(task.c_real, task.c_imag), task.mandelbrot, task.max_iter
    )


def assemble(height: int, width: int, tiles) -> np.ndarray:
    """Place ``(tile, values)`` pairs into one ``(height, width)`` frame."""
    frame = np.empty((height, width))
    for tile, values in tiles:
        frame[tile.slices] = values
    return frame


def render(config, *, threads: int | None = None) -> np.ndarray:
    """Compute a frame in this process, without Dask.

    Parameters
    ----------
    config : FractalConfig
        The view to compute; validated first.
    threads : int, optional
        Threads computing tiles in parallel (the kernel releases the GIL). Defaults to the
        number of CPUs.

    Returns
    -------
    ndarray of float64, shape ``(config.height, config.width)``
        Smooth escape values, NaN inside the set; row 0 is ``y_range[0]``.
    """
    config.validate()
    tasks = tile_tasks(config)
    threads = threads or os.cpu_count() or 1
    if threads == 1 or len(tasks) == 1:
        results = map(compute_tile, tasks)
    else:
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(compute_tile, tasks))
    return assemble(
        config.height, config.width, zip((t.tile for t in tasks), results, strict=True)
    )
