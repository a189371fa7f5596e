"""The computation behind the explorer: the offload engine and the fractal built on it.

* :mod:`compute.engine`: the offload engine, for any computation (no domain, no UI);
* :mod:`compute.fractal`: the fractal's kernels, tiles, colours and kinds of work.

No UI library is imported here, ever. Names are exported lazily (PEP 562): ``import
compute`` costs nothing, and ``import compute.engine`` never imports the kernels.
"""

from __future__ import annotations

import importlib

#: Each public name, and the module that defines it.
_EXPORTS = {
    # the engine
    "ClusterConnection": "compute.engine.cluster",
    "configured_address": "compute.engine.cluster",
    "Debouncer": "compute.engine.debounce",
    "Engine": "compute.engine.engine",
    "EngineUnavailable": "compute.engine.engine",
    "Job": "compute.engine.job",
    "JobCancelled": "compute.engine.job",
    "JobError": "compute.engine.job",
    "JobFailed": "compute.engine.job",
    "Part": "compute.engine.job",
    "JobManager": "compute.engine.manager",
    "JobRecord": "compute.engine.records",
    "JobRegistry": "compute.engine.registry",
    "Ledger": "compute.engine.limits",
    "LimitExceeded": "compute.engine.limits",
    "Limits": "compute.engine.limits",
    "Work": "compute.engine.work",
    "call_key": "compute.engine.calls",
    # the fractal
    "COLORMAPS": "compute.fractal.colour",
    "NORMALIZATIONS": "compute.fractal.colour",
    "Normalizer": "compute.fractal.colour",
    "lookup_table": "compute.fractal.colour",
    "normalize": "compute.fractal.colour",
    "palette_hex": "compute.fractal.colour",
    "shade": "compute.fractal.colour",
    "to_png": "compute.fractal.colour",
    "PIXEL_BUDGET": "compute.fractal.config",
    "FractalConfig": "compute.fractal.config",
    "FrameJob": "compute.fractal.frame",
    "TileResult": "compute.fractal.frame",
    "FrameCache": "compute.fractal.setup",
    "FrameStore": "compute.fractal.setup",
    "fractal_connection": "compute.fractal.setup",
    "fractal_engine": "compute.fractal.setup",
    "Tile": "compute.fractal.tiles",
    "render": "compute.fractal.frame",
    "split": "compute.fractal.tiles",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'compute' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
