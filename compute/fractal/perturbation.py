"""Deep zoom: Mandelbrot pixels as float64 offsets from an arbitrary-precision reference.

A pixel ``c = C + dc`` near the reference point ``C`` (:mod:`.reference`) is iterated as
its offset ``dz_n = z_n - Z_n`` from the reference orbit::

    dz_{n+1} = 2 Z_n dz_n + dz_n**2 + dc

which needs only float64, however deep the view, as long as the numbers themselves fit
float64's range. Instead of detecting glitches, the loop *rebases* (Zhuoran's method):
when ``|Z_n + dz_n| < |dz_n|`` (the pixel came closer to 0 than to the reference), or
when the reference orbit ends (it escaped, or it is shorter than the pixel needs), the
pixel continues from the orbit's start with ``dz = Z_n + dz_n`` and ``n = 0``. The escape
count and ``|z|**2`` at escape are recorded exactly as :mod:`.kernels` records them, so
:func:`.kernels.smooth` gives the same values, and the same colours, on either side of
the switch to deep zoom.

Representation, and the depth it supports
-----------------------------------------
float64 stops at about 2.2e-308 (its smallest normal number); below it, subnormals lose
a bit per halving and cost a hundred cycles each on many x86 cores. At a span of 1e-300
a pixel of a 4,096-pixel frame is 2.4e-304 wide, a sampled point a fraction of that, and
``dz**2`` is 1e-600. So offsets are *scaled* while they are that small: with the view's
scale ``s = 2**e <= span`` (a power of two, so scaling is exact), a pixel's offset is
given as ``dc / s`` (order 1 across the frame) and iterated as ``u = dz / s``::

    u_{n+1} = 2 Z_n u_n + (s u_n) u_n + dc / s

in which the quadratic term is computed as ``(s u) u``: it underflows harmlessly (to
values negligible next to ``u``) instead of overflowing. Once ``|dz|`` reaches
:data:`PLAIN` (2**-500, far above the subnormals and far below 1), or at the first rebase,
the pixel continues in plain float64 offsets: from then on ``dz`` dwarfs ``dc``, and
nothing small enough to underflow matters any more.

The scale itself is a float64, and in the plain phase ``dc = s * (dc / s)`` must stay a
normal number for the smallest offset a frame has (half a pixel of 4,096: ``2**-13``
of the scale), as must a rebased ``z`` of the size of an offset. Hence the supported
depth: spans down to ``2**MIN_SPAN_EXPONENT = 2**-1000``, about 9.3e-302. Deeper views
would need an extended exponent (a float64 mantissa with a separate integer exponent).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import gmpy2
import numba
import numpy as np

from .kernels import ESCAPE_RADIUS, smooth
from .reference import Orbit, reference_orbit, span_exponent

#: The smallest ``e`` of a view's scale ``2**e``; see the module docstring.
MIN_SPAN_EXPONENT = -1000
#: ``|dz|`` from which a pixel leaves the scaled phase: far above float64's subnormals
#: (2**-1022) and far below any value that matters next to the reference (order 1).
PLAIN = 2.0**-500

_BAILOUT = ESCAPE_RADIUS * ESCAPE_RADIUS

# Contraction (fused multiply-adds) only: the scaled phase relies on infinities compared
# correctly (|Z / s|**2 overflows, rightly "not smaller than |u|**2"), which numba's full
# fastmath would let LLVM assume away.
_jit = numba.njit(cache=True, nogil=True, fastmath={"contract", "nsz"}, error_model="numpy")


@_jit
def perturbed_counts(orbit_re, orbit_im, dc_re, dc_im, scale, max_iter, counts, mag2):
    """Iterate pixels as offsets from a reference orbit; write counts and ``|z|**2``.

    Parameters
    ----------
    orbit_re, orbit_im : ndarray of float64
        The reference orbit ``Z_0 = 0, Z_1 = C, ...``, at least 2 values; it may end
        early (escaped) or be shorter than ``max_iter``: pixels are rebased at its end.
    dc_re, dc_im : ndarray of float64, 1-D
        Each pixel's offset from the reference point, divided by ``scale``.
    scale : float
        A power of two, at least ``2**MIN_SPAN_EXPONENT``: the view's scale.
    max_iter : int
        Iterations after which a pixel counts as inside the set.
    counts, mag2 : ndarray of float64, 1-D
        Outputs as in :func:`.kernels.escape_counts`: the iteration at which ``|z|``
        first exceeds ``ESCAPE_RADIUS`` (-1 for points inside), ``|z|**2`` then.
    """
    last = orbit_re.shape[0] - 1
    inverse = 1.0 / scale  # exact: scale is a power of two
    big = PLAIN * inverse
    for p in range(dc_re.shape[0]):
        vr = dc_re[p]
        vi = dc_im[p]
        ur = 0.0
        ui = 0.0
        n = 0
        k = 0
        m = 0.0
        count = -1.0
        scaled = True
        # The scaled phase: u = dz / scale.
        while k < max_iter:
            zr = orbit_re[n]
            zi = orbit_im[n]
            sr = scale * ur  # dz, possibly underflowing: then (s u) u is negligible
            si = scale * ui
            tr = 2.0 * (zr * ur - zi * ui) + (sr * ur - si * ui) + vr
            ui = 2.0 * (zr * ui + zi * ur) + 2.0 * sr * ui + vi
            ur = tr
            n += 1
            k += 1
            dr = scale * ur
            di = scale * ui
            ar = orbit_re[n] + dr
            ai = orbit_im[n] + di
            m = ar * ar + ai * ai
            if m > _BAILOUT:
                count = k
                break
            # |z| < |dz| compared in units of the scale, where |dz|**2 cannot underflow;
            # |Z / s|**2 may overflow to infinity, which is rightly never smaller.
            wr = orbit_re[n] * inverse + ur
            wi = orbit_im[n] * inverse + ui
            if wr * wr + wi * wi < ur * ur + ui * ui or n == last:
                ur = ar  # rebased: z itself, from now on a plain offset from Z_0 = 0
                ui = ai
                n = 0
                scaled = False
                break
            if abs(ur) > big or abs(ui) > big:
                ur = dr
                ui = di
                scaled = False
                break
        if count < 0.0 and not scaled:
            # The plain phase: dz itself, dc = scale * (dc / scale).
            cr = scale * vr
            ci = scale * vi
            dr = ur
            di = ui
            while k < max_iter:
                zr = orbit_re[n]
                zi = orbit_im[n]
                tr = 2.0 * (zr * dr - zi * di) + (dr * dr - di * di) + cr
                di = 2.0 * (zr * di + zi * dr) + 2.0 * dr * di + ci
                dr = tr
                n += 1
                k += 1
                ar = orbit_re[n] + dr
                ai = orbit_im[n] + di
                m = ar * ar + ai * ai
                if m > _BAILOUT:
                    count = k
                    break
                if m < dr * dr + di * di or n == last:
                    dr = ar
                    di = ai
                    n = 0
        counts[p] = count
        mag2[p] = m


def view_scale(span: str | float) -> tuple[float, float]:
    """``(scale, mantissa)``: ``span = mantissa * scale``, ``scale`` a power of two.

    Raises
    ------
    ValueError
        For a span deeper than ``2**MIN_SPAN_EXPONENT`` (see the module docstring).
    """
    exponent = span_exponent(span)
    if exponent < MIN_SPAN_EXPONENT:
        raise ValueError(
            f"span {span} is deeper than this representation supports "
            f"(2**{MIN_SPAN_EXPONENT}, about {2.0**MIN_SPAN_EXPONENT:.2g})"
        )
    with gmpy2.context(precision=max(64, 4 * len(str(span)))):
        mantissa = float(gmpy2.mul_2exp(gmpy2.mpfr(str(span)), -exponent))
    return math.ldexp(1.0, exponent), mantissa


def pixel_offsets(width: int, height: int, mantissa: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre offsets from a view's centre, in units of its scale.

    Pixels are square, ``span / width`` a side; ``xs[j]`` is column ``j``'s offset along
    the real axis, ``ys[i]`` row ``i``'s along the imaginary axis, row 0 the lowest, as in
    :func:`.tiles.render` (its ``y_range[0]``).
    """
    pixel = mantissa / width
    xs = (np.arange(width) + 0.5 - width / 2) * pixel
    ys = (np.arange(height) + 0.5 - height / 2) * pixel
    return xs, ys


def escape_deep(
    orbit: Orbit,
    dc_re: np.ndarray,
    dc_im: np.ndarray,
    scale: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Escape counts and ``|z|**2`` at escape of pixels given by offsets, in this thread.

    Parameters
    ----------
    orbit : Orbit
        The reference orbit from ``Z_0`` (:func:`.reference.reference_orbit`).
    dc_re, dc_im : array_like of float64
        Offsets from the reference point in units of ``scale``, broadcast together
        (a row of columns' offsets and a column of rows' make a frame).
    scale : float
        A power of two, at least ``2**MIN_SPAN_EXPONENT`` (:func:`view_scale`).
    max_iter : int
        Iteration limit, at least 1.

    Returns
    -------
    counts, mag2 : ndarray of float64
        Of the offsets' broadcast shape, as :func:`.kernels.escape_counts` writes them: give them
        to :func:`.kernels.smooth` for smooth values.
    """
    if orbit.start != 0 or len(orbit) < 2:
        raise ValueError("a reference orbit starts at Z_0 and has at least 2 values")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    if not (math.ldexp(1.0, MIN_SPAN_EXPONENT) <= scale and math.frexp(scale)[0] == 0.5):
        raise ValueError(f"scale must be a power of two >= 2**{MIN_SPAN_EXPONENT}")
    dc_re, dc_im = np.broadcast_arrays(
        np.asarray(dc_re, dtype=np.float64), np.asarray(dc_im, dtype=np.float64)
    )
    flat_re = np.ascontiguousarray(dc_re).ravel()
    flat_im = np.ascontiguousarray(dc_im).ravel()
    counts = np.empty(flat_re.shape)
    mag2 = np.empty(flat_re.shape)
    perturbed_counts(
        np.ascontiguousarray(orbit.real),
        np.ascontiguousarray(orbit.imag),
        flat_re,
        flat_im,
        float(scale),
        int(max_iter),
        counts,
        mag2,
    )
    return counts.reshape(dc_re.shape), mag2.reshape(dc_re.shape)


def render_deep(
    center_real: str,
    center_imag: str,
    span: str,
    width: int,
    height: int,
    max_iter: int,
    *,
    orbit: Orbit | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """A deep Mandelbrot frame's smooth escape values, computed in this process.

    The view is centred on ``center_real + i center_imag``, ``span`` wide along the real
    axis, with square pixels: the same frame as :func:`.tiles.render` of a
    ``FractalConfig(fractal="mandelbrot", x_range=(cx - span / 2, cx + span / 2),
    y_range=(cy - span * height / width / 2, ...))``, at any depth down to
    ``2**MIN_SPAN_EXPONENT``.

    Parameters
    ----------
    center_real, center_imag : str
        The centre as decimal strings (as many digits as the depth needs); it is the
        reference point.
    span : str
        Width of the view along the real axis, positive.
    width, height : int
        Pixels.
    max_iter : int
        Iteration limit, at least 1.
    orbit : Orbit, optional
        The centre's reference orbit at :func:`.reference.precision_bits` of the span
        (or more), computed here when not given: tiles of one frame share one. It has
        ``max_iter + 1`` values or ends where it escaped (which costs rebases); one
        merely cut short is wrong at depth (see :mod:`.reference`).
    threads : int, optional
        Threads iterating rows in parallel (the kernel releases the GIL); by default the
        number of CPUs.

    Returns
    -------
    ndarray of float64, shape ``(height, width)``
        Smooth escape values, NaN inside the set; row 0 is the lowest imaginary part.
    """
    if width < 1 or height < 1:
        raise ValueError(f"a frame has at least one pixel, not {width}x{height}")
    scale, mantissa = view_scale(span)
    if orbit is None:
        orbit = reference_orbit(str(center_real), str(center_imag), str(span), max_iter)
    xs, ys = pixel_offsets(width, height, mantissa)
    counts, mag2 = by_rows(
        height,
        width,
        threads,
        lambda rows: escape_deep(orbit, xs[None, :], ys[rows, None], scale, max_iter),
    )
    return smooth(counts, mag2)


def by_rows(height: int, width: int, threads: int | None, compute) -> list[np.ndarray]:
    """A frame's outputs computed a block of rows at a time, the blocks in threads.

    ``compute(rows)`` returns a tuple of arrays of shape ``(len(rows), width)`` for the
    frame's rows ``rows`` (the kernels release the GIL); the result is one ``(height,
    width)`` array per element of that tuple. ``threads`` defaults to the CPUs.
    """
    threads = max(1, threads or os.cpu_count() or 1)
    # Interleaved rows: neighbouring rows cost alike, so every thread gets a fair share.
    blocks = [np.arange(start, height, threads) for start in range(min(threads, height))]
    if len(blocks) == 1:
        results = [compute(blocks[0])]
    else:
        with ThreadPoolExecutor(len(blocks)) as pool:
            results = list(pool.map(compute, blocks))
    outputs = [np.empty((height, width)) for _ in results[0]]
    for rows, parts in zip(blocks, results, strict=True):
        for output, part in zip(outputs, parts, strict=True):
            output[rows] = part
    return outputs


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernel's signature."""
    orbit = Orbit(0, np.zeros(2), np.zeros(2))
    escape_deep(orbit, np.zeros(1), np.zeros(1), 1.0, 1)


__all__ = [
    "MIN_SPAN_EXPONENT",
    "PLAIN",
    "by_rows",
    "escape_deep",
    "perturbed_counts",
    "pixel_offsets",
    "render_deep",
    "view_scale",
    "warm_up",
]
