"""The reference orbit: chunked as one-shot, extendable later, exact where it can be."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from compute.fractal.reference import (
    MIN_BITS,
    Orbit,
    ReferenceState,
    extend,
    precision_bits,
    reference_orbit,
    span_exponent,
)

# Seahorse valley, to more digits than float64 holds.
CENTRE = ("-0.74364388703715870475219150611477", "0.13182590420531197049313205638514")


def run(state: ReferenceState, sizes) -> tuple[ReferenceState, Orbit]:
    chunks = []
    for size in sizes:
        # Through pickle, as between the tasks of a chain on a cluster.
        state, chunk = extend(pickle.loads(pickle.dumps(state)), size)
        chunks.append(chunk)
    return state, Orbit.join(chunks)


def test_chunks_of_any_size_make_the_one_shot_orbit():
    once = reference_orbit(*CENTRE, "1e-25", 3000, chunk=10**6)
    chunked = reference_orbit(*CENTRE, "1e-25", 3000, chunk=7)
    assert len(once) == 3001
    assert not once.escaped
    np.testing.assert_array_equal(chunked.real, once.real)
    np.testing.assert_array_equal(chunked.imag, once.imag)


def test_a_state_extended_later_continues_the_same_orbit():
    bits = precision_bits("1e-25")
    start = ReferenceState.start(*CENTRE, bits)
    state, first = run(start, [500, 501])  # Z_0 ... Z_1000, as for max_iter 1000
    assert state.iteration == 1001
    _, later = run(state, [1000, 1000])  # max_iter raised to 3000: Z_1001 ... Z_3000
    whole = reference_orbit(*CENTRE, "1e-25", 3000)
    joined = Orbit.join([first, later])
    np.testing.assert_array_equal(joined.real, whole.real)
    np.testing.assert_array_equal(joined.imag, whole.imag)
    np.testing.assert_array_equal(first.real, whole.real[:1001])


def test_an_exact_orbit_is_exact():
    # i is a Misiurewicz point: 0, i, -1 + i, -i, -1 + i, ... in Gaussian integers.
    orbit = reference_orbit("0", "1", "1e-300", 6, chunk=4)
    np.testing.assert_array_equal(orbit.real, [0, 0, -1, 0, -1, 0, -1])
    np.testing.assert_array_equal(orbit.imag, [0, 1, 1, -1, 1, -1, 1])


def test_an_escaping_orbit_ends_with_its_first_escaped_value():
    orbit = reference_orbit("0.3", "0.6", "1e-20", 10_000, chunk=3)
    assert orbit.escaped
    magnitudes = orbit.real**2 + orbit.imag**2
    assert magnitudes[-1] > 256.0**2
    assert (magnitudes[:-1] <= 256.0**2).all()
    state = ReferenceState.start("0.3", "0.6", 100)
    state, chunk = extend(state, 10_000)
    assert state.escaped
    assert len(chunk) == len(orbit)
    state, nothing = extend(state, 10)  # an ended orbit stays ended
    assert len(nothing) == 0
    assert state.iteration == len(orbit)


def test_precision_follows_the_depth():
    assert span_exponent("1") == 0
    assert span_exponent("0.5") == -1
    assert span_exponent("0.49999") == -2
    assert span_exponent("1e-300") == -997
    assert precision_bits("1e-300") > 997 + 53
    assert precision_bits("2") == MIN_BITS
    # Finer resolved ten times deeper: about 3.3 more bits.
    assert precision_bits("1e-101") - precision_bits("1e-100") in (3, 4)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="span"):
        precision_bits("-1")
    with pytest.raises(ValueError, match="centre"):
        ReferenceState.start("nan", "0", 100)
    with pytest.raises(ValueError, match="consecutive"):
        Orbit.join([Orbit(0, np.zeros(2), np.zeros(2)), Orbit(3, np.zeros(1), np.zeros(1))])


def test_a_chain_of_fixed_length_joins_when_its_orbit_escapes_early():
    # A cluster computes a fixed number of chunks: those after the escape are empty.
    state = ReferenceState.start("0.5", "0.6", 144)  # escapes within a few iterations
    chunks = []
    for _ in range(3):
        state, chunk = extend(state, 10)
        chunks.append(chunk)
    assert chunks[0].escaped
    assert (len(chunks[1]), len(chunks[2])) == (0, 0)
    joined = Orbit.join(chunks)
    assert joined.escaped
    assert len(joined) == len(chunks[0])
    with pytest.raises(ValueError, match="after the escape"):
        Orbit.join([chunks[0], Orbit(len(chunks[0]), np.zeros(1), np.zeros(1))])
