"""FrameCache: an LRU of frames bounded in bytes."""

from __future__ import annotations

import numpy as np
import pytest

from compute.store import FrameCache

KIB = 1024


def frame(nbytes: int, fill: float = 0.0) -> np.ndarray:
    return np.full(nbytes // 8, fill, dtype=np.float64)


def test_put_get():
    cache = FrameCache(10 * KIB)
    a = frame(KIB, 1.0)
    cache.put("a", a)
    assert "a" in cache
    assert len(cache) == 1
    assert cache.get("a") is a
    assert cache.nbytes == KIB


def test_missing_key():
    cache = FrameCache(10 * KIB)
    assert cache.get("nope") is None
    assert "nope" not in cache
    cache.discard("nope")  # no error
    assert len(cache) == 0
    assert cache.nbytes == 0


def test_evicts_least_recently_put():
    cache = FrameCache(3 * KIB)
    for key in "abc":
        cache.put(key, frame(KIB))
    cache.put("d", frame(KIB))
    assert "a" not in cache
    assert [k for k in "bcd" if k in cache] == ["b", "c", "d"]
    assert cache.nbytes == 3 * KIB


def test_get_refreshes():
    cache = FrameCache(3 * KIB)
    for key in "abc":
        cache.put(key, frame(KIB))
    assert cache.get("a") is not None  # a is now the most recent; b the least
    cache.put("d", frame(KIB))
    assert "a" in cache
    assert "b" not in cache
    assert "c" in cache
    assert "d" in cache


def test_contains_does_not_refresh():
    cache = FrameCache(2 * KIB)
    cache.put("a", frame(KIB))
    cache.put("b", frame(KIB))
    assert "a" in cache
    cache.put("c", frame(KIB))
    assert "a" not in cache


def test_put_again_refreshes_and_replaces():
    cache = FrameCache(3 * KIB)
    for key in "abc":
        cache.put(key, frame(KIB))
    new_a = frame(KIB, 7.0)
    cache.put("a", new_a)
    assert cache.get("a") is new_a
    assert len(cache) == 3
    assert cache.nbytes == 3 * KIB
    cache.put("d", frame(KIB))
    assert "a" in cache
    assert "b" not in cache


def test_eviction_by_bytes_evicts_as_many_as_needed():
    cache = FrameCache(4 * KIB)
    for key in "abcd":
        cache.put(key, frame(KIB))
    cache.put("big", frame(3 * KIB))
    assert [k for k in "abcd" if k in cache] == ["d"]
    assert "big" in cache
    assert cache.nbytes == 4 * KIB
    assert cache.nbytes <= cache.max_bytes


def test_frame_exactly_the_budget_is_kept():
    cache = FrameCache(4 * KIB)
    cache.put("a", frame(KIB))
    cache.put("full", frame(4 * KIB))
    assert "full" in cache
    assert "a" not in cache
    assert cache.nbytes == 4 * KIB


def test_frame_bigger_than_budget_is_not_stored():
    cache = FrameCache(4 * KIB)
    cache.put("a", frame(KIB))
    huge = frame(5 * KIB)
    cache.put("huge", huge)
    assert "huge" not in cache
    assert cache.get("huge") is None
    # ... and nothing was evicted to make room for it.
    assert "a" in cache
    assert cache.nbytes == KIB


def test_oversized_replacement_drops_the_stale_frame():
    cache = FrameCache(4 * KIB)
    cache.put("a", frame(KIB))
    cache.put("a", frame(5 * KIB))
    assert cache.get("a") is None
    assert cache.nbytes == 0


def test_zero_budget_keeps_nothing():
    cache = FrameCache(0)
    cache.put("a", frame(KIB))
    assert len(cache) == 0
    assert cache.nbytes == 0


def test_stored_frames_are_read_only():
    cache = FrameCache(10 * KIB)
    a = np.zeros((8, 16))
    cache.put("a", a)
    stored = cache.get("a")
    assert not stored.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        stored[0, 0] = 1.0
    # A copy is writable.
    copy = stored.copy()
    copy[0, 0] = 1.0
    assert stored[0, 0] == 0.0


def test_nbytes_accounting():
    cache = FrameCache(100 * KIB)
    cache.put("a", frame(KIB))
    cache.put("b", frame(2 * KIB))
    cache.put("c", np.zeros((16, 16), dtype=np.float32))  # 1 KiB of another dtype
    assert cache.nbytes == 4 * KIB
    cache.discard("b")
    assert cache.nbytes == 2 * KIB
    assert len(cache) == 2
    cache.put("a", frame(3 * KIB))  # replace: the old size is subtracted
    assert cache.nbytes == 4 * KIB
    cache.discard("a")
    cache.discard("a")  # twice: no double subtraction
    assert cache.nbytes == KIB
    cache.discard("c")
    assert cache.nbytes == 0
    assert len(cache) == 0


def test_nbytes_matches_contents_after_many_operations():
    rng = np.random.default_rng(0)
    cache = FrameCache(20 * KIB)
    last_put: dict[str, np.ndarray] = {}
    keys = [f"k{i}" for i in range(10)]
    for _ in range(300):
        key = keys[rng.integers(len(keys))]
        action = rng.integers(3)
        if action == 0:
            last_put[key] = frame(int(rng.integers(1, 12)) * KIB)
            cache.put(key, last_put[key])
        elif action == 1:
            got = cache.get(key)
            assert got is None or got is last_put[key]
        else:
            cache.discard(key)
        held = [k for k in keys if k in cache]
        assert len(cache) == len(held)
        assert cache.nbytes == sum(last_put[k].nbytes for k in held)
        assert cache.nbytes <= cache.max_bytes


@pytest.mark.parametrize("max_bytes", [-1, -(2**20)])
def test_negative_budget_rejected(max_bytes):
    with pytest.raises(ValueError, match="max_bytes"):
        FrameCache(max_bytes)


def test_default_budget():
    assert FrameCache().max_bytes > 0
