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

from .kernels import escape_time

#: Target tile edge. 4x4 tiles for a 1024x1024 frame: enough to stream and to cancel at a
#: fine grain, few enough that the per-task overhead (a few ms) stays small.
TILE_EDGE = 256
#: At most this many tiles along an axis.
MAX_TILES_PER_AXIS = 4

#: Topic under which workers report that a tile started (see ``jobs.py``).
TILE_STARTED_TOPIC = "fractal-tile-started"


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


def _cuts(n: int) -> list[int]:
    parts = min(MAX_TILES_PER_AXIS, max(1, math.ceil(n / TILE_EDGE)))
    return [round(i * n / parts) for i in range(parts + 1)]


def split(width: int, height: int) -> list[Tile]:
    """Tiles covering a ``height x width`` frame, row-major, centre tiles first.

    Centre-first ordering makes the middle of the view, where the eye is, arrive first.
    """
    ys, xs = _cuts(height), _cuts(width)
    tiles = [
        Tile(r, c, ys[r], ys[r + 1], xs[c], xs[c + 1])
        for r in range(len(ys) - 1)
        for c in range(len(xs) - 1)
    ]
    cy, cx = (len(ys) - 2) / 2, (len(xs) - 2) / 2
    return sorted(tiles, key=lambda t: ((t.row - cy) ** 2 + (t.col - cx) ** 2, t.row, t.col))


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
    job_key: str = ""
    attempt: int = 0


def tile_tasks(config, job_key: str = "", attempt: int = 0) -> list[TileTask]:
    """The tasks of a frame, in the order they should be scheduled."""
    values = config.compute_values()
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
            attempt=attempt,
        )
        for tile in split(values["width"], values["height"])
    ]


def _report_start(task: TileTask) -> None:
    # Tell the client the tile really started. This is the worker's word, not a guess
    # from the future: a future is "processing" while the tile still waits in a queue.
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:  # not on a Dask worker (render(), tests)
        return
    worker.log_event(
        TILE_STARTED_TOPIC,
        {"job": task.job_key, "attempt": task.attempt, "row": task.tile.row, "col": task.tile.col},
    )


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
    _report_start(task)
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
