"""Bilinear approximation (BLA): the same pictures as perturbation without it, fewer steps.

Checked against the perturbation kernel (:func:`render_deep`, itself checked against ball
arithmetic in ``oracle.py``) on whole frames, and against that oracle directly
on sampled pixels, reusing its helpers (Misiurewicz points and minibrots by Newton's
method in python-flint, the Arb oracle, the choice of pixels).
"""

from __future__ import annotations

import math
import pickle

import flint
import numpy as np
import pytest
from oracle import (
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

from compute.fractal.bla import (
    EPSILON,
    BlaTable,
    bla_table,
    escape_bla,
    frame_radius,
    render_bla,
)
from compute.fractal.kernels import smooth
from compute.fractal.perturbation import (
    MIN_SPAN_EXPONENT,
    pixel_offsets,
    render_deep,
    view_scale,
)
from compute.fractal.reference import Orbit, precision_bits, reference_orbit

WIDTH, HEIGHT = 128, 96


@pytest.fixture(scope="module")
def places() -> dict[str, tuple[tuple[str, str], str | None]]:
    """Views by name: ``(centre, span)``, the span None where the test chooses it."""
    found = {}
    for name in ("i", "M(4,1)"):
        c = misiurewicz(*MISIUREWICZ[name])
        found[name] = ((decimal(c.real), decimal(c.imag)), None)
    for depth in ("1e-60", "1e-150"):
        # A minibrot seen from a reference left of it, outside the set: the reference
        # escapes (rebases at its end) and pixels near the nucleus pass close to 0.
        (nucleus_re, nucleus_im), span = minibrot(depth)
        old = flint.ctx.dps
        flint.ctx.dps = DIGITS + 30
        try:
            shift = flint.arb(span) * flint.arb(OFF_CENTRE)
            aside = decimal(flint.arb(nucleus_re) - shift)
        finally:
            flint.ctx.dps = old
        found[f"minibrot {depth}, reference aside"] = ((aside, nucleus_im), span)
    return found


def compare(deep: np.ndarray, bla: np.ndarray) -> dict[str, float]:
    inside_deep, inside_bla = np.isnan(deep), np.isnan(bla)
    both = ~inside_deep & ~inside_bla
    same = np.floor(deep[both]) == np.floor(bla[both])
    return {
        "inside agree": float(np.mean(inside_deep == inside_bla)),
        "counts equal": float(same.sum() + (inside_deep & inside_bla).sum()) / deep.size,
        "smooth within 1e-3": float(np.mean(np.abs(deep[both][same] - bla[both][same]) < 1e-3))
        if same.any()
        else 1.0,
        "escaped": float(both.mean()),
    }


@pytest.mark.parametrize(
    ("name", "span", "max_iter"),
    [
        ("i", "1e-20", 600),
        ("i", "1e-100", 1500),
        ("i", "1e-300", 3200),
        ("i", repr(2.0**MIN_SPAN_EXPONENT), 3200),  # the deepest scale supported
        ("M(4,1)", "1e-20", 800),
        ("M(4,1)", "1e-100", 1500),
        ("M(4,1)", "1e-300", 3200),
        ("minibrot 1e-60, reference aside", None, 3000),
        ("minibrot 1e-150, reference aside", None, 3000),
    ],
)
def test_bla_on_agrees_with_bla_off(places, name, span, max_iter):
    centre, own_span = places[name]
    span = span or own_span
    orbit = reference_orbit(*centre, span, max_iter)
    deep = render_deep(*centre, span, WIDTH, HEIGHT, max_iter, orbit=orbit, threads=2)
    stats = {}
    bla = render_bla(*centre, span, WIDTH, HEIGHT, max_iter, orbit=orbit, threads=2, stats=stats)
    figures = compare(deep, bla)
    print(
        f"\n{name} at {span}: {figures}, steps/iterations "
        f"{stats['steps'] / stats['iterations']:.3f}"
    )
    assert figures["escaped"] > 0.2  # the frames show boundary, not a uniform patch
    assert figures["inside agree"] >= 0.999
    assert figures["counts equal"] >= 0.999
    assert figures["smooth within 1e-3"] == 1.0


def test_bla_agrees_with_ball_arithmetic(places):
    rng = np.random.default_rng(20_301)
    views = [
        ("1e-60", 1200, "i", places["i"][0], "1e-60"),
        ("1e-60", 3000, "minibrot aside", *places["minibrot 1e-60, reference aside"]),
        ("1e-300", 3200, "M(4,1)", places["M(4,1)"][0], "1e-300"),
    ]
    figures = dict.fromkeys(("sampled", "settled", "counts equal", "inside", "smooth"), 0)
    skipped = [0.0, 0.0]
    for depth, max_iter, name, centre, span in views:
        prec = precision_bits(depth) + max_iter // 2 + 64
        scale, mantissa = view_scale(span)
        xs, ys = pixel_offsets(EDGE, EDGE, mantissa)
        orbit = reference_orbit(*centre, span, max_iter)
        table = bla_table(orbit, scale=scale, scaled_radius=frame_radius(xs, ys))
        screen, _ = escape_bla(orbit, table, xs[None, ::32], ys[::32, None], scale, max_iter)
        nucleus = (EDGE // 2, int(EDGE // 2 + float(OFF_CENTRE) * EDGE))
        around = nucleus if "aside" in name else None
        for row, col in sample_pixels(screen, rng, around):
            count, mag2, steps = escape_bla(
                orbit, table, xs[col], ys[row], scale, max_iter, steps=True
            )
            skipped[0] += float(steps)
            skipped[1] += max_iter if count < 0 else float(count)
            expected = oracle(centre, span, (row, col), max_iter, prec)
            figures["sampled"] += 1
            if expected is None:
                continue
            figures["settled"] += 1
            figures["inside"] += expected[0] < 0
            if int(count) != expected[0]:
                print(f"\n{name} at {depth}, pixel {row, col}: {int(count)} != {expected[0]}")
                continue
            figures["counts equal"] += 1
            if expected[0] > 0:
                ours = smooth(np.array([count]), np.array([mag2]))[0]
                theirs = smooth(np.array([float(expected[0])]), np.array([expected[1]]))[0]
                figures["smooth"] += abs(ours - theirs) < 1e-3
            else:
                figures["smooth"] += 1
    print(f"\n{figures}, steps/iterations {skipped[0] / skipped[1]:.3f}")
    assert figures["sampled"] >= 100
    assert figures["settled"] >= 0.9 * figures["sampled"]
    assert figures["counts equal"] >= math.ceil(0.999 * figures["settled"])
    assert figures["smooth"] == figures["counts equal"]
    assert figures["inside"] >= 5
    assert skipped[0] < 0.5 * skipped[1]


def test_the_table_skips_most_iterations_in_about_two_entries_an_iteration(places):
    centre, _ = places["i"]
    stats = {}
    render_bla(*centre, "1e-300", 64, 48, 3200, threads=2, stats=stats)
    print(f"\n{stats}")
    assert stats["steps"] < 0.15 * stats["iterations"]
    orbit = reference_orbit(*centre, "1e-300", 3200)
    scale, _ = view_scale("1e-300")
    table = bla_table(orbit, 1e-300, scale=scale)
    steps = len(orbit) - 2  # level 0: one per reference iteration m >= 1 with a successor
    assert steps <= len(table) <= 2 * steps
    assert len(table) >= 1.9 * steps
    assert table.nbytes == 40 * len(table) + table.offsets.nbytes
    assert table.__sizeof__() >= table.nbytes
    again = pickle.loads(pickle.dumps(table))
    np.testing.assert_array_equal(again.r, table.r)
    assert again.scale == table.scale
    assert again.radius == table.radius


def test_merged_levels_compose_their_steps():
    rng = np.random.default_rng(7)
    z = rng.normal(size=40) + 1j * rng.normal(size=40)
    z[0] = 0.0
    orbit = Orbit(0, z.real.copy(), z.imag.copy())
    radius = 1e-9
    table = bla_table(orbit, radius)
    assert table.levels >= 5
    for level in range(table.levels):
        for j in range(table.offsets[level + 1] - table.offsets[level]):
            a, b, r = 1.0 + 0j, 0j, math.inf
            for m in range(1 + j * 2**level, 1 + (j + 1) * 2**level):
                step_r = EPSILON * abs(z[m])
                r = min(r, max(0.0, (step_r - abs(b) * radius) / abs(a)))
                a, b = 2 * z[m] * a, 2 * z[m] * b + 1
            entry = table.offsets[level] + j
            got_a = complex(table.a_re[entry], table.a_im[entry])
            got_b = complex(table.b_re[entry], table.b_im[entry])
            assert got_a == pytest.approx(a, rel=1e-12)
            assert got_b == pytest.approx(b, rel=1e-12)
            # The tree's radius is never above the step-by-step one (it may be below:
            # the halves bound |B_x| |dc| separately).
            assert table.r[entry] <= r * (1 + 1e-12)


def test_a_short_reference_is_rebased_not_wrong():
    full = render_deep("-0.7453", "0.1127", "1e-8", 32, 24, 800, threads=1)
    short = reference_orbit("-0.7453", "0.1127", "1e-8", 37)
    rebased = render_bla("-0.7453", "0.1127", "1e-8", 32, 24, 800, orbit=short, threads=1)
    np.testing.assert_allclose(rebased, full, atol=1e-6, equal_nan=True)


def test_bad_input_is_refused_naming_the_argument():
    orbit = reference_orbit("0", "1", "1e-20", 100)
    scale, _ = view_scale("1e-20")
    with pytest.raises(ValueError, match="radius"):
        bla_table(orbit, -1.0, scale=scale)
    with pytest.raises(ValueError, match="radius"):
        bla_table(orbit, math.nan)
    with pytest.raises(ValueError, match="scaled_radius"):
        bla_table(orbit, 1e-20, scale=scale, scaled_radius=1.0)
    with pytest.raises(ValueError, match="scaled_radius"):
        bla_table(orbit, scale=scale, scaled_radius=-2.0)
    with pytest.raises(ValueError, match="scale"):
        bla_table(orbit, 1e-20, scale=3.0)
    with pytest.raises(ValueError, match="eps"):
        bla_table(orbit, 1e-20, eps=0.0)
    with pytest.raises(ValueError, match="orbit"):
        bla_table(Orbit(5, orbit.real, orbit.imag), 1e-20)
    table = bla_table(orbit, scale=scale, scaled_radius=1.0)
    assert isinstance(table, BlaTable)
    with pytest.raises(ValueError, match="max_iter"):
        escape_bla(orbit, table, 0.5, 0.5, scale, 0)
    with pytest.raises(ValueError, match="scale"):
        escape_bla(orbit, table, 0.5, 0.5, scale * 2, 10)
    with pytest.raises(ValueError, match="table"):
        escape_bla(orbit, table, 2.0, 0.0, scale, 10)  # beyond the table's radius
    with pytest.raises(ValueError, match="table"):
        escape_bla(reference_orbit("0", "1", "1e-20", 50), table, 0.5, 0.5, scale, 10)
    with pytest.raises(ValueError, match="table"):
        escape_bla(orbit, "table", 0.5, 0.5, scale, 10)
    with pytest.raises(ValueError, match="width and height"):
        render_bla("0", "1", "1e-20", 0, 10, 100)
    with pytest.raises(ValueError, match="max_iter"):
        render_bla("0", "1", "1e-20", 10, 10, 0)
    with pytest.raises(ValueError, match="span"):
        render_bla("0", "1", "-1", 10, 10, 100)
