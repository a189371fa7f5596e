"""Moved to :mod:`compute.engine.records`; this path is kept for this release (deprecated).

A record is restored by an engine's kinds now (``engine.kinds.restore(record)``).
"""

from compute.engine.records import ENDED, RECORD_STATES, JobRecord

#: The kinds of work the fractal explorer registers (see compute.fractal.setup.KINDS),
#: and the engine's own.
KINDS = ("frame", "movie", "call", "graph")

__all__ = ["ENDED", "KINDS", "RECORD_STATES", "JobRecord"]
