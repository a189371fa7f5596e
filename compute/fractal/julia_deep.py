"""Deep zoom into Julia sets: pixels as float64 offsets from arbitrary-precision orbits.

For the Julia set of a constant ``c``, a pixel ``z_0 = Z_0 + dz_0`` near the view's
reference point ``Z_0`` (its centre, in arbitrary precision) is iterated as its offset
``dz_n = z_n - Z_n`` from the *primary* orbit ``Z_{n+1} = Z_n**2 + c`` (MPFR,
:meth:`.reference.ReferenceState.julia`): ``dz_{n+1} = 2 Z_n dz_n + dz_n**2``, with no
``dc`` term, as ``c`` is the same for every pixel. ``c`` stays a float64 (the app's
``c_real``, ``c_imag`` are float64 parameters), exact in the MPFR orbits and in the
float64 loop alike; only the centre needs more digits than float64 holds.

Rebasing, and why the critical orbit
------------------------------------
As in :mod:`.perturbation` (Zhuoran's method), a pixel is rebased when ``|Z_n + dz_n| <
|dz_n|`` or at the end of its (escaped) orbit: it goes on with ``dz = z_n`` from the start
of an orbit through 0. The primary Julia orbit is not one, so every rebase restarts the
pixel along the orbit of the *critical point* 0 (``0, c, c**2 + c, ...``, the Mandelbrot
reference orbit of ``C = c``): it is where ``|z| < |dz|`` sends pixels, and near 0 the map
folds, so an offset from a reference that does not follow the fold loses its meaning.

Scaled offsets, depth, precision
--------------------------------
While tiny, offsets are iterated in units of the view's scale ``s = 2**e <= span``,
``u = dz / s``: ``u_{n+1} = 2 Z_n u_n + (s u_n) u_n``, whose ``(s u) u`` underflows
harmlessly instead of overflowing, and plain once ``|dz|`` reaches
:data:`.perturbation.PLAIN` (before ``|u|**2`` could overflow in the ``|z| < |dz|``
test). Unlike the Mandelbrot kernel's, a rebase does not end the scaled phase: a pixel
rebased with ``|z| < PLAIN`` (beside the critical point, or passing near a preimage of
it) is scaled along the critical orbit, whose next offset is ``z**2``. In plain float64
that underflows for ``|z|`` below 1e-154, and with no ``dc`` to carry its identity the
pixel would then follow the critical orbit exactly ("inside"). Nothing else needs to
stay normal, so spans reach ``2**MIN_SPAN_EXPONENT`` (9.3e-302).

The fold sets the orbits' precision too. A pixel inherits the orbits' MPFR rounding at
every step (``z_{n+1} = z_n**2 + c + error``), which must stay below float64's rounding
of its offset; near 0 a view ``s`` wide folds onto one ``s**2`` wide around ``c``. So
both orbits are computed at the bits of a view ``span**2`` wide
(:func:`julia_precision_bits`, twice the Mandelbrot kernel's). A second fold at that
depth would need the critical orbit to return that close to 0: only the pathological
(recurrent) parameters on the boundary of the Mandelbrot set do.

Counts and ``|z|**2`` at escape are recorded as :mod:`.kernels` does (``z_0`` counts),
so :func:`.kernels.smooth` gives the float64 Julia kernel's colours across the switch.
Limitation: no bilinear approximation (:mod:`.bla`) for Julia yet: deep Julia frames
iterate every pixel step by step, not sped up as Mandelbrot ones are.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .kernels import ESCAPE_RADIUS, smooth
from .perturbation import PLAIN, by_rows, pixel_offsets, view_scale
from .reference import CHUNK, GUARD_BITS, MIN_BITS, Orbit, ReferenceState, extend, span_exponent

#: This kernel's own depth limit, ``2**-1000`` (the Mandelbrot kernel's may differ).
MIN_SPAN_EXPONENT = -1000
_BAILOUT = ESCAPE_RADIUS * ESCAPE_RADIUS

# As in .perturbation: contraction only, infinities must compare correctly.
_jit = numba.njit(cache=True, nogil=True, fastmath={"contract", "nsz"}, error_model="numpy")


@_jit
def julia_counts(p_re, p_im, q_re, q_im, u_re, u_im, scale, max_iter, counts, mag2):
    """Iterate Julia pixels as offsets from the primary and critical orbits.

    ``p_re, p_im`` and ``q_re, q_im`` are the primary and critical orbits' values,
    ``u_re, u_im`` the pixels' offsets in units of ``scale``, flat, all as
    :func:`escape_julia_deep` checks them; ``counts, mag2`` (flat) are written as
    :func:`.kernels.escape_counts` writes them.
    """
    p_last = p_re.shape[0] - 1
    q_last = q_re.shape[0] - 1
    for p in range(u_re.shape[0]):
        o_re = p_re  # the orbit followed, and its last index
        o_im = p_im
        last = p_last
        n = 0
        k = 0
        count = -1.0
        # The offset is x * unit: scaled (unit = scale) while |dz| < PLAIN, else plain.
        scaled = True
        unit = scale
        inverse = 1.0 / scale  # exact: scale is a power of two
        big = PLAIN * inverse  # |x| from which a scaled offset turns plain
        xr = u_re[p]
        xi = u_im[p]
        ar = p_re[0] + unit * xr  # z_k, whose |z|**2 is m
        ai = p_im[0] + unit * xi
        m = ar * ar + ai * ai
        while True:
            if m > _BAILOUT:
                count = k
                break
            if k >= max_iter:
                break
            zr = o_re[n]
            zi = o_im[n]
            # |z| < |dz| in units of the offset; |Z / s|**2 may overflow, rightly.
            wr = zr * inverse + xr
            wi = zi * inverse + xi
            was = scaled
            if wr * wr + wi * wi < xr * xr + xi * xi or n == last:
                # Rebased onto the critical orbit with dz = z, scaled while z is tiny:
                # z**2, the next offset, would underflow in plain float64.
                o_re = q_re
                o_im = q_im
                last = q_last
                n = 0
                zr = 0.0
                zi = 0.0
                xr = wr
                xi = wi
                if scaled and (abs(wr) > big or abs(wi) > big):
                    xr = ar  # z itself: w may have overflowed
                    xi = ai
                    scaled = False
                elif not scaled and abs(wr) < PLAIN and abs(wi) < PLAIN:
                    xr = wr / scale  # exact
                    xi = wi / scale
                    scaled = True
            elif scaled and (abs(xr) > big or abs(xi) > big):
                xr *= unit
                xi *= unit
                scaled = False
            if scaled != was:
                unit = scale if scaled else 1.0
                inverse = 1.0 / unit
            sr = unit * xr  # dz, possibly underflowing: then (s u) u is negligible
            si = unit * xi
            tr = 2.0 * (zr * xr - zi * xi) + (sr * xr - si * xi)
            xi = 2.0 * (zr * xi + zi * xr) + 2.0 * sr * xi
            xr = tr
            n += 1
            k += 1
            ar = o_re[n] + unit * xr
            ai = o_im[n] + unit * xi
            m = ar * ar + ai * ai
        counts[p] = count
        mag2[p] = m


def escape_julia_deep(
    primary: Orbit,
    critical: Orbit,
    dz_re: np.ndarray,
    dz_im: np.ndarray,
    scale: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Escape counts and ``|z|**2`` at escape of Julia pixels given by offsets.

    Parameters
    ----------
    primary : Orbit
        The orbit of the reference point ``Z_0`` under ``z -> z**2 + c``, from ``Z_0``
        (:func:`julia_orbits`).
    critical : Orbit
        The orbit of 0 under the same map, from ``0``, at least 2 values.

        Each ``max_iter + 1`` values long, or ending where it escaped; shorter ones are
        refused: rebasing at the end of an orbit that did not escape would round ``z =
        Z_n + dz_n`` to float64, losing an offset that only ``dz_n`` holds at depth.
    dz_re, dz_im : array_like of float64
        Offsets from ``Z_0`` in units of ``scale``, broadcast together.
    scale : float
        A power of two, at least ``2**MIN_SPAN_EXPONENT`` (:func:`.perturbation.view_scale`).
    max_iter : int
        Iteration limit, at least 1.

    Returns
    -------
    counts, mag2 : ndarray of float64
        Of the offsets' broadcast shape, as :func:`.kernels.escape_counts` writes them.
    """
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    if primary.start != 0:
        raise ValueError("a primary orbit starts at Z_0")
    if critical.start != 0 or len(critical) < 2 or critical.real[0] or critical.imag[0]:
        raise ValueError("a critical orbit starts at 0 and has at least 2 values")
    for name, orbit in (("primary", primary), ("critical", critical)):
        if len(orbit) <= max_iter and not orbit.escaped:
            raise ValueError(
                f"the {name} orbit has {len(orbit)} values and did not escape: "
                f"max_iter {max_iter} needs {max_iter + 1} (extend it)"
            )
    if not (math.ldexp(1.0, MIN_SPAN_EXPONENT) <= scale and math.frexp(scale)[0] == 0.5):
        raise ValueError(f"scale must be a power of two >= 2**{MIN_SPAN_EXPONENT}")
    dz_re, dz_im = np.broadcast_arrays(
        np.asarray(dz_re, dtype=np.float64), np.asarray(dz_im, dtype=np.float64)
    )
    flat_re, flat_im = (np.ascontiguousarray(a).ravel() for a in (dz_re, dz_im))
    counts = np.empty(flat_re.shape)
    mag2 = np.empty(flat_re.shape)
    orbits = map(np.ascontiguousarray, (primary.real, primary.imag, critical.real, critical.imag))
    julia_counts(*orbits, flat_re, flat_im, float(scale), int(max_iter), counts, mag2)
    return counts.reshape(dz_re.shape), mag2.reshape(dz_re.shape)


def julia_precision_bits(span: str | float) -> int:
    """MPFR bits of a Julia view's orbits: those of a view ``span**2`` wide.

    A pixel passing near the critical point has its offset squared (see the module
    docstring): the orbits' rounding errors, which every pixel inherits step by step,
    must stay below float64's rounding of offsets that small.
    """
    return max(MIN_BITS, 1 - 2 * span_exponent(span) + GUARD_BITS)


def _orbit(state: ReferenceState, max_iter: int, chunk: int) -> Orbit:
    chunks = []
    while state.iteration <= max_iter and not state.escaped:
        state, part = extend(state, min(chunk, max_iter + 1 - state.iteration))
        chunks.append(part)
    return Orbit.join(chunks)


def julia_orbits(
    center_real: str,
    center_imag: str,
    c_real: float,
    c_imag: float,
    span: str,
    max_iter: int,
    chunk: int = CHUNK,
) -> tuple[Orbit, Orbit]:
    """The primary and critical orbits of a deep Julia view, computed in this process.

    Both are computed at :func:`julia_precision_bits` of the span.

    Parameters
    ----------
    center_real, center_imag : str
        The view's centre, the reference point ``Z_0``, as decimal strings.
    c_real, c_imag : float
        The Julia constant.
    span : str
        The view's width along the real axis.
    max_iter : int
        Iteration limit: each orbit has ``max_iter + 1`` values unless it escapes first.
    chunk : int
        Values per call of :func:`.reference.extend`.

    Returns
    -------
    primary, critical : Orbit
        ``Z_0 = centre, ...`` and ``0, c, ...``.
    """
    if max_iter < 1 or chunk < 1:
        raise ValueError(f"max_iter and chunk must be at least 1, not {max_iter}, {chunk}")
    bits = julia_precision_bits(span)
    primary = ReferenceState.julia(center_real, center_imag, c_real, c_imag, bits)
    critical = ReferenceState.julia("0", "0", c_real, c_imag, bits)
    return _orbit(primary, max_iter, chunk), _orbit(critical, max_iter, chunk)


def render_julia_deep(
    center_real: str,
    center_imag: str,
    c_real: float,
    c_imag: float,
    span: str,
    width: int,
    height: int,
    max_iter: int,
    *,
    orbits: tuple[Orbit, Orbit] | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """A deep Julia frame's smooth escape values, computed in this process.

    The pixels of :func:`.perturbation.render_deep` (square, ``span`` wide, row 0 the
    lowest imaginary part) under ``z -> z**2 + c``: the float64 Julia kernel's frame, at
    any depth down to ``2**MIN_SPAN_EXPONENT``.

    Parameters
    ----------
    center_real, center_imag : str
        The centre as decimal strings; it is the primary reference point.
    c_real, c_imag : float
        The Julia constant.
    span : str
        Width of the view along the real axis, positive.
    width, height : int
        Pixels.
    max_iter : int
        Iteration limit, at least 1.
    orbits : (Orbit, Orbit), optional
        The primary and critical orbits (:func:`julia_orbits`), computed here when not
        given; each ``max_iter + 1`` values long or escaped (tiles of a frame share them).
    threads : int, optional
        Threads iterating rows in parallel; by default the number of CPUs.

    Returns
    -------
    ndarray of float64, shape ``(height, width)``
        Smooth escape values, NaN inside the filled Julia set.
    """
    if width < 1 or height < 1:
        raise ValueError(f"a frame has at least one pixel, not {width}x{height}")
    if span_exponent(span) < MIN_SPAN_EXPONENT:
        raise ValueError(f"span {span} is deeper than Julia frames go (2**{MIN_SPAN_EXPONENT})")
    scale, mantissa = view_scale(span)
    if orbits is None:
        orbits = julia_orbits(
            str(center_real), str(center_imag), c_real, c_imag, str(span), max_iter
        )
    primary, critical = orbits
    xs, ys = pixel_offsets(width, height, mantissa)
    counts, mag2 = by_rows(
        height,
        width,
        threads,
        lambda rows: escape_julia_deep(
            primary, critical, xs[None, :], ys[rows, None], scale, max_iter
        ),
    )
    return smooth(counts, mag2)


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernel's signature."""
    orbit = Orbit(0, np.zeros(2), np.zeros(2))
    escape_julia_deep(orbit, orbit, np.zeros(1), np.zeros(1), 1.0, 1)


__all__ = [
    "MIN_SPAN_EXPONENT",
    "escape_julia_deep",
    "julia_counts",
    "julia_orbits",
    "julia_precision_bits",
    "render_julia_deep",
    "warm_up",
]
