"""The fractal engine: kernels, tiling, colouring, Dask jobs. No UI imports, ever."""

from .cluster import ClusterConnection, configured_address
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
from .config import PIXEL_BUDGET, FractalConfig
from .debounce import Debouncer
from .jobs import (
    FrameJob,
    Job,
    JobCancelled,
    JobError,
    JobFailed,
    JobManager,
    JobRegistry,
    Part,
    TileResult,
    call_key,
)
from .limits import Ledger, LimitExceeded, Limits
from .records import JobRecord
from .store import FrameCache, FrameStore
from .tiles import Tile, render, split

__all__ = [
    "COLORMAPS",
    "NORMALIZATIONS",
    "PIXEL_BUDGET",
    "ClusterConnection",
    "Debouncer",
    "FractalConfig",
    "FrameCache",
    "FrameJob",
    "FrameStore",
    "Job",
    "JobCancelled",
    "JobError",
    "JobFailed",
    "JobManager",
    "JobRecord",
    "JobRegistry",
    "Ledger",
    "LimitExceeded",
    "Limits",
    "Normalizer",
    "Part",
    "Tile",
    "TileResult",
    "call_key",
    "configured_address",
    "lookup_table",
    "normalize",
    "palette_hex",
    "render",
    "shade",
    "split",
    "to_png",
]
