"""The fractal explorer's domain, built on :mod:`compute.engine`.

A view (:class:`FractalConfig`), the kernels that compute it, its tiles, its colours, the
frame and the zoom movie as kinds of work, video encoding, and the render session that
turns a person's exploration into work (:class:`RenderSession`). It imports the engine;
the engine never imports it.
"""

from .colour import (
    COLORMAPS,
    NORMALIZATIONS,
    Normalizer,
    lookup_table,
    normalize,
    palette_hex,
    shade,
    to_png,
)
from .config import COMPUTE_PARAMS, DISPLAY_PARAMS, PIXEL_BUDGET, PLANE, FractalConfig
from .frame import FrameJob, FrameWork, TileResult, render
from .movie import Movie, MovieJob, MovieSpec
from .plugins import KernelWarmup
from .session import RenderSession
from .setup import (
    KINDS,
    PIXEL_ITERATIONS,
    FrameCache,
    FrameStore,
    fractal_connection,
    fractal_engine,
    fractal_engine_from_env,
    fractal_limits,
    fractal_registry,
)
from .tiles import Tile, split

__all__ = [
    "COLORMAPS",
    "COMPUTE_PARAMS",
    "DISPLAY_PARAMS",
    "KINDS",
    "NORMALIZATIONS",
    "PIXEL_BUDGET",
    "PIXEL_ITERATIONS",
    "PLANE",
    "FractalConfig",
    "FrameCache",
    "FrameJob",
    "FrameStore",
    "FrameWork",
    "KernelWarmup",
    "Movie",
    "MovieJob",
    "MovieSpec",
    "Normalizer",
    "RenderSession",
    "Tile",
    "TileResult",
    "fractal_connection",
    "fractal_engine",
    "fractal_engine_from_env",
    "fractal_limits",
    "fractal_registry",
    "lookup_table",
    "normalize",
    "palette_hex",
    "render",
    "shade",
    "split",
    "to_png",
]
