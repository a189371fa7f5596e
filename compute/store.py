"""Moved: the store to :mod:`compute.engine.store` (the fractal's defaults in
:mod:`compute.fractal.setup`); this path is kept for this release (deprecated)."""

from compute.engine.store import DISABLED, MISSING, StoreUnavailable
from compute.fractal.setup import FrameCache, FrameStore

#: Environment variables read by ``FrameStore.from_env`` and ``FrameCache.from_env``.
STORE_ENV = "FRACTAL_STORE"
STORE_BYTES_ENV = "FRACTAL_STORE_MAX_BYTES"
CACHE_BYTES_ENV = "FRACTAL_CACHE_MAX_BYTES"
#: The first words of ``FrameStore.problem``.
NOT_SAVING = FrameStore.NOT_SAVING
default_location = FrameStore.default_location

__all__ = [
    "CACHE_BYTES_ENV",
    "DISABLED",
    "MISSING",
    "NOT_SAVING",
    "STORE_BYTES_ENV",
    "STORE_ENV",
    "FrameCache",
    "FrameStore",
    "StoreUnavailable",
    "default_location",
]
