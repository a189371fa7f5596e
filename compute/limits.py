"""Moved to :mod:`compute.engine.limits` (the fractal's cost unit and variables in
:mod:`compute.fractal.setup`); this path is kept for this release (deprecated)."""

from compute.engine.limits import WINDOW, CostUnit, Ledger, LimitExceeded, Limits, consumer
from compute.fractal.setup import (
    BACKGROUND_ENV,
    JOBS_ENV,
    PIXEL_ITERATIONS,
    PIXEL_ITERATIONS_ENV,
    fractal_limits,
)

__all__ = [
    "BACKGROUND_ENV",
    "JOBS_ENV",
    "PIXEL_ITERATIONS",
    "PIXEL_ITERATIONS_ENV",
    "WINDOW",
    "CostUnit",
    "Ledger",
    "LimitExceeded",
    "Limits",
    "consumer",
    "fractal_limits",
]
