"""The Mandelbrot reference orbit of a deep view, in arbitrary precision, in chunks.

Perturbation (:mod:`.perturbation`) iterates every pixel as a float64 offset from one
*reference* point whose orbit ``Z_0 = 0, Z_{n+1} = Z_n**2 + C`` is computed here with
MPFR (gmpy2) at the precision the depth needs, then rounded to float64 for the kernel.

The orbit is computed in chunks by a pure function, :func:`extend`, over a small
picklable :class:`ReferenceState` (the centre as decimal strings, the precision, the
current ``Z`` as exact integers), so that a caller can run it as a chain of Dask tasks:
each task reports progress, the chain can be cancelled between chunks, and a finished
orbit can be extended later for a larger ``max_iter`` from its last state, with the same
values as a single run (nothing but the state carries over from one chunk to the next).

Which reference, and what if it escapes
---------------------------------------
The reference is the view's centre, exactly as given: a deterministic function of the
frame's parameters, so every tile of a frame and every process agree on it (and it can
be cached under the centre, precision and length alone). No search for a better point is
made. A centre outside the set makes an orbit that escapes before ``max_iter``; the orbit
then ends with its first value beyond the escape radius, and the perturbation loop
*rebases* a pixel still bounded at that point to the start of the orbit (``dz = Z_n +
dz_n``, ``n = 0``), as it does whenever the pixel comes closer to 0 than its offset
(Zhuoran's rebasing). An orbit that *escaped* early is therefore correct, only slower
for the pixels that outlive it (each rebase restarts them along the same orbit). One
merely cut short is not, at depth: rebasing at its end rounds ``z = Z_n + dz_n`` to
float64, where only ``dz_n`` held the pixel's offset (at c = i, cut to 40 values, a
1e-100 frame came out all NaN). Callers give ``max_iter + 1`` values or an escaped orbit.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import gmpy2
import numpy as np

from .kernels import ESCAPE_RADIUS

#: Bits beyond those that resolve the span. Two needs, the larger wins: the centre must be
#: held to a small fraction of a float64 ulp of a pixel's offset (4096 pixels = 12 bits,
#: plus 53), and MPFR's rounding errors in ``Z_n`` are amplified along the orbit by its
#: derivative, which grows to about ``1 / span`` (that is what zooming means) before the
#: pixels escape: they must stay below float64's own rounding of ``Z_n`` (53 bits).
#: 80 leaves about 15 bits of margin over both.
GUARD_BITS = 80
#: Precision at the shallowest depths: never less than a float64 mantissa and the guard.
MIN_BITS = 64 + GUARD_BITS

#: Iterations per chunk of :func:`reference_orbit`: a tenth of a second or so at 1,000
#: bits, fine enough for progress and cancellation, coarse enough to amortise a task.
CHUNK = 10_000

_BAILOUT = ESCAPE_RADIUS * ESCAPE_RADIUS


def span_exponent(span: str | float) -> int:
    """``e`` with ``2**e <= span < 2**(e + 1)``, for a positive decimal ``span``."""
    with gmpy2.context(precision=max(64, 4 * len(str(span)))):
        value = gmpy2.mpfr(str(span))
        if not (gmpy2.is_finite(value) and value > 0):
            raise ValueError(f"a span is a positive finite number, not {span!r}")
        exponent = int(gmpy2.floor(gmpy2.log2(value)))
        # log2 rounds: correct by one where it landed on the wrong side of a power of two.
        if gmpy2.mul_2exp(gmpy2.mpfr(1), exponent) > value:
            exponent -= 1
        elif gmpy2.mul_2exp(gmpy2.mpfr(1), exponent + 1) <= value:
            exponent += 1
    return exponent


def precision_bits(span: str | float) -> int:
    """MPFR bits for a view ``span`` wide: ``-log2(span) + GUARD_BITS``, at least
    :data:`MIN_BITS`.

    Parameters
    ----------
    span : str or float
        The view's width along the real axis, positive; a decimal string keeps depths
        below float64's range.
    """
    return max(MIN_BITS, 1 - span_exponent(span) + GUARD_BITS)


def _pack(value: gmpy2.mpfr) -> tuple[int, int]:
    # Exact and picklable by any process: (mantissa, exponent), value = m * 2**e.
    if value == 0:
        return 0, 0
    mantissa, exponent = value.as_mantissa_exp()
    zeros = gmpy2.bit_scan1(abs(mantissa))  # dropped: the state stays small
    return int(mantissa >> zeros), int(exponent + zeros)


def _unpack(packed: tuple[int, int]) -> gmpy2.mpfr:
    # Called inside the state's precision context: the mantissa has at most that many
    # bits, so the value is rebuilt exactly.
    mantissa, exponent = packed
    return gmpy2.mul_2exp(gmpy2.mpfr(mantissa), exponent)


@dataclass(frozen=True)
class ReferenceState:
    """Where a reference orbit stands: everything :func:`extend` needs, plain data.

    Attributes
    ----------
    center_real, center_imag : str
        The reference point ``C`` as decimal strings (read at ``bits`` bits).
    bits : int
        MPFR precision of the iteration.
    z_real, z_imag : tuple of (int, int)
        The next value of the orbit, ``Z_iteration``, exactly: ``m * 2**e``.
    iteration : int
        Index of the next value: how many values the chunks so far have emitted.
    escaped : bool
        The orbit has emitted its first value beyond ``ESCAPE_RADIUS`` and ends there.
    """

    center_real: str
    center_imag: str
    bits: int
    z_real: tuple[int, int] = (0, 0)
    z_imag: tuple[int, int] = (0, 0)
    iteration: int = 0
    escaped: bool = False

    @classmethod
    def start(cls, center_real: str, center_imag: str, bits: int) -> ReferenceState:
        """The state before the first value ``Z_0 = 0`` of the orbit of the centre."""
        if bits < 53:
            raise ValueError(f"a reference needs at least 53 bits, not {bits}")
        with gmpy2.context(precision=bits):
            for text in (center_real, center_imag):
                if not gmpy2.is_finite(gmpy2.mpfr(str(text))):
                    raise ValueError(f"a centre is a finite decimal, not {text!r}")
        return cls(str(center_real), str(center_imag), int(bits))

    @classmethod
    def julia(
        cls, z0_real: str, z0_imag: str, c_real: float, c_imag: float, bits: int
    ) -> ReferenceState:
        """The state before ``Z_0 = z0`` of the orbit of ``z0`` under ``z -> z**2 + c``.

        :func:`extend` computes ``z * z + center`` from the state's ``z``: with the
        Julia constant as the "centre" and ``z0`` as the first ``z``, it emits ``Z_0 =
        z0, Z_1 = z0**2 + c, ...`` (the Julia reference orbit of :mod:`.julia_deep`).
        ``c`` is a float64 and is written as its exact decimal expansion, which ``bits``
        (at least 53) reads back exactly; ``z0`` is read at ``bits`` bits and kept
        exactly. ``julia("0", "0", c_real, c_imag, bits)`` is the critical orbit ``0, c,
        c**2 + c, ...``, which is the Mandelbrot reference orbit of ``C = c``.

        Parameters
        ----------
        z0_real, z0_imag : str
            The orbit's first value as decimal strings.
        c_real, c_imag : float
            The Julia constant, finite float64s.
        bits : int
            MPFR precision of the iteration, at least 53.
        """
        from decimal import Decimal  # local: exact decimal expansion of a float64

        if not all(gmpy2.is_finite(gmpy2.mpfr(float(v))) for v in (c_real, c_imag)):
            raise ValueError(f"a Julia constant is finite, not {c_real!r}, {c_imag!r}")
        state = cls.start(str(Decimal(float(c_real))), str(Decimal(float(c_imag))), bits)
        with gmpy2.context(precision=state.bits):
            z0 = [gmpy2.mpfr(str(text)) for text in (z0_real, z0_imag)]
            if not all(map(gmpy2.is_finite, z0)):
                raise ValueError(f"a starting point is finite, not {z0_real!r}, {z0_imag!r}")
            return replace(state, z_real=_pack(z0[0]), z_imag=_pack(z0[1]))


#: Values of an orbit with both parts below this (``2**-900``) are also kept in extended
#: range (:attr:`Orbit.small_index`): float64 rounds them with a loss of bits below
#: ``2**-969`` (``2**-1022``, its smallest normal number, less 53 bits), or to 0.
SMALL = 2.0**-900


def _no_indices() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


def _no_values() -> np.ndarray:
    return np.zeros(0, dtype=np.float64)


@dataclass(frozen=True)
class Orbit:
    """Consecutive values ``Z_start ... Z_{start + len - 1}`` of a reference orbit.

    Attributes
    ----------
    start : int
        Index of the first value.
    real, imag : ndarray of float64
        The values rounded to float64 (16 bytes per iteration).
    escaped : bool
        The last value is the orbit's first beyond ``ESCAPE_RADIUS``: it ends there.
    small_index : ndarray of int64
        Absolute indices ``n`` (ascending) of the values other than 0 with both parts below
        :data:`SMALL`, which float64 cannot hold to 53 bits: near a nucleus of the
        reference's period, ``|Z_n|`` can be 1e-600. Empty for most orbits (and by default).
    small_real, small_imag, small_exponent : ndarray
        Those values as float64 mantissas and int64 exponents, exact to 53 bits:
        ``Z_n = (small_real + i small_imag) * 2**small_exponent``, the larger part's
        magnitude in ``[0.5, 1)``.
    """

    start: int
    real: np.ndarray
    imag: np.ndarray
    escaped: bool = False
    small_index: np.ndarray = field(default_factory=_no_indices)
    small_real: np.ndarray = field(default_factory=_no_values)
    small_imag: np.ndarray = field(default_factory=_no_values)
    small_exponent: np.ndarray = field(default_factory=_no_indices)

    def __len__(self) -> int:
        return self.real.shape[0]

    def __sizeof__(self) -> int:
        # What memory bounds count (Dask's sizeof, a ResultCache): the values, 16 bytes
        # an iteration, not the few bytes of the object that holds them.
        small = (self.small_index, self.small_real, self.small_imag, self.small_exponent)
        return (
            object.__sizeof__(self)
            + self.real.nbytes
            + self.imag.nbytes
            + sum(a.nbytes for a in small)
        )

    @staticmethod
    def join(chunks) -> Orbit:
        """One orbit from consecutive chunks (as :func:`extend` returns them); the empty
        chunks that a chain of a fixed length computes after its orbit escaped end it."""
        given, chunks = list(chunks), []
        if not given:
            raise ValueError("no chunks to join")
        for chunk in given:
            if chunks and chunks[-1].escaped:
                if len(chunk):
                    raise ValueError("chunks are not consecutive: values after the escape")
                continue
            chunks.append(chunk)
        for before, after in itertools.pairwise(chunks):
            if before.start + len(before) != after.start or before.escaped:
                raise ValueError("chunks are not consecutive")
        return Orbit(
            chunks[0].start,
            np.concatenate([c.real for c in chunks]),
            np.concatenate([c.imag for c in chunks]),
            chunks[-1].escaped,
            np.concatenate([c.small_index for c in chunks]),
            np.concatenate([c.small_real for c in chunks]),
            np.concatenate([c.small_imag for c in chunks]),
            np.concatenate([c.small_exponent for c in chunks]),
        )


def _small_value(z: gmpy2.mpc) -> tuple[float, float, int]:
    # (real, imag, exponent): z = (real + i imag) * 2**exponent, the larger part's mantissa
    # in [0.5, 1); mul_2exp is exact, the float of each part rounds to 53 bits (the
    # smaller part may underflow: it is then below 2**-1074 of the larger).
    exponent = max(gmpy2.frexp(part)[0] for part in (z.real, z.imag) if part != 0)
    return (
        float(gmpy2.mul_2exp(z.real, -exponent)),
        float(gmpy2.mul_2exp(z.imag, -exponent)),
        int(exponent),
    )


def extend(state: ReferenceState, n: int) -> tuple[ReferenceState, Orbit]:
    """The next ``n`` values of the orbit, and the state after them.

    A pure function of its arguments: the same state always gives the same chunk, in any
    process, and chunks of any sizes concatenate into the same orbit.

    Parameters
    ----------
    state : ReferenceState
        Where the orbit stands (:meth:`ReferenceState.start` for a new one).
    n : int
        Values wanted, at least 0.

    Returns
    -------
    state : ReferenceState
        The state after the chunk (``escaped`` once the orbit has ended).
    chunk : Orbit
        ``n`` values, fewer if the orbit escapes among them (it ends with the escaped
        value), none if it had already ended.
    """
    if n < 0:
        raise ValueError(f"a chunk has at least 0 values, not {n}")
    real = np.empty(n)
    imag = np.empty(n)
    small = []  # (index, real, imag, exponent) of the values float64 cannot hold
    count = 0
    escaped = state.escaped
    # A local context: gmpy2's contexts are per thread, and this one is restored on exit.
    with gmpy2.context(precision=state.bits):
        c = gmpy2.mpc(gmpy2.mpfr(state.center_real), gmpy2.mpfr(state.center_imag))
        z = gmpy2.mpc(_unpack(state.z_real), _unpack(state.z_imag))
        tiny = gmpy2.mpfr(SMALL)  # a power of two: exact
        while count < n and not escaped:
            real[count] = re = float(z.real)
            imag[count] = im = float(z.imag)
            # A cheap test of the rounded values first (rounding keeps x < SMALL to at
            # most SMALL), then the exact one; an exact 0 is exact in float64.
            if (
                abs(re) <= SMALL
                and abs(im) <= SMALL
                and abs(z.real) < tiny
                and abs(z.imag) < tiny
                and not (z.real == 0 and z.imag == 0)
            ):
                small.append((state.iteration + count, *_small_value(z)))
            count += 1
            if gmpy2.norm(z) > _BAILOUT:
                escaped = True  # the escaped value is the orbit's last
            else:
                z = z * z + c
        after = replace(
            state,
            z_real=_pack(z.real),
            z_imag=_pack(z.imag),
            iteration=state.iteration + count,
            escaped=escaped,
        )
    columns = list(zip(*small, strict=True)) if small else [(), (), (), ()]
    index, small_real, small_imag, exponent = (
        np.array(column, dtype=dtype)
        for column, dtype in zip(
            columns, (np.int64, np.float64, np.float64, np.int64), strict=True
        )
    )
    return after, Orbit(
        state.iteration,
        real[:count],
        imag[:count],
        escaped,
        index,
        small_real,
        small_imag,
        exponent,
    )


def reference_orbit(
    center_real: str,
    center_imag: str,
    span: str,
    max_iter: int,
    chunk: int = CHUNK,
) -> Orbit:
    """The reference orbit of a view, ``Z_0 ... Z_max_iter``, computed in this process.

    Runs the chain of :func:`extend` that a caller on a cluster would run as tasks.

    Parameters
    ----------
    center_real, center_imag : str
        The view's centre, the reference point, as decimal strings.
    span : str
        The view's width along the real axis; sets the precision
        (:func:`precision_bits`).
    max_iter : int
        The pixels' iteration limit: the orbit has ``max_iter + 1`` values unless it
        escapes first.
    chunk : int
        Values per call of :func:`extend`.

    Returns
    -------
    Orbit
        Starting at ``Z_0 = 0``; ``escaped`` if the centre's orbit left the escape radius.
    """
    if max_iter < 1 or chunk < 1:
        raise ValueError(f"max_iter and chunk must be at least 1, not {max_iter}, {chunk}")
    state = ReferenceState.start(center_real, center_imag, precision_bits(span))
    chunks = []
    while state.iteration <= max_iter and not state.escaped:
        state, part = extend(state, min(chunk, max_iter + 1 - state.iteration))
        chunks.append(part)
    return Orbit.join(chunks)


def orbit_bytes(max_iter: int) -> int:
    """Bytes of a reference orbit of ``max_iter`` iterations as float64 (16 a value)."""
    return 16 * (max_iter + 1)


__all__ = [
    "CHUNK",
    "GUARD_BITS",
    "MIN_BITS",
    "Orbit",
    "ReferenceState",
    "extend",
    "orbit_bytes",
    "precision_bits",
    "reference_orbit",
    "span_exponent",
]
