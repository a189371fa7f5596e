"""Bilinear approximation (BLA): perturbation that skips runs of iterations at once.

While a pixel's offset ``dz`` from the reference orbit is tiny next to ``Z_m``, the
perturbation step ``dz -> 2 Z_m dz + dz**2 + dc`` (:mod:`.perturbation`) is linear in
``(dz, dc)`` for all purposes; so is any run of such steps, and a run of ``L`` of them
is one step ``dz -> A dz + B dc`` with ``A, B`` depending on the reference alone. Tables
of these steps, with the radius of ``|dz|`` below which each is valid, let a pixel
jump over hundreds of iterations at the cost of one. The method is Zhuoran's (2021),
as described by Claude Heiland-Allen in "Deep zoom theory and practice" (mathr.co.uk,
2021, and its 2022 follow-up "Deep zoom theory and practice (again)").

The tables
----------
Level 0 holds one step per reference iteration ``m >= 1`` (``Z_0 = 0`` makes no useful
step), from ``Z_m`` to ``Z_{m+1}``: ``A = 2 Z_m``, ``B = 1``, valid for

    ``|dz| < r = eps |Z_m|``,  ``eps = 2**-53`` (:data:`EPSILON`).

Why this radius, and why it needs no correction for ``|dc|``: the step drops ``dz**2``,
and ``|dz|**2 < eps |Z_m| |dz| = 2**-54 |2 Z_m dz|``: at most half an ulp of the term
``2 Z_m dz``. The ordinary perturbation step commits an error of that size anyway, in
that very term, because ``Z_m`` itself is rounded to float64 (relative error up to
``2**-53``); and ``dc`` is added exactly by both. So a BLA step never errs by more than
the rounding the kernel without BLA already accepts at the same step, and the errors of
both are carried to the escape by the same derivatives: results differ from the ordinary
kernel's by about as much as two roundings of the reference differ.

Level ``l`` holds the aligned blocks of ``2**l`` level-0 steps, block ``j`` covering the
steps that start at ``m = 1 + j 2**l ... (j + 1) 2**l`` (aligned on ``m = 1``, where every
rebased pixel starts over, so a rebased pixel can take the largest blocks at once). A
block is merged from its halves, ``x`` then ``y``::

    A = A_y A_x,   B = A_y B_x + B_y,   r = min(r_x, max(0, (r_y - |B_x| R) / |A_x|))

where ``R`` is the largest ``|dc|`` of the pixels the table serves: ``y`` needs its own
input ``|A_x dz + B_x dc| <= |A_x| |dz| + |B_x| R`` below ``r_y``. Radii never grow with
the level (the ``min``), so a kernel climbs the levels from 1 and stops at the first
invalid one. Only whole blocks that end at or before the orbit's last value exist (an
escaped or short orbit's end is where pixels rebase), and the levels are stored in flat
arrays, ``offsets[l]`` the first entry of level ``l``: ``N + N/2 + N/4 ...``, about two
entries of 40 bytes per reference iteration (``A``, ``B`` complex, ``r``).

The kernel (:func:`bla_counts`) uses levels 1 and above only: a level-0 step costs what
an ordinary step costs, and the ordinary step is exact in ``dz**2``.

Scaled units, and the depth supported
-------------------------------------
Like :func:`.perturbation.perturbed_counts`, the kernel starts with offsets divided by
the view's scale ``s`` (a power of two <= span): ``u = dz / s``, ``v = dc / s``. BLA steps
are linear, so they apply unchanged in those units, ``u' = A u + B v``, valid while
``|u| < r / s``; the tables store radii in units of ``s`` (the table is made for one
scale, :attr:`BlaTable.scale`), and ``R`` too. Radii of deep blocks are about
``eps / |A|``, with ``|A|`` up to ``1 / span``: at a span of ``2**-1000`` that is
``2**-1053`` in absolute units, below float64's normal range, but ``2**-53`` in units of
the scale. After the switch to plain offsets (at ``|dz| = PLAIN`` or the first rebase),
radii are multiplied back by ``s``. So spans down to ``2**MIN_SPAN_EXPONENT = 2**-1000``
are supported, as for the kernel without BLA.

Escape and rebasing are checked after every step, a block being one step, exactly as
without BLA; inside a valid block neither can happen (``|dz| < eps |Z_m|`` keeps ``z``
within an ulp of ``Z_m``, which does not escape before the orbit's end, and far from
``|z| < |dz|``), and a block never runs past the orbit's end nor past ``max_iter``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from .kernels import ESCAPE_RADIUS, smooth
from .perturbation import MIN_SPAN_EXPONENT, PLAIN, by_rows, pixel_offsets, view_scale
from .reference import Orbit, reference_orbit

#: The relative size of the dropped ``dz**2`` against ``|Z_m dz|`` a step may have: half
#: an ulp of the term ``2 Z_m dz`` (see the module docstring).
EPSILON = 2.0**-53

_BAILOUT = ESCAPE_RADIUS * ESCAPE_RADIUS
#: Slack allowed between a table's radius and the largest ``|dc|`` given: ``hypot`` of
#: the same numbers computed in other orders may differ by an ulp or so.
_RADIUS_SLACK = 1.0 + 2.0**-40

# As in .perturbation: contraction only, never full fastmath (the scaled phase relies on
# infinities compared correctly).
_jit = numba.njit(cache=True, nogil=True, fastmath={"contract", "nsz"}, error_model="numpy")


@dataclass(frozen=True)
class BlaTable:
    """Bilinear approximation steps of one reference orbit, for one view's pixels.

    Plain numpy arrays (picklable, for Dask workers), levels stored one after another.

    Attributes
    ----------
    a_re, a_im, b_re, b_im : ndarray of float64
        Each entry's step ``dz -> A dz + B dc``.
    r : ndarray of float64
        Each entry's validity radius for ``|dz|``, in units of :attr:`scale`; 0 where the
        step is never valid.
    offsets : ndarray of int64
        ``levels + 1`` values: level ``l`` is entries ``offsets[l]:offsets[l + 1]``, its
        entry ``j`` the block of ``2**l`` steps from reference index ``1 + j 2**l``.
    scale : float
        The view's scale (a power of two) the radii are expressed in.
    radius : float
        The largest ``|dc| / scale`` of the pixels the table is valid for.
    last : int
        Index of the orbit's last value (its length - 1): a check that a table is used
        with its own orbit.
    eps : float
        The tolerance the radii were computed with.
    """

    a_re: np.ndarray
    a_im: np.ndarray
    b_re: np.ndarray
    b_im: np.ndarray
    r: np.ndarray
    offsets: np.ndarray
    scale: float
    radius: float
    last: int
    eps: float = EPSILON

    @property
    def levels(self) -> int:
        return self.offsets.shape[0] - 1

    def __len__(self) -> int:
        """Entries, all levels together."""
        return self.r.shape[0]

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays: 40 an entry, about 80 a reference iteration."""
        arrays = (self.a_re, self.a_im, self.b_re, self.b_im, self.r, self.offsets)
        return sum(a.nbytes for a in arrays)

    def __sizeof__(self) -> int:
        # What memory bounds count (Dask's sizeof, a cache), as for Orbit.
        return object.__sizeof__(self) + self.nbytes


def _check_scale(scale: float) -> None:
    if not (
        isinstance(scale, (int, float))
        and math.isfinite(scale)
        and math.ldexp(1.0, MIN_SPAN_EXPONENT) <= scale
        and math.frexp(scale)[0] == 0.5
    ):
        raise ValueError(f"scale must be a power of two >= 2**{MIN_SPAN_EXPONENT}, not {scale!r}")


def _check_orbit(orbit: Orbit) -> None:
    if orbit.start != 0 or len(orbit) < 2:
        raise ValueError("orbit: a reference orbit starts at Z_0 and has at least 2 values")


def merge_levels(
    a0: np.ndarray,
    r0: np.ndarray,
    big_r: float,
    *,
    limit: float = math.inf,
    floor: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All levels of a table from its level 0, merged as the module docstring says.

    Parameters
    ----------
    a0 : ndarray of complex128
        Level 0's ``A = 2 Z_m`` (its ``B`` are all 1).
    r0 : ndarray of float64
        Level 0's radii in the table's units, 0 where a step is never valid.
    big_r : float
        The largest ``|dc|`` served, in the same units.
    limit : float
        Merged entries with ``|A|`` or ``|B|`` above it are never valid (radius 0),
        nor is any entry above them; by default only non-finite ones.
    floor : float
        Merged radii at or below it are set to 0 (with the same effect); 0 by default.

    Returns
    -------
    a, b : ndarray of complex128
        Every entry's ``A`` and ``B``, levels one after another.
    r : ndarray of float64
        Every entry's radius.
    offsets : ndarray of int64
        Level ``l`` is entries ``offsets[l]:offsets[l + 1]``.
    """
    a_levels = [np.asarray(a0, dtype=np.complex128)]
    b_levels = [np.ones(a_levels[0].shape, dtype=np.complex128)]
    r_levels = [np.asarray(r0, dtype=np.float64)]
    with np.errstate(all="ignore"):
        while a_levels[-1].shape[0] >= 2:
            half = a_levels[-1].shape[0] // 2
            a, b, r = a_levels[-1], b_levels[-1], r_levels[-1]
            ax, ay = a[0 : 2 * half : 2], a[1 : 2 * half : 2]
            bx, by = b[0 : 2 * half : 2], b[1 : 2 * half : 2]
            rx, ry = r[0 : 2 * half : 2], r[1 : 2 * half : 2]
            merged_a = ay * ax
            merged_b = ay * bx + by
            merged_r = np.minimum(rx, np.maximum(0.0, (ry - np.abs(bx) * big_r) / np.abs(ax)))
            # Overflowed A or B (inf, or nan from inf * 0), or 0 / 0: never valid; a 0
            # radius stays 0 at every level above.
            good = np.isfinite(merged_a) & np.isfinite(merged_b) & (merged_r > floor)
            if limit < math.inf:
                good &= (np.abs(merged_a) <= limit) & (np.abs(merged_b) <= limit)
            a_levels.append(merged_a)
            b_levels.append(merged_b)
            r_levels.append(np.where(good, merged_r, 0.0))
    offsets = np.zeros(len(a_levels) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([a.shape[0] for a in a_levels])
    return (
        np.concatenate(a_levels),
        np.concatenate(b_levels),
        np.concatenate(r_levels),
        offsets,
    )


def bla_table(
    orbit: Orbit,
    radius: float | None = None,
    *,
    scale: float = 1.0,
    scaled_radius: float | None = None,
    eps: float = EPSILON,
) -> BlaTable:
    """The BLA tables of ``orbit`` for pixels at most ``radius`` from the reference point.

    Parameters
    ----------
    orbit : Orbit
        The reference orbit from ``Z_0`` (:func:`.reference.reference_orbit`).
    radius : float
        The largest ``|dc|`` of the pixels, in absolute units of the plane (for a frame
        centred on the reference, ``span * hypot(1, height / width) / 2``). Give either
        this or ``scaled_radius``.
    scale : float
        The view's scale (:func:`.perturbation.view_scale`), a power of two: the radii are
        stored in its units, and the table serves offsets given in them. 1 (absolute
        units) by default, which covers spans down to about 1e-290 only.
    scaled_radius : float
        The largest ``|dc|`` in units of ``scale`` instead (as
        :func:`.perturbation.pixel_offsets` gives offsets).
    eps : float
        Tolerance, ``0 < eps < 1``; :data:`EPSILON` unless you know better.

    Returns
    -------
    BlaTable
    """
    _check_orbit(orbit)
    _check_scale(scale)
    if (radius is None) == (scaled_radius is None):
        raise ValueError("give exactly one of radius and scaled_radius")
    if radius is not None:
        if not (math.isfinite(radius) and radius >= 0.0):
            raise ValueError(f"radius must be finite and >= 0, not {radius!r}")
        big_r = float(radius) / scale
    else:
        if not (math.isfinite(scaled_radius) and scaled_radius >= 0.0):
            raise ValueError(f"scaled_radius must be finite and >= 0, not {scaled_radius!r}")
        big_r = float(scaled_radius)
    if not (0.0 < eps < 1.0):
        raise ValueError(f"eps must lie in (0, 1), not {eps!r}")

    last = len(orbit) - 1
    z = np.asarray(orbit.real[1:last], dtype=np.float64) + 1j * np.asarray(
        orbit.imag[1:last], dtype=np.float64
    )
    # |Z| / scale first: eps * |Z| could be subnormal at depth, |Z| / scale <= 2**1009.
    a_all, b_all, r_all, offsets = merge_levels(2.0 * z, np.abs(z) / scale * eps, big_r)
    return BlaTable(
        a_re=np.ascontiguousarray(a_all.real),
        a_im=np.ascontiguousarray(a_all.imag),
        b_re=np.ascontiguousarray(b_all.real),
        b_im=np.ascontiguousarray(b_all.imag),
        r=r_all,
        offsets=offsets,
        scale=float(scale),
        radius=big_r,
        last=last,
        eps=float(eps),
    )


@_jit
def find_block(offsets, radius, n, k, max_iter, size2, unit):
    """The largest valid aligned block at reference index ``n``: (entry, length), or
    (-1, 0). ``size2`` is ``|offset|**2``, ``unit`` multiplies stored radii."""
    levels = offsets.shape[0] - 1
    best = -1
    length = 0
    if n < 1:
        return best, length
    i = n - 1
    level = 1
    while level < levels:
        step = 1 << level
        if i & (step - 1) != 0 or k + step > max_iter:
            break
        entry = offsets[level] + (i >> level)
        if entry >= offsets[level + 1]:
            break  # the block would run past the orbit's end
        rr = radius[entry] * unit
        if not size2 < rr * rr:
            break
        best = entry
        length = step
        level += 1
    return best, length


# find_block's own code, inlined into the kernel by numba (a call, its arrays passed by
# value, costs more than the lookup); in a kernel without numba's reference counting
# (``_nrt=False``), which would otherwise count the inlined arrays at every step.
_find_block_inline = numba.njit(
    nogil=True, fastmath={"contract", "nsz"}, error_model="numpy", inline="always"
)(find_block.py_func)
_jit_bare = numba.njit(
    cache=True, nogil=True, fastmath={"contract", "nsz"}, error_model="numpy", _nrt=False
)

#: Pixels the kernel keeps in flight at once. A pixel's step waits on its previous one
#: (the escape and rebase checks included: the rebase selects the next offset and
#: reference index), so one pixel at a time leaves the CPU mostly idle; the chains of
#: independent pixels overlap. 4 measured best (2 and 8 slower, 6 about the same).
_LANES = 4

# A lane's phase: the scaled one (u = dz / scale), the plain one (dz), or empty.
_SCALED = 0
_PLAIN = 1
_DONE = 2


@_jit_bare
def _bla_lanes(
    orbit_re,
    orbit_im,
    a_re,
    a_im,
    b_re,
    b_im,
    radius,
    offsets,
    dc_re,
    dc_im,
    scale,
    max_iter,
    counts,
    mag2,
    steps,
    xr,
    xi,
    cr,
    ci,
    ns,
    ks,
    taken,
    ms,
    phase,
    pixel,
):
    """:func:`bla_counts` given its lanes' state: ``_LANES`` values each (see there)."""
    last = orbit_re.shape[0] - 1
    inverse = 1.0 / scale  # exact: scale is a power of two
    big = PLAIN * inverse
    total = dc_re.shape[0]
    following = 0
    active = 0
    for j in range(_LANES):
        if following < total:
            pixel[j] = following
            cr[j] = dc_re[following]
            ci[j] = dc_im[following]
            phase[j] = _SCALED
            following += 1
            active += 1
    while active > 0:
        for j in range(_LANES):
            state = phase[j]
            if state == _DONE:
                continue
            n = ns[j]
            k = ks[j]
            count = -1.0
            finished = False
            if k >= max_iter:
                finished = True  # inside: count -1, |z|**2 of its last step
            elif state == _SCALED:
                # The scaled phase: u = dz / scale, radii in the table's units.
                ur = xr[j]
                ui = xi[j]
                vr = cr[j]
                vi = ci[j]
                entry, length = _find_block_inline(
                    offsets, radius, n, k, max_iter, ur * ur + ui * ui, 1.0
                )
                if length > 0:
                    ar = a_re[entry]
                    ai = a_im[entry]
                    br = b_re[entry]
                    bi = b_im[entry]
                    tr = (ar * ur - ai * ui) + (br * vr - bi * vi)
                    ui = (ar * ui + ai * ur) + (br * vi + bi * vr)
                    ur = tr
                    n += length
                    k += length
                else:
                    zr = orbit_re[n]
                    zi = orbit_im[n]
                    sr = scale * ur
                    si = scale * ui
                    tr = 2.0 * (zr * ur - zi * ui) + (sr * ur - si * ui) + vr
                    ui = 2.0 * (zr * ui + zi * ur) + 2.0 * sr * ui + vi
                    ur = tr
                    n += 1
                    k += 1
                taken[j] += 1
                dr = scale * ur
                di = scale * ui
                ar = orbit_re[n] + dr
                ai = orbit_im[n] + di
                m = ar * ar + ai * ai
                ms[j] = m
                if m > _BAILOUT:
                    count = k
                    finished = True
                else:
                    wr = orbit_re[n] * inverse + ur
                    wi = orbit_im[n] * inverse + ui
                    if wr * wr + wi * wi < ur * ur + ui * ui or n == last:
                        ur = ar
                        ui = ai
                        n = 0
                        phase[j] = _PLAIN
                        cr[j] = scale * vr
                        ci[j] = scale * vi
                    elif abs(ur) > big or abs(ui) > big:
                        ur = dr
                        ui = di
                        phase[j] = _PLAIN
                        cr[j] = scale * vr
                        ci[j] = scale * vi
                    xr[j] = ur
                    xi[j] = ui
            else:
                # The plain phase: dz itself, dc = scale * (dc / scale), radii times scale.
                dr = xr[j]
                di = xi[j]
                vr = cr[j]
                vi = ci[j]
                entry, length = _find_block_inline(
                    offsets, radius, n, k, max_iter, dr * dr + di * di, scale
                )
                if length > 0:
                    ar = a_re[entry]
                    ai = a_im[entry]
                    br = b_re[entry]
                    bi = b_im[entry]
                    tr = (ar * dr - ai * di) + (br * vr - bi * vi)
                    di = (ar * di + ai * dr) + (br * vi + bi * vr)
                    dr = tr
                    n += length
                    k += length
                else:
                    zr = orbit_re[n]
                    zi = orbit_im[n]
                    tr = 2.0 * (zr * dr - zi * di) + (dr * dr - di * di) + vr
                    di = 2.0 * (zr * di + zi * dr) + 2.0 * dr * di + vi
                    dr = tr
                    n += 1
                    k += 1
                taken[j] += 1
                ar = orbit_re[n] + dr
                ai = orbit_im[n] + di
                m = ar * ar + ai * ai
                ms[j] = m
                if m > _BAILOUT:
                    count = k
                    finished = True
                elif m < dr * dr + di * di or n == last:
                    dr = ar
                    di = ai
                    n = 0
                xr[j] = dr
                xi[j] = di
            ns[j] = n
            ks[j] = k
            if finished:
                p = pixel[j]
                counts[p] = count
                mag2[p] = ms[j]
                steps[p] = taken[j]
                if following < total:
                    pixel[j] = following
                    xr[j] = 0.0
                    xi[j] = 0.0
                    cr[j] = dc_re[following]
                    ci[j] = dc_im[following]
                    ns[j] = 0
                    ks[j] = 0
                    taken[j] = 0
                    ms[j] = 0.0
                    phase[j] = _SCALED
                    following += 1
                else:
                    phase[j] = _DONE
                    active -= 1


@_jit
def bla_counts(
    orbit_re,
    orbit_im,
    a_re,
    a_im,
    b_re,
    b_im,
    radius,
    offsets,
    dc_re,
    dc_im,
    scale,
    max_iter,
    counts,
    mag2,
    steps,
):
    """:func:`.perturbation.perturbed_counts` with BLA steps; also counts steps taken.

    Parameters are those of :func:`.perturbation.perturbed_counts`, with a
    :class:`BlaTable`'s arrays (``a_re ... offsets``, made for this ``scale``, its orbit,
    and a radius at least every ``|dc_re + i dc_im|``) after the orbit, and ``steps``
    (float64, 1-D): for each pixel, the steps actually taken (ordinary and BLA), where
    ``counts`` (or ``max_iter``) is the iterations they stand for.

    :data:`_LANES` pixels are iterated in turn, a step each, a lane refilled with the
    next pixel when its own is done; every pixel's arithmetic is that of one at a time.
    """
    # Each lane's offset: u = dz / scale in the scaled phase, dz in the plain one; and
    # its pixel's v = dc / scale, then dc itself (scale * v).
    xr = np.zeros(_LANES)
    xi = np.zeros(_LANES)
    cr = np.zeros(_LANES)
    ci = np.zeros(_LANES)
    ns = np.zeros(_LANES, dtype=np.int64)
    ks = np.zeros(_LANES, dtype=np.int64)
    taken = np.zeros(_LANES, dtype=np.int64)
    ms = np.zeros(_LANES)
    phase = np.full(_LANES, _DONE, dtype=np.int64)
    pixel = np.zeros(_LANES, dtype=np.int64)
    _bla_lanes(
        orbit_re,
        orbit_im,
        a_re,
        a_im,
        b_re,
        b_im,
        radius,
        offsets,
        dc_re,
        dc_im,
        scale,
        max_iter,
        counts,
        mag2,
        steps,
        xr,
        xi,
        cr,
        ci,
        ns,
        ks,
        taken,
        ms,
        phase,
        pixel,
    )


def escape_bla(
    orbit: Orbit,
    table: BlaTable,
    dc_re: np.ndarray,
    dc_im: np.ndarray,
    scale: float,
    max_iter: int,
    *,
    steps: bool = False,
) -> tuple[np.ndarray, ...]:
    """:func:`.perturbation.escape_deep` with BLA: counts and ``|z|**2`` at escape.

    Parameters
    ----------
    orbit : Orbit
        The reference orbit from ``Z_0``.
    table : BlaTable
        ``orbit``'s tables (:func:`bla_table`) for this ``scale``, with a radius at least
        the largest ``|dc|`` given.
    dc_re, dc_im : array_like of float64
        Offsets from the reference point in units of ``scale``, broadcast together.
    scale : float
        A power of two, at least ``2**MIN_SPAN_EXPONENT``.
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
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    _check_scale(scale)
    if not isinstance(table, BlaTable):
        raise ValueError(f"table must be a BlaTable, not {type(table).__name__}")
    if table.scale != scale:
        raise ValueError(f"table was made for scale {table.scale!r}, not {scale!r}")
    if table.last != len(orbit) - 1:
        raise ValueError("table was made for another orbit (of another length)")
    dc_re, dc_im = np.broadcast_arrays(
        np.asarray(dc_re, dtype=np.float64), np.asarray(dc_im, dtype=np.float64)
    )
    flat_re = np.ascontiguousarray(dc_re).ravel()
    flat_im = np.ascontiguousarray(dc_im).ravel()
    if flat_re.size:
        largest = float(np.max(np.hypot(flat_re, flat_im)))
        if not largest <= table.radius * _RADIUS_SLACK:
            raise ValueError(
                f"table serves offsets up to {table.radius!r} (in units of scale), not {largest!r}"
            )
    counts = np.empty(flat_re.shape)
    mag2 = np.empty(flat_re.shape)
    taken = np.empty(flat_re.shape)
    bla_counts(
        np.ascontiguousarray(orbit.real, dtype=np.float64),
        np.ascontiguousarray(orbit.imag, dtype=np.float64),
        table.a_re,
        table.a_im,
        table.b_re,
        table.b_im,
        table.r,
        table.offsets,
        flat_re,
        flat_im,
        float(scale),
        int(max_iter),
        counts,
        mag2,
        taken,
    )
    shape = dc_re.shape
    if steps:
        return counts.reshape(shape), mag2.reshape(shape), taken.reshape(shape)
    return counts.reshape(shape), mag2.reshape(shape)


def frame_radius(xs: np.ndarray, ys: np.ndarray) -> float:
    """The largest ``|dc|`` of a frame's pixels from its offsets along each axis (any
    units: those of the offsets)."""
    return float(np.hypot(np.max(np.abs(xs)), np.max(np.abs(ys))))


def render_bla(
    center_real: str,
    center_imag: str,
    span: str,
    width: int,
    height: int,
    max_iter: int,
    *,
    orbit: Orbit | None = None,
    table: BlaTable | None = None,
    threads: int | None = None,
    stats: dict | None = None,
) -> np.ndarray:
    """:func:`.perturbation.render_deep` with BLA: a deep frame's smooth escape values.

    Parameters are those of :func:`.perturbation.render_deep`, and:

    table : BlaTable, optional
        ``orbit``'s tables at the view's scale (:func:`.perturbation.view_scale`) for a
        radius covering the frame's pixels; made here when not given (then ``orbit``
        is taken or made first).
    stats : dict, optional
        Filled with ``"steps"``: steps the kernel took, all pixels together;
        ``"iterations"``: the iterations they stand for (a pixel's count, ``max_iter``
        inside); ``"table_entries"`` and ``"table_bytes"``.

    Returns
    -------
    ndarray of float64, shape ``(height, width)``
        Smooth escape values, NaN inside the set; row 0 is the lowest imaginary part.
    """
    if width < 1 or height < 1:
        raise ValueError(f"width and height: a frame has at least one pixel, not {width}x{height}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}")
    scale, mantissa = view_scale(span)
    if orbit is None:
        if table is not None:
            raise ValueError("table given without its orbit")
        orbit = reference_orbit(str(center_real), str(center_imag), str(span), max_iter)
    xs, ys = pixel_offsets(width, height, mantissa)
    if table is None:
        table = bla_table(orbit, scale=scale, scaled_radius=frame_radius(xs, ys))
    counts, mag2, taken = by_rows(
        height,
        width,
        threads,
        lambda rows: escape_bla(
            orbit, table, xs[None, :], ys[rows, None], scale, max_iter, steps=True
        ),
    )
    if stats is not None:
        stats["steps"] = float(taken.sum())
        stats["iterations"] = float(np.where(counts < 0, max_iter, counts).sum())
        stats["table_entries"] = len(table)
        stats["table_bytes"] = table.nbytes
    return smooth(counts, mag2)


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernel's signature."""
    orbit = Orbit(0, np.zeros(2), np.zeros(2))
    table = bla_table(orbit, 0.0)
    escape_bla(orbit, table, np.zeros(1), np.zeros(1), 1.0, 1)


__all__ = [
    "EPSILON",
    "BlaTable",
    "bla_counts",
    "bla_table",
    "escape_bla",
    "find_block",
    "frame_radius",
    "merge_levels",
    "render_bla",
    "warm_up",
]
