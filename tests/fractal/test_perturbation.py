"""Deep zoom by perturbation against an oracle nobody here wrote, and against float64.

The oracle iterates each sampled pixel directly, in python-flint's ball arithmetic (Arb):
every value is an interval certain to hold the exact one, so "``|z|**2 > R**2``" is either
settled (true for sure, or false for sure) or not; unsettled pixels are excluded and
counted. The views are centred on Misiurewicz points, computed here by Newton's method in
Arb: the boundary of the Mandelbrot set passes through them at every depth, so every
view, however deep, holds boundary pixels.
"""

from __future__ import annotations

import math

import flint
import numpy as np
import pytest
from oracle import (
    DEPTHS,
    DIGITS,
    EDGE,
    MISIUREWICZ,
    OFF_CENTRE,
    decimal,
    minibrot,
    misiurewicz,
    oracle,
    sample_pixels,
)

from compute.fractal import FractalConfig, render
from compute.fractal.kernels import smooth
from compute.fractal.perturbation import (
    MIN_SPAN_EXPONENT,
    escape_deep,
    pixel_offsets,
    render_deep,
    view_scale,
)
from compute.fractal.reference import precision_bits, reference_orbit


@pytest.fixture(scope="module")
def centres() -> dict[str, tuple[str, str]]:
    points = {name: misiurewicz(*spec) for name, spec in MISIUREWICZ.items()}
    return {name: (decimal(c.real), decimal(c.imag)) for name, c in points.items()}


@pytest.fixture(scope="module")
def views(centres) -> dict[str, list[tuple[str, tuple[str, str], str]]]:
    """For every depth: ``(name, centre, span)`` of the views the oracle checks."""
    found = {}
    for depth in DEPTHS:
        (nucleus_re, nucleus_im), span = minibrot(depth)
        # The same minibrot seen from a reference outside it (and escaping): pixels near
        # its nucleus come far closer to 0 than the reference does, where only rebasing
        # keeps their offsets meaningful.
        old = flint.ctx.dps
        flint.ctx.dps = DIGITS + 30
        try:
            shift = flint.arb(span) * flint.arb(OFF_CENTRE)
            aside = (decimal(flint.arb(nucleus_re) - shift), nucleus_im)
        finally:
            flint.ctx.dps = old
        found[depth] = [
            *((name, centre, depth) for name, centre in centres.items()),
            ("minibrot", (nucleus_re, nucleus_im), span),
            ("minibrot, reference aside", aside, span),
        ]
    return found


def test_perturbation_agrees_with_ball_arithmetic_at_every_depth(views):
    rng = np.random.default_rng(20_300)
    report = {}
    escaped_references = 0
    for depth, max_iter in DEPTHS.items():
        # Balls widen by up to sqrt(2) an iteration beyond the true error (rectangles in
        # the complex plane): a bit per two iterations, on top of the depth's own bits.
        prec = precision_bits(depth) + max_iter // 2 + 64
        figures = dict.fromkeys(
            ("sampled", "unsettled", "settled", "counts equal", "inside", "smooth within"), 0
        )
        worst = 0.0
        for name, centre, span in views[depth]:
            scale, mantissa = view_scale(span)
            xs, ys = pixel_offsets(EDGE, EDGE, mantissa)
            orbit = reference_orbit(*centre, span, max_iter)
            escaped_references += orbit.escaped
            # Where the boundary is, seen on a coarse grid by the kernel under test: it
            # only chooses which pixels the oracle checks.
            screen, _ = escape_deep(orbit, xs[None, ::16], ys[::16, None], scale, max_iter)
            # The nucleus lies OFF_CENTRE spans right of the reference, on a row boundary.
            nucleus = (EDGE // 2, int(EDGE // 2 + float(OFF_CENTRE) * EDGE))
            around = nucleus if name.endswith("aside") else None
            for row, col in sample_pixels(screen, rng, around):
                count, mag2 = escape_deep(orbit, xs[col], ys[row], scale, max_iter)
                expected = oracle(centre, span, (row, col), max_iter, prec)
                figures["sampled"] += 1
                if expected is None:
                    figures["unsettled"] += 1
                    continue
                figures["settled"] += 1
                figures["counts equal"] += int(count) == expected[0]
                figures["inside"] += expected[0] < 0
                if expected[0] > 0 and int(count) == expected[0]:
                    ours = smooth(np.array([count]), np.array([mag2]))[0]
                    theirs = smooth(np.array([float(expected[0])]), np.array([expected[1]]))[0]
                    worst = max(worst, abs(ours - theirs))
                    figures["smooth within"] += abs(ours - theirs) < 1e-3
        report[depth] = {**figures, "worst smooth difference": worst}
    for depth, figures in report.items():
        print(f"\n{depth}: {figures}", end="")
    assert escaped_references > 0, "no view exercised a reference that escapes"
    for depth, figures in report.items():
        settled = figures["settled"]
        assert settled >= 0.9 * figures["sampled"], (depth, figures)
        assert figures["counts equal"] >= math.ceil(0.999 * settled), (depth, figures)
        assert figures["inside"] >= 10, (depth, figures)  # the inside is checked too
        escaped_equal = figures["counts equal"] - figures["inside"]
        assert figures["smooth within"] == escaped_equal, (depth, figures)


def mandelbrot_config(cx: float, cy: float, span: float, width: int, height: int, max_iter):
    half_x, half_y = span / 2, span * height / width / 2
    return FractalConfig(
        fractal="mandelbrot",
        x_range=(cx - half_x, cx + half_x),
        y_range=(cy - half_y, cy + half_y),
        width=width,
        height=height,
        max_iter=max_iter,
    )


@pytest.mark.parametrize(
    ("cx", "cy", "span", "max_iter", "counts_equal", "smooth_close"),
    [
        # Shallow: float64 is exact enough for every pixel; checks the orientation of a
        # frame that is neither square nor symmetric.
        (-0.75, 0.2, "0.5", 300, 0.999, 0.999),
        # A span of 1e-10 near the seahorse valley, where float64 still resolves pixels
        # (about 3e-4 of a pixel's width per coordinate) but its iteration error,
        # amplified along ~300 iterations, is no longer negligible everywhere.
        (-0.7453, 0.1127, "1e-10", 1000, 0.98, 0.95),
    ],
)
def test_perturbation_agrees_with_the_float64_kernel(
    cx, cy, span, max_iter, counts_equal, smooth_close
):
    width, height = 96, 64
    deep = render_deep(repr(cx), repr(cy), span, width, height, max_iter, threads=2)
    direct = render(mandelbrot_config(cx, cy, float(span), width, height, max_iter), threads=2)
    assert deep.shape == direct.shape == (height, width)
    inside = np.isnan(direct)
    assert (~inside).mean() > 0.0
    both = ~inside & ~np.isnan(deep)
    same_count = np.mean(np.floor(deep[both]) == np.floor(direct[both]))
    close = np.mean(np.abs(deep[both] - direct[both]) < 1e-3)
    print(
        f"\nspan {span}: inside agree {np.mean(np.isnan(deep) == inside):.4f}, "
        f"counts equal {same_count:.4f}, smooth within 1e-3 {close:.4f}"
    )
    assert np.mean(np.isnan(deep) == inside) >= counts_equal
    assert same_count >= counts_equal
    assert close >= smooth_close


def test_a_view_on_the_real_axis_is_its_own_mirror_image(centres):
    centre_re, _ = centres["M(3,1) real"]
    width, height, max_iter = 48, 40, 1500
    values = render_deep(centre_re, "0", "1e-150", width, height, max_iter, threads=2)
    escaped = ~np.isnan(values)
    assert escaped.any()
    assert np.ptp(values[escaped]) > 1.0  # structure, not a uniform patch
    np.testing.assert_array_equal(values, values[::-1])


def test_a_point_inside_stays_inside_at_depth():
    # The centre of the main cardioid's period-2 neighbour, -1: its orbit is periodic.
    values = render_deep("-1", "0", "1e-200", 16, 16, 400, threads=1)
    assert np.isnan(values).all()


def test_spans_beyond_the_representation_are_refused():
    with pytest.raises(ValueError, match="deeper than"):
        render_deep("0", "1", f"{2.0**MIN_SPAN_EXPONENT / 4!r}", 16, 16, 10)
    view_scale(repr(2.0**MIN_SPAN_EXPONENT))  # the limit itself is supported


def test_a_short_reference_is_rebased_not_wrong():
    # A reference shorter than the pixels need (or ending early) restarts them along it.
    full = render_deep("-0.7453", "0.1127", "1e-8", 32, 24, 800, threads=1)
    short = reference_orbit("-0.7453", "0.1127", "1e-8", 37)
    assert len(short) == 38
    rebased = render_deep("-0.7453", "0.1127", "1e-8", 32, 24, 800, orbit=short, threads=1)
    np.testing.assert_allclose(rebased, full, atol=1e-6, equal_nan=True)
