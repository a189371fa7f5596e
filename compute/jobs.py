"""Moved: the engine to :mod:`compute.engine`, the frame to :mod:`compute.fractal.frame`.

This path is kept for this release (deprecated): every public name it had resolves,
and so does the call task pickled by reference under its old name (``_apply``).
"""

from compute.engine.calls import CallWork, GraphWork, TaskJob, call_key
from compute.engine.calls import apply_call as _apply
from compute.engine.driver import BACKGROUND_PRIORITY, Driver
from compute.engine.job import (
    FINAL_STATES,
    LIVE_STATES,
    STATES,
    Job,
    JobCancelled,
    JobError,
    JobFailed,
    Part,
)
from compute.engine.manager import JobManager
from compute.engine.registry import JobRegistry
from compute.engine.work import Work
from compute.fractal.frame import FrameJob, FrameWork, TileResult

__all__ = [
    "BACKGROUND_PRIORITY",
    "FINAL_STATES",
    "LIVE_STATES",
    "STATES",
    "CallWork",
    "Driver",
    "FrameJob",
    "FrameWork",
    "GraphWork",
    "Job",
    "JobCancelled",
    "JobError",
    "JobFailed",
    "JobManager",
    "JobRegistry",
    "Part",
    "TaskJob",
    "TileResult",
    "Work",
    "_apply",
    "call_key",
]
