"""Moved to :mod:`compute.fractal.kernels`; this path is kept for this release (deprecated).

The module *is* the new one (``sys.modules`` points this name at it), so that every
name, and every function pickled by reference under the old path, still resolves.
"""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("compute.fractal.kernels")
