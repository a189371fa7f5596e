"""Deep zoom past float64's range: perturbation with a float64 mantissa and an int exponent.

:mod:`.perturbation` and :mod:`.bla` hold a pixel's offset ``dz`` from the reference
orbit in float64, scaled by the view's ``2**e`` while it is small; that stops at spans of
``2**-1000``, where the scale itself, ``dc``, ``dz**2`` and reference values near 0 leave
float64's range (``2**-1022``). Here ("rescaled perturbation", as in Kalles Fraktaler 2.15
and Claude Heiland-Allen's "Deep zoom theory and practice", mathr.co.uk, 2021) the offset
is a float64 complex mantissa ``w`` and an integer exponent ``E``, ``dz = w 2**E``, and the
step ``dz' = 2 Z dz + dz**2 + dc`` runs in units of ``2**E``::

    w' = 2 Z w + (s w) w + c,   s = 2**E,   c = dc / 2**E = v 2**(e - E)

(``v`` is the pixel's offset in units of the view's ``2**e``). ``E`` changes, and ``s``,
``c`` and the limits below are recomputed with ``math.ldexp``, only when ``|w|`` (the larger
of its parts) leaves ``[2**-300, 2**300]``: most steps are plain float64 arithmetic.

Why it is sound
---------------
A pixel is in one of two phases (the larger part of ``dz`` decides):

* *plain*, ``|dz| >= 2**-510``: exactly :mod:`.perturbation`'s plain phase (``E = 0``).
  ``dz**2 >= 2**-1020`` is a normal number. Unless the pixel rebased (``|Z + dz| <
  |dz|``), ``|2 Z + dz| >= |dz|``, so the step's main term ``dz (2 Z + dz)`` is at least
  ``2**-1020``: a ``dc`` rounded to a subnormal or to 0 (spans below ``2**-1022``) errs by
  ``2**-1075``, nothing next to it. Reference values rounded to subnormals or 0 err by as
  little next to ``|dz|**2``.
* *rescaled*, ``|dz| <= 2**-500``. Where the reference value ``Z_n`` has a part of at
  least ``NEAR = 2**-496``, the step's main term ``w (2 Z + dz)`` is at least ``2**-496
  |w|``, and ``|w| >= 2**-300``: ``s w`` rounded to a subnormal or 0 (once ``E < -1022``)
  errs by ``2**-1075 |w|`` in ``(s w) w``, ``c`` by ``2**-1075`` (once ``E - e > 1022``),
  both negligible; and ``|Z + dz| > |dz|``, so no rebase can be due. Elsewhere (``Z_n``
  near 0, which includes ``Z_0 = 0`` after every rebase, and the values below
  ``2**-900`` that :class:`.reference.Orbit` keeps as mantissa and exponent,
  ``Orbit.small_index``) the step, the rebase test ``|Z + dz| < |dz|`` and the rebased
  ``Z + dz`` are computed exactly as sums of terms each with its own exponent, aligned on
  the largest (:func:`_sum3`): near a deep minibrot ``2 Z_p dz``, ``dz**2`` and ``dc`` can
  all matter there, however small.

A pixel changes phase at ``2**-500`` upwards and ``2**-510`` downwards (a rebase or a
near-zero step can land anywhere). ``E`` never drops below ``e - 64``: ``c`` stays below
``2**64 |v|``, and any smaller ``dz`` is below ``2**-1000`` of ``dc``, which the next step
adds. Escape (``|Z + dz|**2 > ESCAPE_RADIUS**2``, with ``dz`` negligible in the rescaled
phase) and rebasing (Zhuoran's: at ``|Z_n + dz| < |dz|`` or the orbit's end ``dz = Z_n +
dz``, ``n = 0``) are as in :mod:`.perturbation`, so counts and ``|z|**2`` mean the same.

BLA at depth
------------
The tables are :mod:`.bla`'s (built by :func:`.bla.merge_levels`), with radii in units of
``2**-1000`` (:data:`RADIUS_EXPONENT`) instead of the view's scale: level-0 radii are
``eps |Z_m|`` (``2**-949`` to ``2**-45``), at most ``2**963`` in those units, and merged
radii ``eps |Z| / |A|``. Entries with ``|A|`` or ``|B|`` above ``2**600`` (:data:`LIMIT`;
a pixel takes several shorter blocks instead) or with radii at most ``2**-690`` units are
invalid, and so is every block over a value below ``2**-900``, whose float64 rounding is
not ``A``'s factor. The bound on ``|dc|`` that merging subtracts (``|B_x| R``) is taken no
smaller than ``2**-2000``, where ``R`` itself would underflow in those units: a larger
bound only shrinks radii. A radius ``r`` is compared with ``|w|`` as ``r 2**(-1000 - E)``,
the power clamped at ``2**1000`` (beyond it both tests pass: ``r >= 2**-1690 > |dz|``).
A BLA step ``w' = A w + B c`` (``A w <= 2**901``) stands as computed when ``|w'| >=
2**-200``: ``c`` or ``A w`` rounded to subnormals err by ``2**600 * 2**-1075`` at most.
Otherwise it is summed term by term, ``B dc`` with ``dc``'s own exponent, and
renormalised. A pixel takes at least ``log2 |A| / 600`` steps where a float64 table would
take one: at 1e-1000, BLA still skips 98% of the iterations.

Depth
-----
Nothing in the representation has a floor: exponents are integers. Spans are accepted down
to ``2**MIN_SPAN_EXPONENT = 2**-16384`` (about 8.4e-4933; reference orbits there need
16,464 bits of MPFR); the kernel is tested against ball arithmetic at spans 1e-500, 1e-600
and 1e-700 (minibrots whose reference values underflow float64) and 1e-1000.

Compiler flags
--------------
``fastmath={"contract", "nsz"}`` as in the other kernels: fused multiply-adds and the sign
of zero are harmless. Not ``nnan``/``ninf``: BLA radii and the phase limit overflow to
infinity on purpose (``|w|**2 < inf`` must hold, ``size > inf`` must not), and LLVM may
assume them finite otherwise. Not ``reassoc``: it would let LLVM regroup the aligned sums
and ``(s w) w`` (into ``s (w w)``, whose ``w w`` is in no unit at all), whose order is what
keeps every intermediate in range and the renormalisation exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gmpy2
import numba
import numpy as np

from .bla import EPSILON, BlaTable, find_block, frame_radius, merge_levels
from .kernels import ESCAPE_RADIUS, smooth
from .perturbation import by_rows, pixel_offsets
from .reference import SMALL, Orbit, reference_orbit, span_exponent

#: The smallest exponent ``e`` of a view's span ``mantissa * 2**e`` accepted.
MIN_SPAN_EXPONENT = -16384
#: ``|w|`` is kept within ``[2**-300, 2**300]`` (its larger part): ``|w|**2`` and ``A w``
#: stay in range, and a pixel renormalises every few hundred iterations at most.
WINDOW = 2.0**300
#: A rescaled pixel goes plain once ``|dz| > 2**ENTER``; a plain one leaves below ``LEAVE``.
ENTER = -500
LEAVE = 2.0**-510
#: Reference values with both parts below this take the exact (aligned) step.
NEAR = 2.0**-496
#: ``E >= e - FLOOR_BITS``.
FLOOR_BITS = 64
#: Table radii are stored in units of ``2**RADIUS_EXPONENT``.
RADIUS_EXPONENT = -1000
#: Largest ``|A|`` and ``|B|`` of a valid table entry.
LIMIT = 2.0**600
#: Radii at or below this (in the table's units) are invalid.
RADIUS_FLOOR = 2.0**-690
#: Bound on ``2**(RADIUS_EXPONENT - E)`` when radii are compared with ``|w|``.
UNIT_CLAMP = 1000

_BAILOUT = ESCAPE_RADIUS * ESCAPE_RADIUS
_RADIUS_UNIT = 2.0**RADIUS_EXPONENT
#: ``|dc|``'s bound is taken no smaller than this, in the table's units (see above).
_LEAST_R = 2.0**-1000
_RADIUS_SLACK = 1.0 + 2.0**-40
_NONE = -(1 << 40)  # the exponent of 0
#: A BLA step computed directly (``A w + B c``) stands if the result is at least this.
_FAST = 2.0**-200

# Contraction and no signed zeros only (see the module docstring): nnan/ninf would let LLVM
# drop the comparisons with infinities the phase limits and BLA radii rely on, reassoc
# would regroup (s w) w and the aligned sums that keep intermediates in range.
_jit = numba.njit(cache=True, nogil=True, fastmath={"contract", "nsz"}, error_model="numpy")


@_jit
def _exponent(xr, xi):
    """``f`` with ``max(|xr|, |xi|)`` in ``[2**(f - 1), 2**f)``; ``_NONE`` for 0."""
    x = max(abs(xr), abs(xi))
    if x == 0.0:
        return np.int64(_NONE)
    return np.int64(math.frexp(x)[1])


@_jit
def _sum3(ar, ai, ea, br, bi, eb, cr, ci, ec):
    """``a 2**ea + b 2**eb + c 2**ec`` as ``(xr, xi, f)``, ``x 2**f``, ``|x| <= 3``: each term
    shifted to the largest's exponent exactly (or to a negligible underflow)."""
    f = max(_exponent(ar, ai) + ea, _exponent(br, bi) + eb, _exponent(cr, ci) + ec)
    if f < _NONE // 2:
        return 0.0, 0.0, np.int64(ea)
    xr = math.ldexp(ar, ea - f) + math.ldexp(br, eb - f) + math.ldexp(cr, ec - f)
    xi = math.ldexp(ai, ea - f) + math.ldexp(bi, eb - f) + math.ldexp(ci, ec - f)
    return xr, xi, np.int64(f)


@_jit
def _settle(xr, xi, ex, floor):
    """The phase and representation of ``dz = x 2**ex``: ``(plain, wr, wi, E)``, ``E = 0``
    when plain, else ``w``'s larger part in ``[0.5, 1)`` (smaller at the floor)."""
    f = _exponent(xr, xi)
    if f == _NONE:
        return False, 0.0, 0.0, np.int64(floor)
    if ex + f > ENTER:
        return True, math.ldexp(xr, ex), math.ldexp(xi, ex), np.int64(0)
    g = max(ex + f, floor)
    return False, math.ldexp(xr, ex - g), math.ldexp(xi, ex - g), np.int64(g)


@_jit
def _derived(plain, ex, e, floor, vr, vi):
    """What the steps use for exponent ``ex``: ``(s, cr, ci, hi, lo, unit)``."""
    if plain:
        return 1.0, math.ldexp(vr, e), math.ldexp(vi, e), math.inf, 0.0, _RADIUS_UNIT
    s = math.ldexp(1.0, ex)
    hi = min(WINDOW, math.ldexp(1.0, ENTER - ex))
    lo = 1.0 / WINDOW if ex > floor else 0.0
    unit = math.ldexp(1.0, min(RADIUS_EXPONENT - ex, UNIT_CLAMP))
    return s, math.ldexp(vr, e - ex), math.ldexp(vi, e - ex), hi, lo, unit


@_jit
def _value(orbit_re, orbit_im, small, n):
    """``Z_n`` as ``(zr, zi, ze)``: float64 unless the orbit keeps it in extended range."""
    zr = orbit_re[n]
    zi = orbit_im[n]
    if abs(zr) >= SMALL or abs(zi) >= SMALL:
        return zr, zi, np.int64(0)
    index, small_re, small_im, small_exp = small
    j = np.searchsorted(index, n)
    if j < index.shape[0] and index[j] == n:
        return small_re[j], small_im[j], np.int64(small_exp[j])
    return zr, zi, np.int64(0)  # an exact 0 (or an orbit made without its small values)


@_jit
def _exact_step(orbit_re, orbit_im, small, n, wr, wi, ex, vr, vi, e):
    """``2 Z_n dz + dz**2 + dc`` as a sum of terms with their own exponents."""
    zr, zi, ze = _value(orbit_re, orbit_im, small, n)
    return _sum3(
        2.0 * (zr * wr - zi * wi),
        2.0 * (zr * wi + zi * wr),
        ze + ex,
        wr * wr - wi * wi,
        2.0 * wr * wi,
        2 * ex,
        vr,
        vi,
        e,
    )


@_jit
def _exact_rebase(orbit_re, orbit_im, small, n, last, wr, wi, ex):
    """``(xr, xi, f, rebased)``: ``Z_n + dz`` if ``|Z_n + dz| < |dz|`` or at the orbit's end,
    else ``dz`` unchanged, compared where neither can underflow."""
    zr, zi, ze = _value(orbit_re, orbit_im, small, n)
    xr, xi, f = _sum3(zr, zi, ze, wr, wi, ex, 0.0, 0.0, 0)
    if n < last:
        dr = math.ldexp(wr, ex - f)
        di = math.ldexp(wi, ex - f)
        if not xr * xr + xi * xi < dr * dr + di * di:
            return wr, wi, np.int64(ex), False
    return xr, xi, f, True


@_jit
def _bla_step(entry, wr, wi, ex, cr, ci, vr, vi, e):
    """``A dz + B dc`` for ``entry = (A, B)`` (complex parts), ``dz = w 2**ex``,
    ``c = dc / 2**ex``: ``(xr, xi, f, exact)``; when ``exact`` is false, ``x`` is in units
    of ``2**ex`` (computed directly: it is at least ``2**-200``, and underflows in ``c`` or
    ``A w`` err by ``2**-475`` at most), else ``x 2**f`` is computed term by term."""
    ar, ai, br, bi = entry
    xr = (ar * wr - ai * wi) + (br * cr - bi * ci)
    xi = (ar * wi + ai * wr) + (br * ci + bi * cr)
    if abs(xr) >= _FAST or abs(xi) >= _FAST:
        return xr, xi, np.int64(ex), False
    xr, xi, f = _sum3(
        ar * wr - ai * wi,
        ar * wi + ai * wr,
        ex,
        br * vr - bi * vi,
        br * vi + bi * vr,
        e,
        0.0,
        0.0,
        0,
    )
    return xr, xi, f, True


@_jit
def _pixel(orbit_re, orbit_im, small, table, vr, vi, e, max_iter):
    """One pixel: ``(count, |z|**2, steps)``; see the module docstring."""
    a_re, a_im, b_re, b_im, radius, offsets = table
    last = orbit_re.shape[0] - 1
    floor = e - FLOOR_BITS
    plain, wr, wi, ex = False, 0.0, 0.0, np.int64(e)
    s, cr, ci, hi, lo, unit = _derived(plain, ex, e, floor, vr, vi)
    n = 0
    k = 0
    taken = 0
    m = 0.0
    use_table = offsets.shape[0] > 2  # a table with levels above 0
    while k < max_iter:
        entry, length = -1, 0
        if use_table and n > 0:
            entry, length = find_block(offsets, radius, n, k, max_iter, wr * wr + wi * wi, unit)
        if length > 0:
            a = (a_re[entry], a_im[entry], b_re[entry], b_im[entry])
            xr, xi, f, exact = _bla_step(a, wr, wi, 0 if plain else ex, cr, ci, vr, vi, e)
            if exact:
                plain, wr, wi, ex = _settle(xr, xi, f, floor)
                s, cr, ci, hi, lo, unit = _derived(plain, ex, e, floor, vr, vi)
            else:
                wr = xr
                wi = xi
            n += length
            k += length
        else:
            zr = orbit_re[n]
            zi = orbit_im[n]
            if plain:
                tr = 2.0 * (zr * wr - zi * wi) + (wr * wr - wi * wi) + cr
                wi = 2.0 * (zr * wi + zi * wr) + 2.0 * wr * wi + ci
                wr = tr
            elif abs(zr) >= NEAR or abs(zi) >= NEAR:
                qr = s * wr  # dz itself: may underflow, harmlessly (module docstring)
                qi = s * wi
                tr = 2.0 * (zr * wr - zi * wi) + (qr * wr - qi * wi) + cr
                wi = 2.0 * (zr * wi + zi * wr) + 2.0 * qr * wi + ci
                wr = tr
            else:
                xr, xi, f = _exact_step(orbit_re, orbit_im, small, n, wr, wi, ex, vr, vi, e)
                plain, wr, wi, ex = _settle(xr, xi, f, floor)
                s, cr, ci, hi, lo, unit = _derived(plain, ex, e, floor, vr, vi)
            n += 1
            k += 1
        taken += 1
        zr = orbit_re[n]
        zi = orbit_im[n]
        ar = zr + s * wr
        ai = zi + s * wi
        m = ar * ar + ai * ai
        if m > _BAILOUT:
            return float(k), m, taken
        if not plain:
            if n == last or (abs(zr) < NEAR and abs(zi) < NEAR):
                xr, xi, f, rebased = _exact_rebase(orbit_re, orbit_im, small, n, last, wr, wi, ex)
                if rebased:
                    n = 0
                plain, wr, wi, ex = _settle(xr, xi, f, floor)
                s, cr, ci, hi, lo, unit = _derived(plain, ex, e, floor, vr, vi)
                continue
            size = max(abs(wr), abs(wi))
            if size > hi or size < lo:
                plain, wr, wi, ex = _settle(wr, wi, ex, floor)
                s, cr, ci, hi, lo, unit = _derived(plain, ex, e, floor, vr, vi)
            if not plain:
                continue
        # Plain (perhaps from this step on: dz = s w exactly, m unchanged).
        if m < wr * wr + wi * wi or n == last:
            wr = ar  # rebased: z itself, an offset from Z_0 = 0
            wi = ai
            n = 0
        if abs(wr) < LEAVE and abs(wi) < LEAVE:
            plain, wr, wi, ex = _settle(wr, wi, 0, floor)
            s, cr, ci, hi, lo, unit = _derived(plain, ex, e, floor, vr, vi)
    return -1.0, m, taken


@_jit
def extended_counts(orbit_re, orbit_im, small, table, dc_re, dc_im, exponent, max_iter, out):
    """Iterate pixels in extended range; write counts, ``|z|**2`` and steps taken.

    Parameters
    ----------
    orbit_re, orbit_im : ndarray of float64
        The reference orbit ``Z_0 = 0, Z_1 = C, ...``, at least 2 values.
    small : tuple of ndarray
        The orbit's ``(small_index, small_real, small_imag, small_exponent)``.
    table : tuple of ndarray
        An :class:`ExtendedTable`'s ``(a_re, a_im, b_re, b_im, r, offsets)`` for this
        orbit, exponent and a radius covering the offsets; ``offsets = [0]`` for none.
    dc_re, dc_im : ndarray of float64, 1-D
        Each pixel's offset from the reference point, in units of ``2**exponent``.
    exponent : int
        The view's exponent ``e``.
    max_iter : int
        Iterations after which a pixel counts as inside the set.
    out : ndarray of float64, shape (3, pixels)
        Counts (-1 inside), ``|z|**2`` at escape, and steps taken (ordinary and BLA).
    """
    for p in range(dc_re.shape[0]):
        count, m, taken = _pixel(
            orbit_re, orbit_im, small, table, dc_re[p], dc_im[p], exponent, max_iter
        )
        out[0, p] = count
        out[1, p] = m
        out[2, p] = taken


@dataclass(frozen=True)
class ExtendedTable:
    """BLA steps of one reference orbit for the pixels of one view, at any depth.

    Attributes
    ----------
    steps : BlaTable
        The entries, radii in units of ``2**RADIUS_EXPONENT`` (its ``scale``), its
        ``radius`` the bound on ``|dc|`` they were merged with, in the same units.
    exponent : int
        The view's exponent ``e``: offsets are given in units of ``2**e``.
    radius : float
        The largest ``|dc| / 2**e`` of the pixels the table serves.
    """

    steps: BlaTable
    exponent: int
    radius: float

    @property
    def last(self) -> int:
        return self.steps.last

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def nbytes(self) -> int:
        return self.steps.nbytes

    def __sizeof__(self) -> int:
        return object.__sizeof__(self) + self.nbytes


def _ldexp(x: float, n: int) -> float:
    try:
        return math.ldexp(x, n)
    except OverflowError:
        return math.inf


def _check_orbit(orbit: Orbit) -> None:
    if not isinstance(orbit, Orbit) or orbit.start != 0 or len(orbit) < 2:
        raise ValueError("orbit: a reference orbit starts at Z_0 and has at least 2 values")


def _check_exponent(exponent: int) -> None:
    if not isinstance(exponent, (int, np.integer)) or not (
        MIN_SPAN_EXPONENT <= exponent <= -MIN_SPAN_EXPONENT
    ):
        raise ValueError(
            f"exponent must be an integer >= {MIN_SPAN_EXPONENT} (and as far above), "
            f"not {exponent!r}"
        )


def extended_table(
    orbit: Orbit, exponent: int, radius: float, *, eps: float = EPSILON
) -> ExtendedTable:
    """The BLA tables of ``orbit`` for pixels up to ``radius * 2**exponent`` from it.

    Parameters
    ----------
    orbit : Orbit
        The reference orbit from ``Z_0``, with its small values.
    exponent : int
        The view's exponent (:func:`view_exponent`).
    radius : float
        The largest ``|dc|`` of the pixels in units of ``2**exponent`` (for a frame,
        :func:`.bla.frame_radius` of :func:`.perturbation.pixel_offsets`).
    eps : float
        Tolerance, ``0 < eps < 1``, as for :func:`.bla.bla_table`.
    """
    _check_orbit(orbit)
    _check_exponent(exponent)
    if not (math.isfinite(radius) and radius >= 0.0):
        raise ValueError(f"radius must be finite and >= 0, not {radius!r}")
    if not (0.0 < eps < 1.0):
        raise ValueError(f"eps must lie in (0, 1), not {eps!r}")
    last = len(orbit) - 1
    real = np.asarray(orbit.real[1:last], dtype=np.float64)
    imag = np.asarray(orbit.imag[1:last], dtype=np.float64)
    z = real + 1j * imag
    r0 = np.abs(z) * 2.0**-RADIUS_EXPONENT * eps  # |Z| 2**1000 <= 2**1009 first
    # Values below SMALL are not what float64 holds: no block may step over them.
    r0[(np.abs(real) <= SMALL) & (np.abs(imag) <= SMALL)] = 0.0
    big_r = max(_ldexp(radius * _RADIUS_SLACK, int(exponent) - RADIUS_EXPONENT), _LEAST_R)
    a, b, r, offsets = merge_levels(2.0 * z, r0, big_r, limit=LIMIT, floor=RADIUS_FLOOR)
    parts = (np.ascontiguousarray(x) for x in (a.real, a.imag, b.real, b.imag))
    steps = BlaTable(*parts, r, offsets, _RADIUS_UNIT, big_r, last, float(eps))
    return ExtendedTable(steps, int(exponent), float(radius))


def view_exponent(span: str | float) -> tuple[int, float]:
    """``(exponent, mantissa)`` with ``span = mantissa * 2**exponent``, ``1 <= mantissa < 2``.

    Raises
    ------
    ValueError
        For a span below ``2**MIN_SPAN_EXPONENT``, or not a positive number.
    """
    exponent = span_exponent(span)
    if exponent < MIN_SPAN_EXPONENT:
        raise ValueError(
            f"span {span} is deeper than this module supports (2**{MIN_SPAN_EXPONENT})"
        )
    with gmpy2.context(precision=max(64, 4 * len(str(span)))):
        mantissa = float(gmpy2.mul_2exp(gmpy2.mpfr(str(span)), -exponent))
    return exponent, mantissa


#: The table arrays of "no table": no levels above 0.
_NO_TABLE = (*(np.zeros(0) for _ in range(5)), np.zeros(1, dtype=np.int64))


def escape_extended(
    orbit: Orbit,
    table: ExtendedTable | None,
    dc_re: np.ndarray,
    dc_im: np.ndarray,
    exponent: int,
    max_iter: int,
    *,
    steps: bool = False,
) -> tuple[np.ndarray, ...]:
    """Escape counts and ``|z|**2`` at escape of pixels given by offsets, in this thread.

    Parameters
    ----------
    orbit : Orbit
        The reference orbit from ``Z_0`` (:func:`.reference.reference_orbit`), with its
        small values (an orbit that lost them is wrong where they matter).
    table : ExtendedTable or None
        ``orbit``'s BLA tables for this ``exponent`` and a radius at least the largest
        ``|dc|`` given (:func:`extended_table`); None for none.
    dc_re, dc_im : array_like of float64
        Offsets from the reference point in units of ``2**exponent``, broadcast together.
    exponent : int
        The view's exponent, at least :data:`MIN_SPAN_EXPONENT`.
    max_iter : int
        Iteration limit, at least 1.
    steps : bool
        Also return, per pixel, the steps the kernel took (ordinary and BLA).

    Returns
    -------
    counts, mag2 : ndarray of float64
        As :func:`.perturbation.escape_deep` returns them; then ``steps`` if asked.
    """
    _check_orbit(orbit)
    _check_exponent(exponent)
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    dc_re, dc_im = np.broadcast_arrays(
        np.asarray(dc_re, dtype=np.float64), np.asarray(dc_im, dtype=np.float64)
    )
    flat_re = np.ascontiguousarray(dc_re).ravel()
    flat_im = np.ascontiguousarray(dc_im).ravel()
    arrays = _NO_TABLE
    if table is not None:
        _check_table(table, orbit, exponent, flat_re, flat_im)
        t = table.steps
        arrays = (t.a_re, t.a_im, t.b_re, t.b_im, t.r, t.offsets)
    small = (
        np.ascontiguousarray(orbit.small_index, dtype=np.int64),
        np.ascontiguousarray(orbit.small_real, dtype=np.float64),
        np.ascontiguousarray(orbit.small_imag, dtype=np.float64),
        np.ascontiguousarray(orbit.small_exponent, dtype=np.int64),
    )
    out = np.empty((3, flat_re.shape[0]))
    extended_counts(
        np.ascontiguousarray(orbit.real, dtype=np.float64),
        np.ascontiguousarray(orbit.imag, dtype=np.float64),
        small,
        arrays,
        flat_re,
        flat_im,
        int(exponent),
        int(max_iter),
        out,
    )
    shape = dc_re.shape
    results = (out[0].reshape(shape), out[1].reshape(shape), out[2].reshape(shape))
    return results if steps else results[:2]


def _check_table(table, orbit, exponent, flat_re, flat_im) -> None:
    if not isinstance(table, ExtendedTable):
        raise ValueError(f"table must be an ExtendedTable, not {type(table).__name__}")
    if table.exponent != exponent:
        raise ValueError(f"table was made for exponent {table.exponent}, not {exponent}")
    if table.last != len(orbit) - 1:
        raise ValueError("table was made for another orbit (of another length)")
    if flat_re.size:
        largest = float(np.max(np.hypot(flat_re, flat_im)))
        if not largest <= table.radius * _RADIUS_SLACK:
            raise ValueError(
                f"table serves offsets up to {table.radius!r} (units of 2**exponent), "
                f"not {largest!r}"
            )


def render_extended(
    center_real: str,
    center_imag: str,
    span: str,
    width: int,
    height: int,
    max_iter: int,
    *,
    orbit: Orbit | None = None,
    table: ExtendedTable | None = None,
    bla: bool = True,
    threads: int | None = None,
    stats: dict | None = None,
) -> np.ndarray:
    """:func:`.bla.render_bla` at any depth: a frame's smooth escape values.

    Parameters are those of :func:`.bla.render_bla` (``span`` down to
    ``2**MIN_SPAN_EXPONENT``), with ``table`` an :class:`ExtendedTable` (made here when
    not given and ``bla`` is true), and:

    bla : bool
        Take BLA steps (default); False iterates every step.

    Returns
    -------
    ndarray of float64, shape ``(height, width)``
        Smooth escape values, NaN inside the set; row 0 is the lowest imaginary part.
    """
    if width < 1 or height < 1:
        raise ValueError(f"width and height: a frame has at least one pixel, not {width}x{height}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    exponent, mantissa = view_exponent(span)
    if orbit is None:
        if table is not None:
            raise ValueError("table given without its orbit")
        orbit = reference_orbit(str(center_real), str(center_imag), str(span), max_iter)
    xs, ys = pixel_offsets(width, height, mantissa)
    if table is None and bla:
        table = extended_table(orbit, exponent, frame_radius(xs, ys))
    if not bla:
        table = None
    counts, mag2, taken = by_rows(
        height,
        width,
        threads,
        lambda rows: escape_extended(
            orbit, table, xs[None, :], ys[rows, None], exponent, max_iter, steps=True
        ),
    )
    if stats is not None:
        stats["steps"] = float(taken.sum())
        stats["iterations"] = float(np.where(counts < 0, max_iter, counts).sum())
        stats["table_entries"] = len(table) if table is not None else 0
        stats["table_bytes"] = table.nbytes if table is not None else 0
        stats["small_values"] = int(orbit.small_index.shape[0])
    return smooth(counts, mag2)


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernel's signature."""
    orbit = Orbit(0, np.zeros(2), np.zeros(2))
    escape_extended(orbit, extended_table(orbit, 0, 0.0), np.zeros(1), np.zeros(1), 0, 1)


__all__ = [
    "ENTER",
    "LEAVE",
    "LIMIT",
    "MIN_SPAN_EXPONENT",
    "NEAR",
    "RADIUS_EXPONENT",
    "WINDOW",
    "ExtendedTable",
    "escape_extended",
    "extended_counts",
    "extended_table",
    "render_extended",
    "view_exponent",
    "warm_up",
]
