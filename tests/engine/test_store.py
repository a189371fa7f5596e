"""ResultCache (in memory) and ResultStore (on disk, shared by processes)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from compute.engine import JobRecord, ResultCache, ResultStore
from compute.engine.store import MISSING

ROOT = Path(__file__).resolve().parents[2]

KIB = 1024


def frame(nbytes: int, fill: float = 0.0) -> np.ndarray:
    return np.full(nbytes // 8, fill, dtype=np.float64)


def test_put_get():
    cache = ResultCache(10 * KIB)
    a = frame(KIB, 1.0)
    cache.put("a", a)
    assert "a" in cache
    assert len(cache) == 1
    assert cache.get("a") is a
    assert cache.nbytes == KIB


def test_missing_key():
    cache = ResultCache(10 * KIB)
    assert cache.get("nope") is None
    assert "nope" not in cache
    cache.discard("nope")  # no error
    assert len(cache) == 0
    assert cache.nbytes == 0


def test_evicts_least_recently_put():
    cache = ResultCache(3 * KIB)
    for key in "abc":
        cache.put(key, frame(KIB))
    cache.put("d", frame(KIB))
    assert "a" not in cache
    assert [k for k in "bcd" if k in cache] == ["b", "c", "d"]
    assert cache.nbytes == 3 * KIB


def test_get_refreshes():
    cache = ResultCache(3 * KIB)
    for key in "abc":
        cache.put(key, frame(KIB))
    assert cache.get("a") is not None  # a is now the most recent; b the least
    cache.put("d", frame(KIB))
    assert "a" in cache
    assert "b" not in cache
    assert "c" in cache
    assert "d" in cache


def test_contains_does_not_refresh():
    cache = ResultCache(2 * KIB)
    cache.put("a", frame(KIB))
    cache.put("b", frame(KIB))
    assert "a" in cache
    cache.put("c", frame(KIB))
    assert "a" not in cache


def test_put_again_refreshes_and_replaces():
    cache = ResultCache(3 * KIB)
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
    cache = ResultCache(4 * KIB)
    for key in "abcd":
        cache.put(key, frame(KIB))
    cache.put("big", frame(3 * KIB))
    assert [k for k in "abcd" if k in cache] == ["d"]
    assert "big" in cache
    assert cache.nbytes == 4 * KIB
    assert cache.nbytes <= cache.max_bytes


def test_frame_exactly_the_budget_is_kept():
    cache = ResultCache(4 * KIB)
    cache.put("a", frame(KIB))
    cache.put("full", frame(4 * KIB))
    assert "full" in cache
    assert "a" not in cache
    assert cache.nbytes == 4 * KIB


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, 512 * 2**20), ("64MiB", 64 * 2**20), ("0", 0), ("lots", 512 * 2**20)],
)
def test_the_memory_cache_budget_comes_from_the_environment(monkeypatch, caplog, value, expected):
    if value is None:
        monkeypatch.delenv("ENGINE_CACHE_MAX_BYTES", raising=False)
    else:
        monkeypatch.setenv("ENGINE_CACHE_MAX_BYTES", value)
    assert ResultCache.from_env().max_bytes == expected
    # A value that is no size is said, not fatal.
    assert ("ENGINE_CACHE_MAX_BYTES='lots' is no size" in caplog.text) == (value == "lots")


def test_frame_bigger_than_budget_is_not_stored():
    cache = ResultCache(4 * KIB)
    cache.put("a", frame(KIB))
    huge = frame(5 * KIB)
    cache.put("huge", huge)
    assert "huge" not in cache
    assert cache.get("huge") is None
    # ... and nothing was evicted to make room for it.
    assert "a" in cache
    assert cache.nbytes == KIB


def test_oversized_replacement_drops_the_stale_frame():
    cache = ResultCache(4 * KIB)
    cache.put("a", frame(KIB))
    cache.put("a", frame(5 * KIB))
    assert cache.get("a") is None
    assert cache.nbytes == 0


def test_zero_budget_keeps_nothing():
    cache = ResultCache(0)
    cache.put("a", frame(KIB))
    assert len(cache) == 0
    assert cache.nbytes == 0


def test_stored_frames_are_read_only():
    cache = ResultCache(10 * KIB)
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
    cache = ResultCache(100 * KIB)
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
    cache = ResultCache(20 * KIB)
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
        ResultCache(max_bytes)


def test_default_budget():
    assert ResultCache().max_bytes > 0


# -- ResultStore: on disk, shared by processes -----------------------------------------------
# Other processes are real interpreters running the store's own code (see WRITER); what
# they leave on disk is what this process reads.

WRITER = """
import os, sys, time, json
import numpy as np
from compute.engine import JobRecord, ResultStore

location, mode, tag, count, max_bytes = sys.argv[1:6]
store = ResultStore(location, max_bytes=int(max_bytes))
go = os.path.join(location, "go")
while not os.path.exists(go):  # start together with the other writers
    time.sleep(0.005)
for i in range(int(count)):
    if mode == "same-key":  # one key rewritten forever with a frame full of i
        store.put("victim", np.full((1024, 1024), float(i)))
        continue
    key = f"shared{i % 5}" if i % 2 else f"{tag}{i}"
    store.put(key, np.full((64, 64), float(len(key))))
    store.add_record(JobRecord(key=key, summary=f"{tag} {i}", submitted_at=time.time()))
print("ok", flush=True)
"""


def writer(location, mode: str, tag: str = "w", count: int = 1, max_bytes: int = 2**40):
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(location), mode, tag, str(count), str(max_bytes)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def processes():
    started: list[subprocess.Popen] = []
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.communicate(timeout=30)


def finished_ok(process: subprocess.Popen) -> None:
    out, err = process.communicate(timeout=100)
    assert process.returncode == 0, err
    assert out.strip() == "ok"
    assert "Traceback" not in err


def frame_file(store: ResultStore, key: str) -> Path:
    return Path(store.location) / "frames" / f"{key}.frame"


@pytest.fixture
def store(tmp_path):
    return ResultStore(tmp_path / "store", max_bytes=2**30)


def values(n: int = 64, fill: float = 1.5) -> np.ndarray:
    frame = np.full((n, n), fill)
    frame[0, 0] = np.nan  # inside the set: NaN must survive the round trip
    return frame


def test_store_round_trip_is_read_only_and_exact(store):
    frame = values()
    assert store.get("k1") is None
    assert store.put("k1", frame)
    got = store.get("k1", shape=frame.shape)
    np.testing.assert_array_equal(got, frame)
    assert got.dtype == frame.dtype
    assert not got.flags.writeable
    assert "k1" in store
    assert store.keys() == ["k1"]
    assert store.nbytes == frame_file(store, "k1").stat().st_size


def test_store_refuses_keys_that_are_not_plain_names(store):
    for bad in ("../escape", "a/b", "", ".hidden", "x" * 200):
        with pytest.raises(ValueError, match="Not a valid key"):
            store.put(bad, values())


def test_store_survives_a_restart_both_ways(tmp_path):
    location = tmp_path / "store"
    ResultStore(location).put("mine", values(fill=2.0))
    ResultStore(location).add_record(JobRecord(key="mine", submitted_at=1.0))
    with processes() as started:
        # A new process reads what this one wrote, and writes for this one to read.
        reader = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys, json; from compute.engine import ResultStore; "
                "s = ResultStore(sys.argv[1]); f = s.get('mine'); "
                "print(json.dumps([float(f[1, 1]), s.history()[0].key]))",
                str(location),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(reader)
        out, err = reader.communicate(timeout=60)
        assert reader.returncode == 0, err
        assert json.loads(out) == [2.0, "mine"]
        started.append(other := writer(location, "keys", tag="theirs", count=1))
        (location / "go").touch()
        finished_ok(other)
    fresh = ResultStore(location)
    np.testing.assert_array_equal(fresh.get("theirs0"), np.full((64, 64), 7.0))
    assert [r.key for r in fresh.history()] == ["mine", "theirs0"]


def test_a_killed_writer_leaves_no_partial_frame(tmp_path):
    location = tmp_path / "store"
    store = ResultStore(location, abandoned_after=3600)
    frames = location / "frames"
    for _attempt in range(20):
        with processes() as started:
            started.append(process := writer(location, "same-key", count=10**6))
            (location / "go").touch()
            # Kill it while a rewrite of an existing entry is half done: the moment the
            # store is most tempted to show a partial frame.
            deadline = time.monotonic() + 60
            while not (frame_file(store, "victim").exists() and list(frames.glob("*.tmp-*"))):
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "the writer never wrote"
                time.sleep(0.001)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        if list(frames.glob("*.tmp-*")):
            break  # killed mid-write (not between two writes): the case under test
    else:
        pytest.fail("never caught the writer mid-write in 20 tries")
    frame = store.get("victim", shape=(1024, 1024))
    assert frame is not None
    assert np.all(frame == frame[0, 0]), "a frame mixing two writes was read"
    # The leftover is invisible to readers and removed once old enough to be abandoned.
    assert store.keys() == ["victim"]
    ResultStore(location, abandoned_after=0).evict()
    assert not list(frames.glob("*.tmp-*"))
    assert store.get("victim") is not None


@pytest.mark.parametrize(
    "damage",
    ["flip-a-value-byte", "truncate", "garbage", "empty", "wrong-shape"],
)
def test_a_corrupted_frame_reads_as_missing_and_is_removed(store, damage, caplog):
    frame = values(fill=3.0)
    store.put("k", frame)
    path = frame_file(store, "k")
    data = bytearray(path.read_bytes())
    if damage == "flip-a-value-byte":
        data[-3] ^= 0xFF  # still a valid .npy: only the checksum can tell
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytearray(b"\x00not a frame" * 50)
    elif damage == "empty":
        data = bytearray()
    path.write_bytes(bytes(data))
    shape = (32, 32) if damage == "wrong-shape" else frame.shape
    with caplog.at_level("WARNING", logger="compute.engine.store"):
        assert store.get("k", shape=shape) is None
    assert "corrupted" in caplog.text
    assert not path.exists()
    assert store.put("k", frame)
    np.testing.assert_array_equal(store.get("k"), frame)


def test_an_unreadable_history_record_is_skipped(store):
    store.add_record(JobRecord(key="a", submitted_at=1.0))
    store.add_record(JobRecord(key="b", submitted_at=2.0))
    first = sorted((Path(store.location) / "history").glob("*.json"))[0]
    first.write_text("{half a rec")
    assert [r.key for r in store.history()] == ["b"]


def test_history_is_ordered_limited_and_bounded(tmp_path):
    store = ResultStore(tmp_path / "store", max_records=3)
    for i in (4, 1, 3):
        store.add_record(JobRecord(key=f"k{i}", submitted_at=float(i)))
    # Written in this order, a second apart (set explicitly: file times are coarse).
    files = {
        json.loads(p.read_text())["key"]: p for p in (tmp_path / "store" / "history").iterdir()
    }
    for n, key in enumerate(["k4", "k1", "k3"]):
        os.utime(files[key], (1000 + n, 1000 + n))
    # Beyond the bound, the record written longest ago goes, not the one submitted first
    # (a long movie's heartbeat keeps its record): k4.
    store.add_record(JobRecord(key="k2", submitted_at=2.0))
    assert [r.key for r in store.history()] == ["k1", "k2", "k3"]
    assert [r.key for r in store.history(limit=2)] == ["k2", "k3"]
    assert store.history(limit=0) == []


def test_store_evicts_least_recently_used_across_instances(tmp_path):
    frame = values()
    size = len(frame.tobytes())
    location = tmp_path / "store"
    store = ResultStore(location, max_bytes=int(3.5 * size))
    for key in "abc":
        store.put(key, frame)
    # Another instance (as another process would) reads "a": "b" is now the oldest.
    assert ResultStore(location).get("a") is not None
    store.put("d", frame)
    assert store.keys() == ["c", "a", "d"]
    assert store.nbytes <= store.max_bytes


def test_a_frame_larger_than_the_store_is_not_kept(tmp_path):
    store = ResultStore(tmp_path / "store", max_bytes=1000)
    assert not store.put("big", values(64))
    assert store.keys() == []


def test_two_processes_writing_at_once(tmp_path):
    location = tmp_path / "store"
    budget = 12 * (64 * 64 * 8 + 200)  # a dozen of the writers' frames
    ResultStore(location)  # create the folders before the race
    with processes() as started:
        for tag in ("p", "q"):
            started.append(writer(location, "keys", tag=tag, count=40, max_bytes=budget))
        (location / "go").touch()
        for process in started:
            finished_ok(process)
    store = ResultStore(location, max_bytes=budget)
    assert store.nbytes <= budget
    keys = store.keys()
    assert keys, "eviction removed everything"
    for key in keys:
        # Each writer filled a frame with the length of its key: any mix would show.
        np.testing.assert_array_equal(store.get(key), np.full((64, 64), float(len(key))))
    history = store.history()
    assert len(history) == 80
    assert {r.summary for r in history} == {f"{tag} {i}" for tag in "pq" for i in range(40)}
    assert not list((location / "frames").glob("*.tmp-*"))
    assert not list((location / "history").glob("*.tmp-*"))


def test_an_fsspec_url_works_like_a_directory():
    store = ResultStore(f"memory://fractal-test-{uuid.uuid4().hex}", max_bytes=2**20)
    try:
        store.put("k", values())
        np.testing.assert_array_equal(store.get("k"), values())
        record = JobRecord(key="k", summary="a frame", submitted_at=1.0, config={"a": [1, 2]})
        store.add_record(record)
        (read,) = store.history()
        assert read == record.replace(updated_at=read.updated_at)
    finally:
        store.clear()
    assert store.keys() == []


def test_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("ENGINE_STORE", "off")
    assert ResultStore.from_env() is None
    monkeypatch.setenv("ENGINE_STORE", str(tmp_path / "here"))
    monkeypatch.setenv("ENGINE_STORE_MAX_BYTES", "3 MiB")
    store = ResultStore.from_env()
    assert store.location == str(tmp_path / "here")
    assert store.max_bytes == 3 * 2**20
    monkeypatch.setenv("ENGINE_STORE_MAX_BYTES", "lots")
    with pytest.raises(ValueError, match="ENGINE_STORE_MAX_BYTES='lots' is not a size"):
        ResultStore.from_env()
    monkeypatch.delenv("ENGINE_STORE_MAX_BYTES")
    monkeypatch.delenv("ENGINE_STORE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert ResultStore.from_env().location == str(tmp_path / "cache" / "compute-engine" / "store")
    # Another prefix: another application's variables.
    monkeypatch.setenv("MYAPP_STORE", "off")
    assert ResultStore.from_env("MYAPP_") is None


# -- ResultStore: job records ----------------------------------------------------------------


def record_files(store: ResultStore) -> list[Path]:
    return sorted((Path(store.location) / "history").glob("*.json"))


def test_a_later_record_of_the_same_job_replaces_the_earlier(store):
    running = JobRecord(
        key="k", summary="a frame", state="running", submitted_at=5.0, parts_total=16
    )
    store.add_record(running)
    store.add_record(running.replace(state="done", duration=1.5, parts_done=16))
    assert len(record_files(store)) == 1
    (read,) = store.history()
    assert (read.key, read.state, read.duration, read.parts_done) == ("k", "done", 1.5, 16)
    # Another submission of the same job, and another job submitted at the same time, are
    # records of their own.
    store.add_record(running.replace(submitted_at=6.0, state="cached"))
    store.add_record(running.replace(key="other", state="failed", error="boom"))
    assert len(record_files(store)) == 3
    assert sorted((r.key, r.submitted_at, r.state) for r in store.history()) == [
        ("k", 5.0, "done"),
        ("k", 6.0, "cached"),
        ("other", 5.0, "failed"),
    ]


def test_a_record_given_as_a_dict_is_read_as_a_record(store):
    store.add_record({"key": "k", "submitted_at": 1.0, "state": "done", "tiles_total": 4})
    (read,) = store.history()
    assert isinstance(read, JobRecord)
    assert (read.key, read.state, read.parts_total) == ("k", "done", 4)
    with pytest.raises(ValueError, match="not a job record"):
        store.add_record({"summary": "no key"})
    assert len(store.history()) == 1


def test_a_legacy_record_file_reads_back(store):
    legacy = {
        "key": "julia-0123",
        "summary": "julia",
        "config": {"fractal": "julia", "x_range": [-1.5, 1.25]},
        "state": "done",
        "cached": False,
        "submitted_at": 1_700_000_000.0,
        "duration": 0.25,
        "tiles_total": 16,
        "tiles_done": 16,
        "error": None,
    }
    (Path(store.location) / "history" / "legacy.json").write_text(json.dumps(legacy))
    (read,) = store.history()
    assert (read.key, read.kind, read.state) == ("julia-0123", "frame", "done")
    assert (read.parts_total, read.parts_done) == (16, 16)
    assert read.config["x_range"] == [-1.5, 1.25]


def test_a_quiet_unfinished_record_reads_as_interrupted(store):
    store.add_record(JobRecord(key="running", state="running", submitted_at=1.0, detached=True))
    store.add_record(JobRecord(key="queued", state="queued", submitted_at=2.0))
    store.add_record(JobRecord(key="done", state="done", submitted_at=3.0, duration=1.0))
    # Rewritten just now: alive.
    assert [r.state for r in store.history(quiet_after=3600)] == ["running", "queued", "done"]
    # Nothing rewritten since: every unfinished one is taken to be interrupted.
    quiet = store.history(quiet_after=0)
    assert [r.state for r in quiet] == ["interrupted", "interrupted", "done"]
    assert "stopped" in quiet[0].error
    assert quiet[2].error is None
    assert quiet[0].detached is True  # the rest of the record is as written


def test_a_record_last_written_long_ago_is_interrupted_by_default(store):
    store.add_record(JobRecord(key="k", state="running", submitted_at=1.0))
    (path,) = record_files(store)
    written = json.loads(path.read_text())
    path.write_text(json.dumps({**written, "updated_at": time.time() - 3600}))
    (read,) = store.history()
    assert read.state == "interrupted"
    assert store.history(quiet_after=7200)[0].state == "running"


# -- ResultStore: results and other entries ---------------------------------------------------


def blob_file(store: ResultStore, name: str) -> Path:
    return Path(store.location) / "blobs" / name


def test_a_result_round_trips(store):
    value = {"answer": 42, "values": np.arange(5.0), "nested": [("a", None)]}
    assert store.get_result("call-1") is MISSING
    assert store.put_result("call-1", value)
    got = store.get_result("call-1")
    assert got.keys() == value.keys()
    assert (got["answer"], got["nested"]) == (42, [("a", None)])
    np.testing.assert_array_equal(got["values"], value["values"])
    assert store.has_bytes("call-1.result")
    # None is a result like any other, not a missing one.
    assert store.put_result("call-none", None)
    assert store.get_result("call-none") is None
    assert MISSING is not None
    assert not MISSING


def test_an_unpicklable_result_is_not_stored(store, caplog):
    with caplog.at_level("INFO", logger="compute.engine.store"):
        assert store.put_result("call-lock", threading.Lock()) is False
    assert "cannot be pickled" in caplog.text
    assert store.get_result("call-lock") is MISSING
    assert not store.has_bytes("call-lock.result")
    assert store.nbytes == 0


@pytest.mark.parametrize("damage", ["flip-a-byte", "truncate", "garbage", "empty"])
def test_a_corrupted_result_reads_as_missing_and_is_removed(store, damage, caplog):
    assert store.put_result("call-1", list(range(100)))
    path = blob_file(store, "call-1.result")
    data = bytearray(path.read_bytes())
    if damage == "flip-a-byte":
        data[-3] ^= 0xFF  # still a pickle: only the checksum can tell
    elif damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = bytearray(b"\x00not a result" * 20)
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with caplog.at_level("WARNING", logger="compute.engine.store"):
        assert store.get_result("call-1") is MISSING
    assert "corrupted" in caplog.text
    assert not path.exists()
    assert store.put_result("call-1", [1, 2])
    assert store.get_result("call-1") == [1, 2]


def test_bytes_round_trip_and_names_are_checked(store):
    assert store.get_bytes("movie-1.mp4") is None
    assert not store.has_bytes("movie-1.mp4")
    assert store.put_bytes("movie-1.mp4", b"\x00\x01mp4")
    assert store.get_bytes("movie-1.mp4") == b"\x00\x01mp4"
    assert store.has_bytes("movie-1.mp4")
    store.discard_bytes("movie-1.mp4")
    store.discard_bytes("movie-1.mp4")  # twice: no error
    assert not store.has_bytes("movie-1.mp4")
    # Any kind's entries: <key>.<extension>, the extension its codec's own.
    for suffix in (".result", ".part", ".mp4", ".gif", ".webp", ".movie", ".txt", ".frame"):
        assert store.put_bytes(f"k{suffix}", b"x")
    for bad in ("movie-1", "../up.mp4", "a/b.gif", ".mp4", "k.TXT", "k.waytoolong", "k.a.b"):
        with pytest.raises(ValueError, match="Not a valid entry name"):
            store.put_bytes(bad, b"x")
    assert not ResultStore(store.location, max_bytes=10).put_bytes("big.mp4", b"x" * 11)


def test_entries_share_the_budget_with_frames_and_are_evicted_lru_with_them(tmp_path):
    frame = values()
    location = tmp_path / "store"
    probe = ResultStore(location)
    probe.put("probe", frame)
    size = frame_file(probe, "probe").stat().st_size
    probe.discard("probe")
    blob = b"b" * size  # an entry the size of a frame file
    store = ResultStore(location, max_bytes=int(3.5 * size))
    ages = iter(range(1000, 10**6, 1000))

    def aged(path: Path) -> None:
        # Recency is the modification time: set it, rather than trust a coarse clock.
        stamp = next(ages)
        os.utime(path, (stamp, stamp))

    store.put("a", frame)
    aged(frame_file(store, "a"))
    store.put_bytes("b.mp4", blob)
    aged(blob_file(store, "b.mp4"))
    store.put("c", frame)
    aged(frame_file(store, "c"))
    assert store.nbytes == 3 * size  # entries count like frames
    assert store.get("a") is not None  # now the most recent: "b.mp4" is the oldest
    store.put_bytes("d.gif", blob)  # over the budget: the least recently used goes
    assert not store.has_bytes("b.mp4")
    assert store.keys() == ["c", "a"]
    assert store.has_bytes("d.gif")
    assert store.nbytes == 3 * size

    for path in (blob_file(store, "d.gif"), frame_file(store, "c"), frame_file(store, "a")):
        aged(path)  # oldest first: d.gif, c, a
    assert store.get_bytes("d.gif") == blob  # now the most recent: "c" is the oldest
    store.put("e", frame)
    assert store.keys() == ["a", "e"]
    assert store.has_bytes("d.gif")
    assert store.nbytes == 3 * size <= store.max_bytes


def test_a_users_history_holds_their_records_only(tmp_path):
    store = ResultStore(tmp_path)
    store.add_record(JobRecord(key="a1", submitted_at=1.0, owner="alice"), writer="w")
    store.add_record(JobRecord(key="b1", submitted_at=2.0, owner="bob"), writer="w")
    store.add_record(JobRecord(key="anon", submitted_at=3.0), writer="w")
    # The same job asked for by two users: a record in each history.
    store.add_record(JobRecord(key="shared", submitted_at=4.0, owner="alice"), writer="w")
    store.add_record(JobRecord(key="shared", submitted_at=4.0, owner="bob"), writer="w")
    assert [r.key for r in store.history(owner="alice")] == ["a1", "shared"]
    assert [r.key for r in store.history(1, owner="bob")] == ["shared"]
    # Without authentication: everyone's.
    assert [r.key for r in store.history()] == ["a1", "b1", "anon", "shared", "shared"]


def test_a_frame_served_from_memory_elsewhere_is_kept_hot_on_disk(tmp_path):
    frame = np.ones((64, 64))
    one, other = ResultStore(tmp_path, max_bytes=10**9), ResultStore(tmp_path, max_bytes=10**9)
    one.put("hot", frame)
    one.put("cold", frame)
    old = time.time() - 3600
    # The hot frame was written first: by writes alone, it would go first.
    for key, stamp in (("hot", old - 60), ("cold", old)):
        os.utime(one._path(key), (stamp, stamp))
    one.touch("hot")  # served from one's memory cache, not read from disk
    size = next(i["size"] for i in other.files.entries(other._arrays, ""))
    other.max_bytes = size  # room for one frame: the least recently used goes
    other.evict()
    assert other.keys() == ["hot"]
