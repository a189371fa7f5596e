"""Deep zoom beyond float64's range (``extended.py``): against ball arithmetic, and against
the float64 kernels where both work.

The oracle (``oracle.py``) iterates sampled pixels directly in python-flint's Arb and
excludes those whose balls cannot tell escape from not. The places are found there by
Newton's method, here to more digits than its default: the Misiurewicz point M(4,1) to
1,100 digits (boundary at every depth, pixels escape after ~8,000 iterations at 1e-1000),
and minibrots of the spiral around ``i`` at 1e-600 and 1e-700, whose reference orbits pass
within ``2**-1000`` of 0 at every multiple of their period: values float64 cannot hold.
"""

from __future__ import annotations

import math
import pickle
from contextlib import contextmanager

import flint
import gmpy2
import numpy as np
import oracle as oracle_module
import pytest
from oracle import EDGE, MISIUREWICZ, OFF_CENTRE, decimal, minibrot, misiurewicz, oracle
from oracle import nucleus as find_nucleus

from compute.fractal.bla import frame_radius, render_bla
from compute.fractal.extended import (
    LIMIT,
    MIN_SPAN_EXPONENT,
    RADIUS_FLOOR,
    ExtendedTable,
    escape_extended,
    extended_table,
    render_extended,
    view_exponent,
    warm_up,
)
from compute.fractal.kernels import smooth
from compute.fractal.perturbation import pixel_offsets, render_deep
from compute.fractal.reference import (
    SMALL,
    Orbit,
    ReferenceState,
    extend,
    precision_bits,
    reference_orbit,
)


@contextmanager
def digits(count: int):
    """The oracle's helpers (Newton's method, decimals) at ``count`` digits."""
    old = oracle_module.DIGITS
    oracle_module.DIGITS = count
    try:
        yield
    finally:
        oracle_module.DIGITS = old


def shifted_left(real: str, span: str, fraction: str, count: int) -> str:
    old = flint.ctx.dps
    flint.ctx.dps = count + 30
    try:
        return decimal(flint.arb(real) - flint.arb(span) * flint.arb(fraction))
    finally:
        flint.ctx.dps = old


@pytest.fixture(scope="module")
def places() -> dict[str, tuple[tuple[str, str], str]]:
    """``(centre, span)`` by name (the span None where the test chooses it)."""
    warm_up()
    found = {"i": (("0", "1"), None)}
    with digits(1100):
        c = misiurewicz(*MISIUREWICZ["M(4,1)"])
        found["M(4,1)"] = ((decimal(c.real), decimal(c.imag)), None)
    with digits(700):
        found["minibrot 1e-600"] = minibrot("1e-600")
    with digits(800):
        (real, imag), span = minibrot("1e-700")
        found["minibrot 1e-700, reference aside"] = (
            (shifted_left(real, span, OFF_CENTRE, 800), imag),
            span,
        )
    (real, imag), span = minibrot("1e-150")
    found["minibrot 1e-150, reference aside"] = (
        (shifted_left(real, span, OFF_CENTRE, 340), imag),
        span,
    )
    return found


def check_against_oracle(centre, span, max_iter, picks, report) -> None:
    """Every sampled pixel's count, BLA on and off, against the oracle's; tallies."""
    exponent, mantissa = view_exponent(span)
    xs, ys = pixel_offsets(EDGE, EDGE, mantissa)
    orbit = reference_orbit(*centre, span, max_iter)
    table = extended_table(orbit, exponent, frame_radius(xs, ys))
    prec = precision_bits(span) + max_iter // 2 + 64
    for row, col in picks(orbit, xs, ys, exponent, max_iter):
        expected = oracle(centre, span, (row, col), max_iter, prec)
        report["sampled"] += 1
        if expected is None:
            continue
        report["settled"] += 1
        report["escaped"] += expected[0] > 0
        counts = []
        for which in (table, None):
            count, mag2 = escape_extended(orbit, which, xs[col], ys[row], exponent, max_iter)
            counts.append(int(count))
            if int(count) == expected[0] > 0:
                ours = smooth(np.array([count]), np.array([mag2]))[0]
                theirs = smooth(np.array([float(expected[0])]), np.array([expected[1]]))[0]
                report["smooth differs"] += not abs(ours - theirs) < 1e-3
        if counts != [expected[0]] * 2:
            print(f"\n{span}, pixel {row, col}: BLA on, off {counts}, oracle {expected[0]}")
            report["mismatched"] += 1


def boundary_picks(count: int, seed: int, inside: int = 0, spread: bool = False):
    """Pixels of a coarse screen where it shows the boundary (the highest counts that
    escape; or escaping counts from the highest to the lowest if ``spread``), and
    ``inside`` pixels it shows inside."""

    def picks(orbit, xs, ys, exponent, max_iter):
        rng = np.random.default_rng(seed)
        screen, _ = escape_extended(
            orbit, None, xs[None, ::32], ys[::32, None], exponent, max_iter
        )
        order = np.argsort(np.where(screen < 0, -np.inf, screen), axis=None)[::-1]
        chosen = order[: count - inside]
        if spread:
            escaped = order[: np.count_nonzero(screen > 0)]
            chosen = escaped[np.linspace(0, len(escaped) - 1, count - inside).astype(int)]
        cells = [np.unravel_index(i, screen.shape) for i in chosen]
        if inside:
            found = np.argwhere(screen < 0)
            cells += list(found[rng.permutation(len(found))[:inside]])
        return [(int(r) * 32, int(c) * 32) for r, c in cells]

    return picks


def tally() -> dict[str, int]:
    return dict.fromkeys(("sampled", "settled", "escaped", "mismatched", "smooth differs"), 0)


@pytest.mark.parametrize(
    ("name", "span", "max_iter", "samples"),
    [
        ("i", "1e-500", 1600, 16),
        ("M(4,1)", "1e-500", 4300, 20),
        ("i", "1e-1000", 3000, 16),
        ("M(4,1)", "1e-1000", 8400, 20),
    ],
)
def test_extended_agrees_with_ball_arithmetic_at_1e500_and_1e1000(
    places, name, span, max_iter, samples
):
    centre, _ = places[name]
    report = tally()
    check_against_oracle(centre, span, max_iter, boundary_picks(samples, 20_400), report)
    print(f"\n{name} at {span}: {report}")
    assert report["settled"] >= 0.9 * report["sampled"]
    assert report["escaped"] >= 0.5 * report["settled"]
    assert report["mismatched"] == 0
    assert report["smooth differs"] == 0


def test_a_reference_at_a_nucleus_keeps_its_values_below_float64(places):
    # The reference is the nucleus of a period-800 minibrot (at 2,078 bits): |Z_800| is
    # about 2**-1080, and so is every |Z_800k|; float64 rounds them to 0.
    centre, span = places["minibrot 1e-600"]
    orbit = reference_orbit(*centre, span, 10_000)
    assert len(orbit.small_index) >= 12
    period = int(orbit.small_index[0])
    np.testing.assert_array_equal(orbit.small_index, period * np.arange(1, 13))
    assert np.all(orbit.small_exponent < -1060)
    np.testing.assert_array_equal(orbit.real[orbit.small_index], 0.0)
    report = tally()
    check_against_oracle(
        centre, span, 10_000, boundary_picks(12, 20_401, inside=3, spread=True), report
    )
    print(f"\nnucleus of period {period} at {span}: {report}")
    assert report["settled"] >= 11
    assert report["escaped"] >= 6
    assert report["mismatched"] == 0
    assert report["smooth differs"] == 0


def test_pixels_near_a_minibrot_need_the_values_float64_loses(places):
    # The reference is outside a period-932 minibrot 1e-700 wide: its orbit passes within
    # 2**-1164 of 0, and so do the pixels near the minibrot (rebased there, then both
    # dz**2 and dc matter). Without the orbit's small values (zeros in float64) they
    # escape too early.
    centre, span = places["minibrot 1e-700, reference aside"]
    max_iter = 12_000
    orbit = reference_orbit(*centre, span, max_iter)
    assert len(orbit.small_index) >= 10
    assert np.all(orbit.small_exponent < -1100)
    report = tally()
    check_against_oracle(centre, span, max_iter, boundary_picks(14, 20_402, spread=True), report)
    print(f"\nminibrot aside at {span}: {report}")
    assert report["settled"] >= 13
    assert report["escaped"] >= 10
    assert report["mismatched"] == 0
    assert report["smooth differs"] == 0
    exponent, mantissa = view_exponent(span)
    xs, ys = pixel_offsets(EDGE, EDGE, mantissa)
    rows, cols = np.meshgrid(np.arange(400, 640, 16), np.arange(900, 1024, 8), indexing="ij")
    whole, _ = escape_extended(orbit, None, xs[cols], ys[rows], exponent, max_iter)
    stripped = Orbit(0, orbit.real, orbit.imag, orbit.escaped)
    blind, _ = escape_extended(stripped, None, xs[cols], ys[rows], exponent, max_iter)
    print(f"counts changed without the small values: {np.mean(whole != blind):.3f}")
    assert np.mean(whole != blind) > 0.1


def compare(first: np.ndarray, second: np.ndarray) -> dict[str, float]:
    inside_first, inside_second = np.isnan(first), np.isnan(second)
    both = ~inside_first & ~inside_second
    same = np.floor(first[both]) == np.floor(second[both])
    return {
        "inside agree": float(np.mean(inside_first == inside_second)),
        "counts equal": float(same.sum() + (inside_first & inside_second).sum()) / first.size,
        "smooth within 1e-3": float(np.mean(np.abs(first[both][same] - second[both][same]) < 1e-3))
        if same.any()
        else 1.0,
        "escaped": float(both.mean()),
    }


@pytest.mark.parametrize(
    ("name", "span", "max_iter"),
    [
        ("i", "1e-250", 2500),
        ("M(4,1)", "1e-250", 2500),
        ("M(4,1)", repr(2.0**-1000), 3200),  # the float64 kernels' deepest scale
        ("minibrot 1e-150, reference aside", None, 3000),
    ],
)
def test_the_float64_kernels_agree_with_the_extended_one(places, name, span, max_iter):
    centre, own_span = places[name]
    span = span or own_span
    width, height = 64, 48
    orbit = reference_orbit(*centre, span, max_iter)
    frame = (*centre, span, width, height, max_iter)
    deep = render_deep(*frame, orbit=orbit, threads=2)
    bla = render_bla(*frame, orbit=orbit, threads=2)
    stats = {}
    extended = render_extended(*frame, orbit=orbit, threads=2, stats=stats)
    plain = render_extended(*frame, orbit=orbit, bla=False, threads=2)
    for other in (deep, bla, plain):
        figures = compare(other, extended)
        print(f"\n{name} at {span}: {figures}")
        assert figures["escaped"] > 0.2
        assert figures["inside agree"] >= 0.999
        assert figures["counts equal"] >= 0.999
        assert figures["smooth within 1e-3"] >= 0.999
    assert stats["steps"] < 0.5 * stats["iterations"]


@pytest.mark.parametrize(("name", "max_iter"), [("i", 3000), ("M(4,1)", 8400)])
def test_bla_on_agrees_with_bla_off_at_1e1000(places, name, max_iter):
    centre, _ = places[name]
    orbit = reference_orbit(*centre, "1e-1000", max_iter)
    frame = (*centre, "1e-1000", 32, 24, max_iter)
    on_stats, off_stats = {}, {}
    on = render_extended(*frame, orbit=orbit, threads=2, stats=on_stats)
    off = render_extended(*frame, orbit=orbit, bla=False, threads=2, stats=off_stats)
    figures = compare(off, on)
    ratio = on_stats["steps"] / off_stats["steps"]
    print(f"\n{name} at 1e-1000: {figures}, steps BLA on / off {ratio:.4f}, {on_stats}")
    assert figures["escaped"] > 0.9
    assert figures["counts equal"] >= 0.999
    assert figures["smooth within 1e-3"] >= 0.999
    assert off_stats["steps"] == off_stats["iterations"]
    assert ratio < 0.1


@pytest.fixture(scope="module")
def tiny_orbit() -> tuple[tuple[str, str], Orbit]:
    """The orbit of a period-3 nucleus to 1,100 digits, at 3,402 bits: ``|Z_3k|`` is
    about ``2**-3400``."""
    with digits(1100):
        c = find_nucleus(flint.acb(-0.1226, 0.7449), 3)
        centre = (decimal(c.real), decimal(c.imag))
    return centre, reference_orbit(*centre, "1e-1000", 40, chunk=7)


def test_small_values_are_kept_exactly_and_survive_join(tiny_orbit):
    centre, orbit = tiny_orbit
    np.testing.assert_array_equal(orbit.small_index, np.arange(3, 41, 3))
    assert orbit.small_index.dtype == orbit.small_exponent.dtype == np.int64
    # Against MPFR directly, at the orbit's precision.
    bits = precision_bits("1e-1000")
    with gmpy2.context(precision=bits):
        c = gmpy2.mpc(gmpy2.mpfr(centre[0]), gmpy2.mpfr(centre[1]))
        z, values = gmpy2.mpc(0), []
        for _ in range(41):
            values.append(z)
            z = z * z + c
        for n, re, im, ex in zip(
            orbit.small_index,
            orbit.small_real,
            orbit.small_imag,
            orbit.small_exponent,
            strict=True,
        ):
            exact = values[n]
            assert max(abs(exact.real), abs(exact.imag)) < SMALL
            assert ex < -3300
            assert max(abs(re), abs(im)) >= 0.5
            for ours, theirs in ((re, exact.real), (im, exact.imag)):
                assert abs(gmpy2.mul_2exp(gmpy2.mpfr(ours), int(ex)) - theirs) <= abs(
                    gmpy2.mul_2exp(gmpy2.mpfr(1), int(ex) - 53)
                )
    # Chunks of other sizes, and a state extended later, make the same values.
    state = ReferenceState.start(*centre, bits)
    chunks = []
    for size in (5, 1, 20, 15):
        state, chunk = extend(pickle.loads(pickle.dumps(state)), size)
        chunks.append(chunk)
    assert any(len(chunk.small_index) == 0 for chunk in chunks)
    joined = Orbit.join(chunks)
    for field in ("real", "imag", "small_index", "small_real", "small_imag", "small_exponent"):
        np.testing.assert_array_equal(getattr(joined, field), getattr(orbit, field))
    again = pickle.loads(pickle.dumps(orbit))
    np.testing.assert_array_equal(again.small_exponent, orbit.small_exponent)
    assert orbit.__sizeof__() >= 16 * len(orbit) + 32 * len(orbit.small_index)


def test_no_block_steps_over_a_small_value_or_past_the_limits(tiny_orbit):
    _, orbit = tiny_orbit
    steps = extended_table(orbit, -3322, 1.0).steps
    small = set(orbit.small_index.tolist())
    valid = 0
    for level in range(steps.levels):
        for j in range(steps.offsets[level + 1] - steps.offsets[level]):
            entry = steps.offsets[level] + j
            covered = range(1 + j * 2**level, 1 + (j + 1) * 2**level)
            if small.intersection(covered):
                assert steps.r[entry] == 0.0, (level, j)
            valid += steps.r[entry] > 0.0
    assert valid >= len(orbit) // 2  # level 0 between the multiples of 3, and more
    # i's orbit multiplies offsets by 2**1.25 an iteration: long blocks pass the limit.
    orbit = reference_orbit("0", "1", "1e-1000", 3000)
    steps = extended_table(orbit, -3322, 0.7).steps
    a = np.hypot(steps.a_re, steps.a_im)
    b = np.hypot(steps.b_re, steps.b_im)
    merged = np.arange(len(steps)) >= steps.offsets[1]
    valid = steps.r > 0.0
    assert np.any(np.isfinite(a) & (a > LIMIT))
    assert np.all(a[valid] <= LIMIT)
    assert np.all(b[valid] <= LIMIT)
    assert np.all(steps.r[valid & merged] > RADIUS_FLOOR)
    assert np.any(valid & merged & (a > 2.0**300))


def test_shallow_orbits_keep_no_small_values():
    orbit = reference_orbit("-0.74364388703715870475", "0.13182590420531197049", "1e-25", 3000)
    for field in ("small_index", "small_real", "small_imag", "small_exponent"):
        assert getattr(orbit, field).shape == (0,)
    # Z_0 = 0 and an exactly periodic 0 (c = -1: 0, -1, 0, ...) are exact in float64.
    assert len(reference_orbit("-1", "0", "1e-300", 10).small_index) == 0
    assert Orbit(0, np.zeros(3), np.zeros(3)).small_real.dtype == np.float64


def test_a_short_reference_is_rebased_not_wrong():
    full = render_extended("-0.7453", "0.1127", "1e-8", 32, 24, 800, threads=1)
    short = reference_orbit("-0.7453", "0.1127", "1e-8", 37)
    rebased = render_extended("-0.7453", "0.1127", "1e-8", 32, 24, 800, orbit=short, threads=1)
    np.testing.assert_allclose(rebased, full, atol=1e-6, equal_nan=True)


def test_view_exponent_covers_any_depth():
    for span, log_three in (("1e-1000", 0.0), ("3e-2000", math.log2(3))):
        exponent, mantissa = view_exponent(span)
        assert 1.0 <= mantissa < 2.0
        power = -int(span.split("e-")[1]) * math.log2(10) + log_three
        assert exponent == math.floor(power)
        assert mantissa == pytest.approx(2.0 ** (power - exponent), rel=1e-9)
    assert view_exponent(repr(2.0**-1000)) == (-1000, 1.0)
    with pytest.raises(ValueError, match="deeper"):
        view_exponent(f"1e-{5000}")
    with pytest.raises(ValueError, match="span"):
        view_exponent("-1")


def test_bad_input_is_refused_naming_the_argument():
    orbit = reference_orbit("0", "1", "1e-400", 100)
    exponent, _ = view_exponent("1e-400")
    table = extended_table(orbit, exponent, 1.0)
    assert isinstance(table, ExtendedTable)
    assert len(table) >= len(orbit) - 2
    assert pickle.loads(pickle.dumps(table)).exponent == exponent
    with pytest.raises(ValueError, match="radius"):
        extended_table(orbit, exponent, -1.0)
    with pytest.raises(ValueError, match="eps"):
        extended_table(orbit, exponent, 1.0, eps=2.0)
    with pytest.raises(ValueError, match="exponent"):
        extended_table(orbit, MIN_SPAN_EXPONENT - 1, 1.0)
    with pytest.raises(ValueError, match="orbit"):
        extended_table(Orbit(5, orbit.real, orbit.imag), exponent, 1.0)
    with pytest.raises(ValueError, match="max_iter"):
        escape_extended(orbit, table, 0.5, 0.5, exponent, 0)
    with pytest.raises(ValueError, match="exponent"):
        escape_extended(orbit, table, 0.5, 0.5, 2.5, 10)
    with pytest.raises(ValueError, match="table"):
        escape_extended(orbit, table, 0.5, 0.5, exponent - 1, 10)
    with pytest.raises(ValueError, match="table"):
        escape_extended(orbit, table, 2.0, 0.0, exponent, 10)  # beyond the table's radius
    with pytest.raises(ValueError, match="table"):
        escape_extended(reference_orbit("0", "1", "1e-400", 50), table, 0.5, 0.5, exponent, 10)
    with pytest.raises(ValueError, match="table"):
        escape_extended(orbit, "table", 0.5, 0.5, exponent, 10)
    with pytest.raises(ValueError, match="width and height"):
        render_extended("0", "1", "1e-400", 0, 10, 100)
    with pytest.raises(ValueError, match="max_iter"):
        render_extended("0", "1", "1e-400", 10, 10, 0)
    with pytest.raises(ValueError, match="table given"):
        render_extended("0", "1", "1e-400", 10, 10, 10, table=table)
