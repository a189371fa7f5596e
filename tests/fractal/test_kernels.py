"""The escape-time kernel against a plain-Python reference and against analytic values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from compute.kernels import ESCAPE_RADIUS, LANES, escape_counts, escape_time

BAILOUT = ESCAPE_RADIUS**2


def reference(z0: complex, c: complex, max_iter: int) -> tuple[int, float]:
    """Escape count (-1 inside) and smooth value (NaN inside) of one orbit, in plain Python.

    ``n`` is the number of squarings applied before ``|z|**2 > ESCAPE_RADIUS**2``; the
    point is inside when that has not happened after ``max_iter`` of them.
    """
    a, b = z0.real, z0.imag
    for n in range(max_iter + 1):
        a2, b2 = a * a, b * b
        if a2 + b2 > BAILOUT:
            modulus = math.sqrt(a2 + b2)
            return n, n + 1 - math.log2(math.log(modulus) / math.log(ESCAPE_RADIUS))
        if n == max_iter:
            break
        a, b = a2 - b2 + c.real, 2.0 * a * b + c.imag
    return -1, math.nan


def reference_grid(xs, ys, c: complex, mandelbrot: bool, max_iter: int):
    counts = np.empty((len(ys), len(xs)))
    values = np.empty((len(ys), len(xs)))
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            pixel = complex(x, y)
            z0, cc = (0j, pixel) if mandelbrot else (pixel, c)
            counts[i, j], values[i, j] = reference(z0, cc, max_iter)
    return counts, values


def kernel_counts(xs, ys, c: complex, mandelbrot: bool, max_iter: int) -> np.ndarray:
    xs = np.ascontiguousarray(xs, dtype=np.float64)
    ys = np.ascontiguousarray(ys, dtype=np.float64)
    counts = np.full((ys.size, xs.size), -2.0)
    mag2 = np.full((ys.size, xs.size), -2.0)
    escape_counts(xs, ys, c.real, c.imag, mandelbrot, max_iter, counts, mag2)
    return counts


def one(x: float, y: float, c: complex, mandelbrot: bool, max_iter: int = 100) -> float:
    values = escape_time(np.array([x]), np.array([y]), c, mandelbrot, max_iter)
    assert values.shape == (1, 1)
    return float(values[0, 0])


def test_reference_itself():
    # c = 1 from 0: 0, 1, 2, 5, 26, 677 -> five squarings to pass the radius.
    n, value = reference(0j, 1 + 0j, 100)
    assert n == 5
    assert value == pytest.approx(6 - math.log2(math.log(677) / math.log(256)), abs=1e-12)
    n, value = reference(0j, 1 + 0j, 4)
    assert n == -1
    assert math.isnan(value)
    assert reference(0j, 1 + 0j, 5)[0] == 5


@pytest.mark.parametrize("c", [0j, -1 + 0j, -0.1 + 0.1j, -0.5 + 0.5j, -1.3 + 0j, 0.25 + 0j])
def test_mandelbrot_points_inside(c):
    assert math.isnan(one(c.real, c.imag, 0j, mandelbrot=True, max_iter=200))


def test_mandelbrot_c_equals_one():
    # 0, 1, 2, 5, 26, 677: n = 5, |z_n| = 677.
    expected = 6 - math.log2(math.log(677) / math.log(256))
    assert one(1.0, 0.0, 0j, mandelbrot=True) == pytest.approx(expected, abs=1e-12)
    # Four iterations leave z = 26: still inside; five are enough to escape.
    assert math.isnan(one(1.0, 0.0, 0j, mandelbrot=True, max_iter=4))
    assert one(1.0, 0.0, 0j, mandelbrot=True, max_iter=5) == pytest.approx(expected, abs=1e-12)


def test_mandelbrot_ignores_c_argument():
    xs = np.linspace(-2.0, 0.6, 13)
    ys = np.linspace(-1.2, 1.1, 11)
    a = escape_time(xs, ys, 0j, True, 60)
    b = escape_time(xs, ys, complex(0.3, -0.7), True, 60)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("z0", [0j, 0.5 + 0j, -0.3 + 0.6j, 0.99j])
def test_julia_c_zero_inside_unit_disc(z0):
    assert math.isnan(one(z0.real, z0.imag, 0j, mandelbrot=False))


@pytest.mark.parametrize("z0", [3 + 0j, -3 + 0j, 3j, complex(1.8, -2.4)])
def test_julia_c_zero_modulus_three(z0):
    # z_n = z0 ** (2 ** n): |z_n| = 3 ** (2 ** n) first exceeds 256 at n = 3 (6561), so the
    # smooth value is 4 - log2(log(3 ** 8) / log(256)) = 4 - log2(log2(3)).
    exponent = math.ceil(math.log2(math.log(ESCAPE_RADIUS) / math.log(3)))
    assert exponent == 3
    expected = exponent + 1 - math.log2(2**exponent * math.log(3) / math.log(ESCAPE_RADIUS))
    assert expected == pytest.approx(4 - math.log2(math.log2(3)), abs=1e-12)
    assert one(z0.real, z0.imag, 0j, mandelbrot=False) == pytest.approx(expected, abs=1e-9)
    # With only two squarings allowed, |z| = 81: inside.
    assert math.isnan(one(z0.real, z0.imag, 0j, mandelbrot=False, max_iter=2))


@pytest.mark.parametrize(
    ("mandelbrot", "c", "x_range", "y_range"),
    [
        (True, 0j, (-2.2, 0.8), (-1.3, 1.3)),
        (False, complex(-0.8, 0.156), (-1.6, 1.6), (-1.2, 1.2)),
        (False, complex(0.285, 0.01), (-1.5, 1.5), (-1.1, 1.1)),
    ],
)
def test_agrees_with_reference_on_a_grid(mandelbrot, c, x_range, y_range):
    max_iter = 100
    xs = np.linspace(*x_range, 40)
    ys = np.linspace(*y_range, 30)
    ref_counts, ref_values = reference_grid(xs, ys, c, mandelbrot, max_iter)
    counts = kernel_counts(xs, ys, c, mandelbrot, max_iter)
    values = escape_time(xs, ys, c, mandelbrot, max_iter)

    # The grid must exercise both outcomes, or agreement proves little.
    assert np.isnan(ref_values).any()
    assert (~np.isnan(ref_values)).sum() > 100
    # Every pixel was written: counts are -1 or whole numbers of iterations.
    assert ((counts == -1) | ((counts >= 0) & (counts == np.round(counts)))).all()

    # fastmath lets LLVM contract to FMA: orbits near the boundary may round differently.
    same = counts == ref_counts
    assert (~same).sum() <= max(2, 0.01 * same.size)
    np.testing.assert_array_equal(np.isnan(values[same]), ref_counts[same] < 0)
    np.testing.assert_allclose(values[same], ref_values[same], rtol=0, atol=1e-9)
    # Where the counts agree, the whole number part of the value is the count (or a hair
    # below it: |z_n| may exceed ESCAPE_RADIUS ** 2 by up to |c|).
    escaped = same & (ref_counts >= 0)
    assert (np.abs(values[escaped] - ref_counts[escaped] - 0.5) <= 0.5 + 1e-6).all()


@pytest.mark.parametrize("mandelbrot", [True, False])
@pytest.mark.parametrize("max_iter", [1, 7, 50])
def test_values_in_range(mandelbrot, max_iter):
    # Far points too, so that even one iteration lets some escape.
    far = [-300.0, -40.0, -20.0, 20.0, 40.0, 300.0]
    xs = np.concatenate([np.linspace(-3.0, 3.0, 61), far])
    ys = np.concatenate([np.linspace(-2.5, 2.5, 37), far])
    values = escape_time(xs, ys, complex(-0.4, 0.6), mandelbrot, max_iter)
    escaped = values[~np.isnan(values)]
    assert escaped.size > 0
    assert escaped.min() >= 0
    assert escaped.max() < max_iter + 1


def test_orientation_rows_are_ys():
    # An asymmetric grid: three rows, five columns, distinct values almost everywhere.
    xs = np.array([-2.5, -1.9, -0.6, 0.45, 1.3])
    ys = np.array([0.05, 0.9, 1.6])
    values = escape_time(xs, ys, 0j, True, 100)
    assert values.shape == (len(ys), len(xs))
    for i, y in enumerate(ys):
        for j, x in enumerate(xs):
            _, expected = reference(0j, complex(x, y), 100)
            if math.isnan(expected):
                assert math.isnan(values[i, j]), (i, j)
            else:
                assert values[i, j] == pytest.approx(expected, abs=1e-9), (i, j)
    # Sanity of the fixture: swapping rows or mirroring would change the result.
    assert not np.array_equal(values, values[::-1], equal_nan=True)
    assert not np.array_equal(values, values[:, ::-1], equal_nan=True)


def test_julia_uses_pixel_as_start_and_c_as_constant():
    # Julia of c = 1 from z0 = 0 is the Mandelbrot orbit of c = 1.
    expected = 6 - math.log2(math.log(677) / math.log(256))
    assert one(0.0, 0.0, 1 + 0j, mandelbrot=False) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("nx", "ny"), [(1, 1), (33, 7), (7, 33), (LANES - 1, 1), (LANES + 1, 3), (2 * LANES, 2)]
)
@pytest.mark.parametrize("mandelbrot", [True, False])
def test_odd_sizes(nx, ny, mandelbrot):
    xs = np.linspace(-1.9, 0.9, nx) if nx > 1 else np.array([0.37])
    ys = np.linspace(-1.1, 1.3, ny) if ny > 1 else np.array([0.41])
    c = complex(-0.7, 0.27)
    values = escape_time(xs, ys, c, mandelbrot, 80)
    assert values.shape == (ny, nx)
    assert values.dtype == np.float64
    ref_counts, ref_values = reference_grid(xs, ys, c, mandelbrot, 80)
    counts = kernel_counts(xs, ys, c, mandelbrot, 80)
    same = counts == ref_counts
    assert (~same).sum() <= max(1, 0.01 * same.size)
    np.testing.assert_allclose(values[same], ref_values[same], rtol=0, atol=1e-9)


def test_max_iter_one():
    # Julia, c = 0: |z0| = 300 escapes before any iteration, |z0| = 20 after one (400),
    # |z0| = 3 not after one (9).
    xs = np.array([300.0, 20.0, 3.0])
    ys = np.array([0.0])
    counts = kernel_counts(xs, ys, 0j, False, 1)
    np.testing.assert_array_equal(counts, [[0.0, 1.0, -1.0]])
    values = escape_time(xs, ys, 0j, False, 1)
    expected = [reference(complex(x, 0.0), 0j, 1)[1] for x in xs]
    assert expected[0] == pytest.approx(1 - math.log2(math.log(300) / math.log(256)))
    assert expected[1] == pytest.approx(2 - math.log2(math.log(400) / math.log(256)))
    np.testing.assert_allclose(values[0], expected, rtol=0, atol=1e-12)


def test_accepts_lists_and_int_coordinates():
    values = escape_time([1, 0], [0], 0j, True, 10)
    expected = 6 - math.log2(math.log(677) / math.log(256))
    assert values[0, 0] == pytest.approx(expected, abs=1e-12)
    assert math.isnan(values[0, 1])
