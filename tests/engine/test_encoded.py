"""Encoded results (compute.engine.encoded): N concurrent requests, one encoding, in a
real thread; a refused charge encodes nothing; the memory bound holds."""

from __future__ import annotations

import asyncio
import threading

import pytest

from compute.engine.encoded import EncodedResults
from compute.engine.limits import LimitExceeded

pytestmark = pytest.mark.asyncio


class Encoder:
    """An encoding that blocks (in its thread) until the test opens its gate, counted."""

    def __init__(self, size: int = 10):
        self.calls, self.size = 0, size
        self.gate = threading.Event()

    def __call__(self):
        self.calls += 1
        assert self.gate.wait(30)
        return "image/png", b"x" * self.size


async def test_concurrent_requests_for_the_same_bytes_wait_for_one_encoding():
    encoded, encoder, charges = EncodedResults(), Encoder(), []
    requests = [
        asyncio.ensure_future(encoded.get("k", encoder, charge=lambda: charges.append(1)))
        for _ in range(50)
    ]
    await asyncio.sleep(0)  # every request has asked while the one encoding runs
    encoder.gate.set()
    answers = await asyncio.gather(*requests)
    assert encoder.calls == encoded.encodings == 1
    assert charges == [1]  # only the request that encoded paid
    assert {id(a[1]) for a in answers} == {id(answers[0][1])}
    # Kept: asked again, nothing is encoded or charged.
    assert await encoded.get("k", encoder, charge=lambda: charges.append(1)) == answers[0]
    assert (encoder.calls, charges) == (1, [1])


async def test_a_refused_charge_encodes_nothing_and_others_may_still_encode():
    encoded, encoder = EncodedResults(), Encoder()
    encoder.gate.set()

    def refuse():
        raise LimitExceeded("over", cap="cost")

    with pytest.raises(LimitExceeded):
        await encoded.get("k", encoder, charge=refuse)
    assert encoder.calls == 0
    assert await encoded.get("k", encoder, charge=lambda: None) == ("image/png", b"x" * 10)


async def test_a_failed_encoding_reaches_every_waiting_request_and_is_not_kept():
    encoded = EncodedResults()
    gate = threading.Event()

    def broken():
        gate.wait(30)
        raise ValueError("Unknown colormap 'nope'.")

    requests = [asyncio.ensure_future(encoded.get("k", broken)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    failures = await asyncio.gather(*requests, return_exceptions=True)
    assert all(isinstance(f, ValueError) for f in failures)
    assert encoded.peek("k") is None


async def test_kept_bytes_stay_within_the_bound_least_recently_used_first():
    encoded = EncodedResults(max_bytes=100)
    for key in "abcd":
        encoder = Encoder(size=25)
        encoder.gate.set()
        await encoded.get(key, encoder)
    assert encoded.nbytes == 100
    encoded.peek("a")  # used: kept over b
    big = Encoder(size=25)
    big.gate.set()
    await encoded.get("e", big)
    assert encoded.nbytes <= 100
    assert encoded.peek("b") is None
    assert encoded.peek("a") is not None
    # Larger than a quarter of the bound: served, not kept.
    huge = Encoder(size=30)
    huge.gate.set()
    assert len((await encoded.get("f", huge))[1]) == 30
    assert encoded.peek("f") is None
