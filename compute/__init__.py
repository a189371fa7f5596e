"""The fractal engine: kernels, tiling, colouring, Dask jobs. No UI imports, ever."""

from .cluster import ClusterConnection, configured_address
from .colour import COLORMAPS, NORMALIZATIONS, lookup_table, normalize, shade
from .config import PIXEL_BUDGET, FractalConfig
from .debounce import Debouncer
from .jobs import Job, JobCancelled, JobError, JobFailed, JobManager, JobRegistry, TileResult
from .store import FrameCache
from .tiles import Tile, render, split

__all__ = [
    "COLORMAPS",
    "NORMALIZATIONS",
    "PIXEL_BUDGET",
    "ClusterConnection",
    "Debouncer",
    "FractalConfig",
    "FrameCache",
    "Job",
    "JobCancelled",
    "JobError",
    "JobFailed",
    "JobManager",
    "JobRegistry",
    "Tile",
    "TileResult",
    "configured_address",
    "lookup_table",
    "normalize",
    "render",
    "shade",
    "split",
]
