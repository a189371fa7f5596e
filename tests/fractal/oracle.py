"""The ball-arithmetic oracle of the deep-zoom tests: Misiurewicz points and minibrots found
in python-flint's Arb, and pixels iterated directly in it (see ``test_perturbation.py``)."""

from __future__ import annotations

import math

import flint
import numpy as np

#: Frames are this many pixels a side; pixels are sampled from them.
EDGE = 1024
#: Depths (spans) and their iteration limits: a little over what the views' boundary
#: pixels need at that depth (the i view escapes at ~60, ~170, ~400, ~800 iterations).
DEPTHS = {"1e-20": 600, "1e-60": 1200, "1e-150": 2000, "1e-300": 3200}
#: Misiurewicz points as (a float guess, preperiod, period): ``z_k = z_{k+p}``.
MISIUREWICZ = {
    "i": ((0.0, 1.0), 2, 2),
    "M(4,1)": ((-0.1011, 0.9563), 4, 1),
    "M(3,1) real": ((-1.5437, 0.0), 3, 1),
}
#: Pixels sampled per view and depth: half at random, half where the boundary is.
SAMPLES = 34
#: How far (in spans) the reference is moved left of a minibrot's nucleus, outside it.
OFF_CENTRE = "0.45"
#: Digits of the centres: beyond the deepest depth, with room for its pixels.
DIGITS = 340


def misiurewicz(guess: tuple[float, float], preperiod: int, period: int) -> flint.acb:
    """The Misiurewicz point near ``guess`` to :data:`DIGITS` digits, by Newton's method."""
    old = flint.ctx.dps
    flint.ctx.dps = DIGITS + 30
    try:
        c = flint.acb(*guess)
        for _ in range(100):
            z, dz = flint.acb(0), flint.acb(0)
            values = []
            for _ in range(preperiod + period):
                z, dz = z * z + c, 2 * z * dz + 1
                values.append((z, dz))
            (a, da), (b, db) = values[preperiod - 1], values[-1]
            step = ((b - a) / (db - da)).mid()
            c = flint.acb(c.mid() - step)
            if abs(step) < flint.arb(10) ** -(DIGITS + 10):
                return c
        raise AssertionError(f"Newton did not converge from {guess}")
    finally:
        flint.ctx.dps = old


def decimal(x: flint.arb) -> str:
    return x.mid().str(DIGITS, radius=False)


def oracle(
    centre: tuple[str, str], span: str, pixel: tuple[int, int], max_iter: int, prec: int
) -> tuple[int, float] | None:
    """``(count, |z|**2)`` as the kernels define them, or None where balls cannot tell.

    The point is the centre of ``pixel`` (row, column) of an :data:`EDGE`-pixel square
    frame ``span`` wide around ``centre``, all read exactly (or in tight balls) at
    ``prec`` bits.
    """
    old = flint.ctx.prec
    flint.ctx.prec = prec
    try:
        row, col = pixel
        width = flint.arb(span) / (2 * EDGE)
        c = flint.acb(
            flint.arb(centre[0]) + width * (2 * col + 1 - EDGE),
            flint.arb(centre[1]) + width * (2 * row + 1 - EDGE),
        )
        bailout = flint.arb(65536)
        z = flint.acb(0)
        for k in range(1, max_iter + 1):
            z = z * z + c
            m = z.real * z.real + z.imag * z.imag
            if m > bailout:
                return k, float(m.mid())
            if not m <= bailout:  # the ball straddles the radius: not settled
                return None
        return -1, 0.0
    finally:
        flint.ctx.prec = old


def julia_oracle(
    centre: tuple[str, str],
    c: tuple[float, float],
    span: str,
    pixel: tuple[int, int],
    max_iter: int,
    prec: int,
) -> tuple[int, float] | None:
    """As :func:`oracle`, for the Julia set of the float64 constant ``c`` (read exactly):
    the pixel's centre is ``z_0``, iterated under ``z -> z**2 + c``; ``z_0`` counts, so a
    pixel beyond the escape radius has count 0."""
    old = flint.ctx.prec
    flint.ctx.prec = prec
    try:
        row, col = pixel
        width = flint.arb(span) / (2 * EDGE)
        z = flint.acb(
            flint.arb(centre[0]) + width * (2 * col + 1 - EDGE),
            flint.arb(centre[1]) + width * (2 * row + 1 - EDGE),
        )
        constant = flint.acb(flint.arb(float(c[0])), flint.arb(float(c[1])))  # exact
        bailout = flint.arb(65536)
        for k in range(max_iter + 1):
            if k:
                z = z * z + constant
            m = z.real * z.real + z.imag * z.imag
            if m > bailout:
                return k, float(m.mid())
            if not m <= bailout:  # the ball straddles the radius: not settled
                return None
        return -1, 0.0
    finally:
        flint.ctx.prec = old


def nucleus(guess: flint.acb, period: int) -> flint.acb:
    """The nucleus of the given period near ``guess`` (``z_period = 0``), by Newton."""
    old = flint.ctx.dps
    flint.ctx.dps = DIGITS + 30
    try:
        c = guess
        for _ in range(100):
            z, dz = flint.acb(0), flint.acb(0)
            for _ in range(period):
                z, dz = z * z + c, 2 * z * dz + 1
            step = (z / dz).mid()
            c = flint.acb(c.mid() - step)
            if abs(step) < flint.arb(10) ** -(DIGITS + 10):
                return c
        raise AssertionError(f"Newton did not converge to a nucleus of period {period}")
    finally:
        flint.ctx.dps = old


def minibrot(depth: str) -> tuple[tuple[str, str], str]:
    """A minibrot near ``i`` about ``depth`` wide: its nucleus, and a span that frames it.

    Near the Misiurewicz point ``i`` (whose 2-cycle multiplies by ``(4 + 4i)**2 = 32i``
    every 4 iterations) the nuclei of periods ``8 + 4k`` lie on a spiral, ``i + A (-i /
    32)**k``, and the minibrot at distance ``d`` is about ``d**2`` wide: the one found at
    period 28 (``d = 1.4e-10``) gives ``A``, Newton refines the one whose ``d**2`` is
    nearest the depth, and the view's span is ``d**2 / 1.8`` (half of it inside).
    """
    old = flint.ctx.dps
    flint.ctx.dps = DIGITS + 30
    try:
        i, turn = flint.acb(0, 1), flint.acb(0, -1) / 32
        a = (nucleus(i + flint.acb("1.35e-10", "-1.3e-11"), 28) - i) / turn**5
        k = round(float((a.abs_lower() / flint.arb(depth).sqrt()).log() / math.log(32)))
        c = nucleus(i + a * turn**k, 8 + 4 * k)
        span = (abs(c - i) ** 2 / flint.arb("1.8")).mid().str(2, radius=False)
        return (decimal(c.real), decimal(c.imag)), span
    finally:
        flint.ctx.dps = old


def sample_pixels(
    counts: np.ndarray, rng: np.random.Generator, around: tuple[int, int] | None = None
) -> list[tuple[int, int]]:
    """Pixels for the oracle, :data:`SAMPLES` of them: a third where the boundary is (the
    highest counts that escape on the coarse grid ``counts``), a sixth inside, the 3 x 3
    block ``around`` a pixel if given, the rest at random."""
    step = EDGE // counts.shape[0]

    def within(cells) -> list[tuple[int, int]]:
        return [
            (int(r) * step + int(rng.integers(step)), int(c) * step + int(rng.integers(step)))
            for r, c in cells
        ]

    outside = np.argwhere(counts > 0)
    highest = outside[np.argsort(counts[counts > 0])[::-1][: SAMPLES // 3]]
    inside = np.argwhere(counts < 0)
    picked = within(highest) + within(
        inside[rng.permutation(len(inside))[: SAMPLES // 6]] if len(inside) else []
    )
    if around is not None:
        picked += [(around[0] + i, around[1] + j) for i in (-1, 0, 1) for j in (-1, 0, 1)]
    while len(picked) < SAMPLES:
        picked.append((int(rng.integers(EDGE)), int(rng.integers(EDGE))))
    return picked
