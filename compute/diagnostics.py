"""Moved: the execution counter to :mod:`compute.engine.diagnostics`, the kernels'
warm-up to :mod:`compute.fractal.plugins`; this path is kept for this release
(deprecated)."""

from compute.engine.diagnostics import ExecutionCounter, executed_tasks, start_order, task_spans
from compute.fractal.plugins import KernelWarmup

__all__ = ["ExecutionCounter", "KernelWarmup", "executed_tasks", "start_order", "task_spans"]
