"""Frames for tests and benchmarks: cheap ones, slow ones, and a buggy client's.

One definition of each, for the tests of every layer and the benchmarks.
"""

from __future__ import annotations

from distributed import Client

from ..engine.diagnostics import executed_tasks
from ..engine.testing import scheduler_tasks
from .config import FractalConfig
from .frame import TILE_TASK


def light(n: int = 0, size: int = 256) -> FractalConfig:
    """A cheap frame (a few milliseconds); ``n`` makes distinct configs (and task keys)."""
    return FractalConfig(
        c_real=-0.75 + n * 1e-3, c_imag=0.11, max_iter=100, width=size, height=size
    )


def heavy(n: int = 0, c_imag: float = 0.1) -> FractalConfig:
    """A slow frame: 16 tiles of about 0.25 s each.

    c lies in the Mandelbrot set, so nearly every pixel of this view costs max_iter
    iterations. Cancellation can only stop tiles that are still queued, so the frame must
    take long enough for some to be. ``n`` (and ``c_imag``) make distinct frames.
    """
    return FractalConfig(
        c_real=-0.1,
        c_imag=c_imag + n * 1e-3,
        x_range=(-0.5, 0.5),
        y_range=(-0.5, 0.5),
        max_iter=4000,
        width=1024,
        height=1024,
    )


class SlippedThrough(FractalConfig):
    """A config with a client-side bug: it passes validation but sends max_iter=0."""

    def compute_values(self) -> dict:
        return {**super().compute_values(), "max_iter": 0}


def tile_prefix(key: str) -> str:
    """The name every Dask task of frame ``key``'s tiles starts with."""
    return f"{TILE_TASK}-{key}"


async def executed_tiles(client: Client, key: str) -> int:
    """Tiles of frame ``key`` that a worker executed (needs the ExecutionCounter plugin)."""
    return sum(tile_prefix(key) in k for k, _ in await executed_tasks(client, TILE_TASK))


async def tiles_held(client: Client, key: str) -> list[str]:
    """The tasks of frame ``key``'s tiles that the scheduler still holds."""
    return await scheduler_tasks(client, tile_prefix(key))
