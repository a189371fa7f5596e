"""Escape-time kernels: arrays and scalars in, an array out; no globals, no I/O.

Speed comes from two choices, both measured in ``bench/kernels.py``:

* A block of ``LANES`` pixels is iterated in lockstep, branch-free, so that LLVM turns the
  lane loop into AVX instructions. Updates are blends (``f * new + (1 - f) * old`` with
  ``f`` 0 or 1, exact in floating point), not conditional stores: a conditional store
  compiles to masked moves, which are slow on many x86 cores (3x slower here).
* A lane whose pixel has escaped is refilled with the next pixel every ``STEPS``
  iterations, so that lanes never idle waiting for the slowest pixel of their block.
* Mandelbrot points in the main cardioid or the period-2 bulb are inside by a closed-form
  test, so they skip the ``max_iter`` iterations that would otherwise dominate the cost.

The kernel records the escape count and ``|z|**2`` at escape; the logarithms of the
smooth (continuous) colouring are applied afterwards by NumPy over the whole tile, which
vectorises them (in the kernel they cost more than the iterations themselves).
"""

from __future__ import annotations

import math

import numba
import numpy as np

#: Bumped whenever the values computed for a given config change, so that stored results
#: computed by an older kernel are never served as current (it is part of every key).
KERNEL_VERSION = 1

#: Escape radius R. A large radius makes the smooth value independent of it to within
#: about 1e-5 of an iteration.
ESCAPE_RADIUS = 256.0
_BAILOUT = ESCAPE_RADIUS * ESCAPE_RADIUS
_LOG_BAILOUT = math.log(_BAILOUT)

#: Pixels iterated in lockstep: 8 AVX2 vectors of doubles, enough independent work to
#: hide the latency of the multiply-add chain.
LANES = 32
#: Iterations between refills: fewer costs refill scans, more costs idle lanes.
STEPS = 8

_jit = numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")


@_jit
def _iterate(zr, zi, cr, ci, count, live, limit, steps):
    # ``live`` records this loop's own verdict: the caller must not re-derive it, as
    # fastmath may round |z|**2 differently elsewhere (a lane could then never finish).
    for _ in range(steps):
        for k in range(zr.shape[0]):
            a = zr[k]
            b = zi[k]
            a2 = a * a
            b2 = b * b
            f = 1.0 if (a2 + b2 <= _BAILOUT) & (count[k] < limit) else 0.0
            g = 1.0 - f
            count[k] += f
            live[k] = f
            zi[k] = f * (2.0 * a * b + ci[k]) + g * b
            zr[k] = f * (a2 - b2 + cr[k]) + g * a


@_jit
def _in_cardioid_or_bulb(x, y):
    y2 = y * y
    q = (x - 0.25) * (x - 0.25) + y2
    return q * (q + (x - 0.25)) <= 0.25 * y2 or (x + 1.0) * (x + 1.0) + y2 <= 0.0625


@_jit
def escape_counts(xs, ys, c_real, c_imag, mandelbrot, max_iter, counts, mag2):
    """Iterate every pixel of a tile; write escape counts and ``|z|**2`` at escape.

    Parameters
    ----------
    xs, ys : ndarray of float64
        Pixel-centre coordinates along the real and imaginary axes.
    c_real, c_imag : float
        The Julia constant (ignored when ``mandelbrot``).
    mandelbrot : bool
        Iterate ``z -> z**2 + pixel`` from 0 instead of ``z -> z**2 + c`` from the pixel.
    max_iter : int
        Iterations after which a pixel counts as inside the set.
    counts, mag2 : ndarray of float64, shape ``(len(ys), len(xs))``
        Outputs: iterations until ``|z| > ESCAPE_RADIUS`` (-1 for points inside) and
        ``|z|**2`` at that moment.
    """
    nx = xs.shape[0]
    total = nx * ys.shape[0]
    zr = np.full(LANES, 2.0 * ESCAPE_RADIUS)  # an escaped value marks an empty lane
    zi = np.zeros(LANES)
    cr = np.zeros(LANES)
    ci = np.zeros(LANES)
    count = np.zeros(LANES)
    live = np.zeros(LANES)
    pixel = np.full(LANES, -1)
    limit = float(max_iter)
    following = 0
    while True:
        active = 0
        for k in range(LANES):
            i = pixel[k]
            if i >= 0 and live[k] == 0.0:
                row = i // nx
                col = i - row * nx
                m = zr[k] * zr[k] + zi[k] * zi[k]
                # Stopped before the limit means escaped; at the limit, ask |z|.
                escaped = count[k] < limit or m > _BAILOUT
                counts[row, col] = count[k] if escaped else -1.0
                mag2[row, col] = m
                pixel[k] = -1
            if pixel[k] < 0:
                if mandelbrot:
                    # Points of the main cardioid and the period-2 bulb are inside: known
                    # in closed form, and each would cost max_iter iterations.
                    while following < total:
                        row = following // nx
                        col = following - row * nx
                        if not _in_cardioid_or_bulb(xs[col], ys[row]):
                            break
                        counts[row, col] = -1.0
                        mag2[row, col] = 0.0
                        following += 1
                if following < total:
                    row = following // nx
                    col = following - row * nx
                    if mandelbrot:
                        zr[k] = 0.0
                        zi[k] = 0.0
                        cr[k] = xs[col]
                        ci[k] = ys[row]
                    else:
                        zr[k] = xs[col]
                        zi[k] = ys[row]
                        cr[k] = c_real
                        ci[k] = c_imag
                    count[k] = 0.0
                    live[k] = 1.0
                    pixel[k] = following
                    following += 1
                else:
                    zr[k] = 2.0 * ESCAPE_RADIUS
                    zi[k] = 0.0
            if pixel[k] >= 0:
                active += 1
        if active == 0:
            return
        _iterate(zr, zi, cr, ci, count, live, limit, STEPS)


def smooth(counts: np.ndarray, mag2: np.ndarray) -> np.ndarray:
    """Continuous escape values from counts and ``|z|**2`` at escape.

    ``n + 1 - log2(log|z_n| / log R)`` lies in ``[n, n + 1)`` and varies continuously
    across the bands of integer counts. Points inside the set are NaN.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        values = counts + 1.0 - np.log2(np.log(mag2) / _LOG_BAILOUT)
    values[counts < 0] = np.nan
    return values


def escape_time(
    xs: np.ndarray,
    ys: np.ndarray,
    c: complex,
    mandelbrot: bool,
    max_iter: int,
) -> np.ndarray:
    """Smooth escape values of the pixels ``(xs[j], ys[i])``.

    Parameters
    ----------
    xs, ys : ndarray of float64
        Pixel-centre coordinates; the result has shape ``(len(ys), len(xs))`` and row 0
        is ``ys[0]``.
    c : complex
        The Julia constant (ignored for Mandelbrot).
    mandelbrot : bool
        Compute the Mandelbrot set instead of the Julia set of ``c``.
    max_iter : int
        Iteration limit, at least 1.

    Returns
    -------
    ndarray of float64
        Escape values in ``[0, max_iter + 1)``; NaN for points inside the set.
    """
    xs = np.ascontiguousarray(xs, dtype=np.float64)
    ys = np.ascontiguousarray(ys, dtype=np.float64)
    counts = np.empty((ys.size, xs.size))
    mag2 = np.empty((ys.size, xs.size))
    escape_counts(
        xs, ys, float(c.real), float(c.imag), bool(mandelbrot), int(max_iter), counts, mag2
    )
    return smooth(counts, mag2)


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel signature the engine uses."""
    from .colour import warm_up as colour_warm_up

    axis = np.linspace(-1.0, 1.0, 4)
    for mandelbrot in (False, True):
        escape_time(axis, axis, complex(-0.8, 0.156), mandelbrot, 4)
    colour_warm_up()
