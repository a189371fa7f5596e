"""Deep Julia sets by perturbation, against ball arithmetic, float64 and symmetry.

As in ``test_perturbation.py``, the oracle iterates sampled pixels directly in
python-flint's ball arithmetic and excludes those whose balls cannot tell escape from
not. The views are centred on repelling fixed points of ``z -> z**2 + c``, computed here
in Arb: they lie in the Julia set, so every view, however deep, holds its boundary.
"""

from __future__ import annotations

import math
import pickle

import flint
import numpy as np
import pytest
from oracle import DIGITS, EDGE, OFF_CENTRE, decimal, julia_oracle, sample_pixels

from compute.fractal.julia_deep import (
    MIN_SPAN_EXPONENT,
    escape_julia_deep,
    julia_orbits,
    julia_precision_bits,
    render_julia_deep,
    warm_up,
)
from compute.fractal.kernels import escape_time, smooth
from compute.fractal.perturbation import pixel_offsets, view_scale
from compute.fractal.reference import Orbit, ReferenceState, extend

#: The Douady rabbit: an attracting 3-cycle, so an interior, and its boundary.
RABBIT = (-0.12256, 0.74486)
#: A Misiurewicz parameter: the Julia set is a dendrite, with the critical point 0 in it.
C_I = (0.0, 1.0)
#: The app's default constant: outside the Mandelbrot set, its Julia set is a dust.
DEFAULT = (-0.8, 0.156)
#: Depths and iteration limits, a little over what the boundary pixels need (the fixed
#: points repel by |2 z| = 2.7 and 2.9; the alpha point of i by 1.39: 2,000 at 1e-280).
DEPTHS = {"1e-20": 600, "1e-100": 1500, "1e-280": 3000}


def fixed_point(c: tuple[float, float], sign: int) -> tuple[str, str]:
    """The fixed point ``(1 + sign sqrt(1 - 4 c)) / 2`` to :data:`DIGITS` digits."""
    old = flint.ctx.dps
    flint.ctx.dps = DIGITS + 30
    try:
        z = (1 + sign * (1 - 4 * flint.acb(*c)).sqrt()) / 2
        assert abs(2 * z) > 1  # repelling: in the Julia set
        return decimal(z.real), decimal(z.imag)
    finally:
        flint.ctx.dps = old


def aside(centre: tuple[str, str], span: str) -> tuple[str, str]:
    """``centre`` moved :data:`OFF_CENTRE` spans right, outside the filled Julia set."""
    old = flint.ctx.dps
    flint.ctx.dps = DIGITS + 30
    try:
        return decimal(flint.arb(centre[0]) + flint.arb(span) * flint.arb(OFF_CENTRE)), centre[1]
    finally:
        flint.ctx.dps = old


def oracle_prec(depth: str, max_iter: int) -> int:
    # As in test_perturbation (balls widen by up to a bit per two iterations), at the
    # precision of the folded offsets.
    return julia_precision_bits(depth) + max_iter // 2 + 64


@pytest.fixture(scope="module")
def views() -> list[tuple[str, tuple[float, float], tuple[str, str]]]:
    """``(name, c, centre)`` of the views the oracle checks at every depth."""
    rabbit = fixed_point(RABBIT, 1)
    return [
        ("rabbit beta", RABBIT, rabbit),
        ("rabbit beta, reference aside", RABBIT, rabbit),
        ("i beta", C_I, fixed_point(C_I, 1)),
        ("i alpha", C_I, fixed_point(C_I, -1)),
        # Pixels left of 0 are closer to 0 than to the reference: rebased at once onto
        # the critical orbit, with offsets too small for plain float64's z**2.
        ("i critical point, reference aside", C_I, ("0", "0")),
    ]


def test_the_julia_reference_state_emits_the_julia_orbit():
    # c = i from 0: 0, i, -1 + i, -i, -1 + i, ... in Gaussian integers, chunked or not.
    state = ReferenceState.julia("0", "0", *C_I, 200)
    state, first = extend(pickle.loads(pickle.dumps(state)), 3)
    _, second = extend(state, 4)
    orbit = Orbit.join([first, second])
    np.testing.assert_array_equal(orbit.real, [0, 0, -1, 0, -1, 0, -1])
    np.testing.assert_array_equal(orbit.imag, [0, 1, 1, -1, 1, -1, 1])
    # From z0, with c the float64 itself (not the decimal "-0.8" read at 200 bits).
    _, orbit = extend(ReferenceState.julia("0.5", "-0.25", *DEFAULT, 200), 3)
    old = flint.ctx.prec
    flint.ctx.prec = 200
    try:
        z, c = flint.acb("0.5", "-0.25"), flint.acb(*DEFAULT)
        for k in range(3):
            assert (orbit.real[k], orbit.imag[k]) == (float(z.real), float(z.imag))
            z = z * z + c
    finally:
        flint.ctx.prec = old
    with pytest.raises(ValueError, match="finite"):
        ReferenceState.julia("0", "0", math.nan, 0.0, 200)


def test_deep_julia_agrees_with_ball_arithmetic_at_every_depth(views):
    rng = np.random.default_rng(20_301)
    report = {}
    for depth, max_iter in DEPTHS.items():
        prec = oracle_prec(depth, max_iter)
        figures = dict.fromkeys(
            ("sampled", "unsettled", "settled", "counts equal", "inside", "smooth within"), 0
        )
        worst = 0.0
        scale, mantissa = view_scale(depth)
        xs, ys = pixel_offsets(EDGE, EDGE, mantissa)
        for name, c, centre in views:
            if name.endswith("aside"):
                centre = aside(centre, depth)
            primary, critical = julia_orbits(*centre, *c, depth, max_iter)
            # The coarse grid only chooses which pixels the oracle checks.
            screen, _ = escape_julia_deep(
                primary, critical, xs[None, ::16], ys[::16, None], scale, max_iter
            )
            for row, col in sample_pixels(screen, rng):
                count, mag2 = escape_julia_deep(
                    primary, critical, xs[col], ys[row], scale, max_iter
                )
                expected = julia_oracle(centre, c, depth, (row, col), max_iter, prec)
                figures["sampled"] += 1
                if expected is None:
                    figures["unsettled"] += 1
                    continue
                figures["settled"] += 1
                figures["counts equal"] += int(count) == expected[0]
                figures["inside"] += expected[0] < 0
                if expected[0] >= 0 and int(count) == expected[0]:
                    ours = smooth(np.array([count]), np.array([mag2]))[0]
                    theirs = smooth(np.array([float(expected[0])]), np.array([expected[1]]))[0]
                    worst = max(worst, abs(ours - theirs))
                    figures["smooth within"] += abs(ours - theirs) < 1e-3
        report[depth] = {**figures, "worst smooth difference": worst}
    for depth, figures in report.items():
        print(f"\n{depth}: {figures}", end="")
    for depth, figures in report.items():
        settled = figures["settled"]
        assert settled >= 0.9 * figures["sampled"], (depth, figures)
        assert figures["counts equal"] >= math.ceil(0.999 * settled), (depth, figures)
        assert figures["inside"] >= 5, (depth, figures)  # the rabbit's interior
        escaped_equal = figures["counts equal"] - figures["inside"]
        assert figures["smooth within"] == escaped_equal, (depth, figures)


def test_pixels_outliving_an_escaped_primary_orbit_are_rebased_right():
    # A reference outside the filled Julia set: its orbit escapes long before the pixels
    # on the other side of the boundary do (or never do), which only rebasing onto the
    # critical orbit can follow.
    depth, max_iter = "1e-100", 1500
    centre = aside(fixed_point(RABBIT, 1), depth)
    primary, critical = julia_orbits(*centre, *RABBIT, depth, max_iter)
    assert primary.escaped
    assert len(critical) == max_iter + 1
    scale, mantissa = view_scale(depth)
    xs, ys = pixel_offsets(EDGE, EDGE, mantissa)
    screen, _ = escape_julia_deep(
        primary, critical, xs[None, ::64], ys[::64, None], scale, max_iter
    )
    later = np.argwhere(screen >= len(primary))
    inside = np.argwhere(screen < 0)
    assert len(later) >= 4, (len(primary), screen)
    assert len(inside) >= 4, (len(primary), screen)
    checked = 0
    for cell in [*later[:: max(1, len(later) // 6)][:6], *inside[:4]]:
        row, col = (int(v) * 64 for v in cell)
        count, _ = escape_julia_deep(primary, critical, xs[col], ys[row], scale, max_iter)
        expected = julia_oracle(
            centre, RABBIT, depth, (row, col), max_iter, oracle_prec(depth, max_iter)
        )
        if expected is not None:
            checked += 1
            assert int(count) == expected[0], (row, col, len(primary))
    assert checked >= 8


@pytest.mark.parametrize(
    ("depth", "reach", "delta"),
    [
        # At the first step, in the scaled phase: z**2 would underflow in plain float64.
        *(pytest.param(depth, 0.0, 1e-12, id=f"{depth}-scaled") for depth in DEPTHS),
        # In the plain phase (|dz| just past PLAIN): z**2 underflows unless scaled again.
        pytest.param("1e-280", 2.0**-498, 1e-13, id="1e-280-plain"),
        # Offsets whose |dz / s|**2 would overflow: the |z| < |dz| test needs them plain.
        pytest.param("1e-280", 1e-100, 1e-12, id="1e-280-large"),
    ],
)
def test_a_pixel_passing_near_the_critical_point_is_rebased_right(depth, reach, delta):
    # A pixel delta spans from a preimage q of 0 under z**2 + i, found by backward
    # iteration until its derivative D sends the reference's offset (0.3 spans) to
    # ``reach``: there the pixel's z is delta / 0.3 of the reference's, and its offset
    # from the critical orbit after that, z**2, is lost unless rebased where |z| < |dz|.
    max_iter, row, col = 3000, EDGE // 2 + 137, EDGE // 2 - 211
    old = flint.ctx.dps
    flint.ctx.dps = DIGITS + 30
    try:
        q, derivative, span = flint.acb(0), flint.acb(1), flint.arb(depth)
        while derivative == 1 or abs(derivative) * span * flint.arb("0.3") < reach:
            q = (q - flint.acb(*C_I)).sqrt()  # the principal branch
            derivative *= 2 * q
        width = span / (2 * EDGE)
        centre = (
            decimal(q.real + span * flint.arb(delta) - width * (2 * col + 1 - EDGE)),
            decimal(q.imag - width * (2 * row + 1 - EDGE)),
        )
    finally:
        flint.ctx.dps = old
    primary, critical = julia_orbits(*centre, *C_I, depth, max_iter)
    scale, mantissa = view_scale(depth)
    xs, ys = pixel_offsets(EDGE, EDGE, mantissa)
    expected = julia_oracle(centre, C_I, depth, (row, col), max_iter, oracle_prec(depth, max_iter))
    count, _ = escape_julia_deep(primary, critical, xs[col], ys[row], scale, max_iter)
    assert expected is not None
    assert int(count) == expected[0] > 0
    # Its neighbour passes 1e-3 spans from q: it escapes far sooner.
    count, _ = escape_julia_deep(primary, critical, xs[col + 1], ys[row], scale, max_iter)
    assert int(count) < expected[0] - 20


def test_orbits_shorter_than_max_iter_are_refused_unless_they_escaped():
    # Rebasing at the end of an orbit that did not escape would round z = Z_n + dz_n to
    # float64, losing the offset that dz_n alone holds at depth.
    centre, depth = ("0", "0"), "1e-30"  # the critical point: in the interior, bounded
    primary, critical = julia_orbits(*centre, *RABBIT, depth, 800)
    assert len(primary) == len(critical) == 801
    short = Orbit(0, primary.real[:20], primary.imag[:20])
    for orbits in ((short, critical), (primary, short)):
        with pytest.raises(ValueError, match="did not escape"):
            render_julia_deep(*centre, *RABBIT, depth, 16, 16, 800, orbits=orbits)
    # Longer orbits (a frame's, reused for a lower max_iter) are fine.
    np.testing.assert_array_equal(
        render_julia_deep(*centre, *RABBIT, depth, 16, 16, 300, orbits=(primary, critical)),
        render_julia_deep(*centre, *RABBIT, depth, 16, 16, 300),
    )


@pytest.mark.parametrize("depth", ["1e-30", "1e-200"])
def test_a_view_centred_on_the_critical_point_is_point_symmetric(depth):
    # z -> -z maps a Julia set onto itself; for c = i the critical point 0 is in it.
    values = render_julia_deep("0", "0", *C_I, depth, 32, 32, 2500, threads=2)
    escaped = ~np.isnan(values)
    assert escaped.mean() > 0.5
    assert np.ptp(values[escaped]) > 1.0  # structure, not a uniform patch
    np.testing.assert_array_equal(values, values[::-1, ::-1])


@pytest.mark.parametrize(
    ("c", "centre", "span", "max_iter"),
    [
        (RABBIT, None, "1e-6", 1000),  # at the beta fixed point, rounded to float64
        (DEFAULT, None, "1e-6", 500),
        (DEFAULT, ("0", "0"), "3.2", 300),  # the app's default view
        (C_I, ("0.1", "-0.2"), "1e3", 100),  # pixels already beyond the radius count 0
    ],
)
def test_deep_julia_agrees_with_the_float64_kernel(c, centre, span, max_iter):
    if centre is None:
        centre = tuple(repr(float(v)) for v in fixed_point(c, 1))
    width, height = 64, 48
    deep = render_julia_deep(*centre, *c, span, width, height, max_iter, threads=2)
    scale, mantissa = view_scale(span)
    xs, ys = pixel_offsets(width, height, mantissa)
    direct = escape_time(
        float(centre[0]) + xs * scale, float(centre[1]) + ys * scale, complex(*c), False, max_iter
    )
    inside = np.isnan(direct)
    both = ~inside & ~np.isnan(deep)
    assert both.mean() > 0.5
    same_count = np.mean(np.floor(deep[both]) == np.floor(direct[both]))
    print(f"\n{span}: inside agree {np.mean(np.isnan(deep) == inside):.4f}, counts {same_count}")
    assert np.mean(np.isnan(deep) == inside) >= 0.99
    assert same_count >= 0.99
    if span == "1e3":
        # Pixels already beyond the radius count 0 (smooth values cannot tell: count 1
        # with |z_0|**4 is the same value), with |z_0|**2 as the float64 kernel has it.
        counts, mag2 = escape_julia_deep(
            *julia_orbits(*centre, *c, span, max_iter), xs[None, :], ys[:, None], scale, 10
        )
        z0 = float(centre[0]) + xs[None, :] * scale + 1j * (float(centre[1]) + ys[:, None] * scale)
        far = np.abs(z0) > 256
        assert far.any()
        np.testing.assert_array_equal(counts[far], 0.0)
        np.testing.assert_allclose(mag2[far], np.abs(z0[far]) ** 2, rtol=1e-12)


def test_invalid_views_and_orbits_are_refused():
    with pytest.raises(ValueError, match="deeper than"):
        render_julia_deep("0", "0", *C_I, f"{2.0**MIN_SPAN_EXPONENT / 4!r}", 16, 16, 10)
    primary, critical = julia_orbits("0.5", "0", *C_I, "1e-10", 10)
    with pytest.raises(ValueError, match="critical"):
        escape_julia_deep(primary, primary, 0.0, 0.0, 2.0**-40, 10)
    with pytest.raises(ValueError, match="power of two"):
        escape_julia_deep(primary, critical, 0.0, 0.0, 3.0, 10)
    warm_up()
