"""The persistent store under faults: a missing backend, killed writers, another process's
eviction, a location that is full, read-only or gone, and files that parse but must not
be trusted (history records of the wrong types, arrays of another dtype or shape).

Real filesystems throughout: a full disk is a tiny tmpfs, a read-only store is a tmpfs
remounted read-only (as root; chmod stops no root), a vanished one is a directory
replaced by a file.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import subprocess

import numpy as np
import pytest

from compute.engine import ArrayCodec, Engine, JobRecord, StoreUnavailable
from compute.engine import ResultStore as FrameStore
from compute.engine.files import NOT_SAVING
from compute.engine.files import TMP as _TMP
from compute.engine.store import MISSING, _encode

ROOT = os.geteuid() == 0


def frame(value: float = 1.0, edge: int = 64) -> np.ndarray:
    return np.full((edge, edge), value)


def said(caplog) -> list[str]:
    """What the store logged about not saving, at warning level or above."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and NOT_SAVING in r.getMessage()
    ]


@contextlib.contextmanager
def tmpfs(path, size: str):
    """A tmpfs of ``size`` at ``path``, unmounted afterwards."""
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def remount(path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


@contextlib.contextmanager
def read_only(tmp_path):
    """A store directory that cannot be written: made read-only after the store opened."""
    if ROOT:
        with tmpfs(tmp_path / "ro", "1m") as path:
            yield path, lambda: remount(path, "ro"), lambda: remount(path, "rw")
    else:
        path = tmp_path / "ro"
        path.mkdir()
        folders = lambda: [path, *path.iterdir()]  # noqa: E731
        try:
            yield (
                path,
                lambda: [p.chmod(0o555) for p in folders()],
                lambda: [p.chmod(0o755) for p in folders()],
            )
        finally:
            for p in folders():
                p.chmod(0o755)


# -- 1. a backend that is not installed ------------------------------------------------------
def test_an_fsspec_url_whose_backend_is_missing_is_a_clear_error(monkeypatch, caplog):
    assert importlib.util.find_spec("s3fs") is None, "this test needs s3fs absent"
    with pytest.raises(StoreUnavailable, match=r"'s3://bucket/x' cannot be opened: .*s3fs"):
        FrameStore("s3://bucket/x")
    with pytest.raises(StoreUnavailable, match="Protocol not known: nosuch"):
        FrameStore("nosuch://x")
    # An engine made from the environment runs without persistence then, and says why.
    monkeypatch.setenv("ENGINE_STORE", "s3://bucket/x")
    with caplog.at_level(logging.ERROR, logger="compute.engine.engine"):
        assert Engine.from_env().store is None
    assert "s3fs" in caplog.text


# -- 2. a killed writer's temporaries --------------------------------------------------------
def test_opening_a_store_removes_abandoned_temporaries_and_nothing_counts_them(tmp_path):
    FrameStore(tmp_path).put("kept", frame())
    old = tmp_path / "frames" / f"gone.frame{_TMP}abc"
    young = tmp_path / "frames" / f"writing.frame{_TMP}def"
    record = tmp_path / "history" / f"00000000000000000001-abc.json{_TMP}ghi"
    for leftover in (old, young, record):
        leftover.write_bytes(b"x" * 10_000)
    long_ago = os.stat(old).st_mtime - 3600
    os.utime(old, (long_ago, long_ago))
    os.utime(record, (long_ago, long_ago))

    store = FrameStore(tmp_path, abandoned_after=600)
    assert not old.exists()
    assert not record.exists()
    # A live writer's file is left alone, and no read counts it.
    assert young.exists()
    assert store.keys() == ["kept"]
    assert store.history() == []
    assert store.nbytes == (tmp_path / "frames" / "kept.frame").stat().st_size


# -- 3. recency of a frame served from a process's memory ------------------------------------
def test_touch_keeps_a_frame_another_process_would_evict(tmp_path):
    size = len(_encode(frame()))
    mine = FrameStore(tmp_path / "shared", max_bytes=2 * size)
    theirs = FrameStore(tmp_path / "shared", max_bytes=2 * size)
    mine.put("hot", frame(1.0))
    theirs.put("cold", frame(2.0))
    # "hot" was written first, and since then served from `mine`'s memory only.
    folder = tmp_path / "shared" / "frames"
    then = os.stat(folder / "cold.frame").st_mtime
    os.utime(folder / "hot.frame", (then - 20, then - 20))
    os.utime(folder / "cold.frame", (then - 10, then - 10))

    assert mine.touch("hot") is True
    assert theirs.put("new", frame(3.0))
    assert sorted(theirs.keys()) == ["hot", "new"]
    assert mine.touch("cold") is False  # (evicted: nothing to touch, nothing created)
    assert not (folder / "cold.frame").exists()


def test_touch_refreshes_named_entries(tmp_path):
    store = FrameStore(tmp_path)
    store.put_result("result-1", {"a": 1})
    store.put_bytes("movie-1.mp4", b"mp4")
    store.put_bytes("movie-1.gif", b"gif")
    blobs = tmp_path / "blobs"
    for path in blobs.iterdir():
        os.utime(path, (1000, 1000))
    assert store.touch("result-1.result")
    assert store.touch("movie-1.mp4")
    assert store.touch("movie-1.gif")
    assert all(path.stat().st_mtime > 1000 for path in blobs.iterdir())
    assert store.touch("movie-1.webp") is False
    assert store.touch("absent") is False
    with pytest.raises(ValueError, match="Not a valid entry name"):
        store.touch("../escape")
    with pytest.raises(ValueError, match="Not a valid key"):
        store.touch("up/escape")


# -- 4. full, read-only, gone -----------------------------------------------------------------
@pytest.mark.skipif(not ROOT, reason="a full disk needs a tiny tmpfs, which only root mounts")
def test_a_full_disk_skips_writes_says_so_once_and_recovers(tmp_path, caplog):
    with tmpfs(tmp_path / "full", "64k") as path:
        store = FrameStore(path)
        assert store.problem == ""
        with caplog.at_level(logging.DEBUG, logger="compute.engine.files"):
            for n in range(3):
                assert store.put(f"big{n}", frame(n, edge=256)) is False  # 512 KiB each
            store.add_record(JobRecord(key="k", kind="frame", summary="s", state="done"))
            assert store.put_bytes("movie-1.mp4", b"x" * 200_000) is False
        assert store.problem.startswith(f"{NOT_SAVING}: No space left on device")
        assert said(caplog) == [f"{store.problem} The app carries on without them."]
        assert store.keys() == []
        assert not [p for p in path.rglob("*") if _TMP in p.name]  # no temporary left
        # Something that fits is written again, and the problem is over.
        assert store.put("small", frame(edge=8)) is True
        assert store.problem == ""
        assert store.get("small", (8, 8)) is not None


def test_a_read_only_store_skips_writes_and_says_so_once(tmp_path, caplog):
    with read_only(tmp_path) as (path, lock, unlock):
        store = FrameStore(path)
        store.put("before", frame())
        lock()
        with caplog.at_level(logging.DEBUG, logger="compute.engine.files"):
            assert store.put("a", frame()) is False
            assert store.put("b", frame()) is False
            assert store.put_result("result-1", 42) is False
            store.add_record(JobRecord(key="k", kind="frame", summary="s", state="done"))
        assert "Read-only file system" in store.problem or "Permission denied" in store.problem
        assert len(said(caplog)) == 1
        # What it held still reads.
        assert store.get("before", (64, 64)) is not None
        unlock()
        assert store.put("a", frame()) is True
        assert store.problem == ""


def test_a_store_replaced_by_a_file_skips_writes_and_one_removed_is_made_again(tmp_path, caplog):
    where = tmp_path / "store"
    store = FrameStore(where)
    shutil.rmtree(where)
    # A cleaned cache directory: made again by the next write.
    assert store.put("a", frame()) is True
    assert store.problem == ""
    shutil.rmtree(where)
    where.write_text("not a directory")
    with caplog.at_level(logging.DEBUG, logger="compute.engine.files"):
        assert store.put("b", frame()) is False
        assert store.put_bytes("movie-1.mp4", b"x") is False
        assert store.get("a") is None
        assert store.keys() == []
        assert store.history() == []
    assert store.problem.startswith(f"{NOT_SAVING}: Not a directory")
    assert len(said(caplog)) == 1


def test_a_problem_that_comes_and_goes_with_each_write_is_said_once(tmp_path, caplog):
    """Frames fail while small records still fit (a nearly full disk, a broken folder)."""
    store = FrameStore(tmp_path)
    (tmp_path / "frames").rmdir()
    (tmp_path / "frames").write_text("in the way")
    with caplog.at_level(logging.DEBUG, logger="compute.engine.files"):
        for n in range(3):
            assert store.put(f"f{n}", frame()) is False
            assert store.problem.startswith(NOT_SAVING)
            store.add_record(JobRecord(key=f"f{n}", submitted_at=1.0 + n))
            assert store.problem == ""
    assert len(said(caplog)) == 1
    written_again = [r for r in caplog.records if "written again" in r.getMessage()]
    assert [r.levelno for r in written_again] == [logging.INFO] + [logging.DEBUG] * 2
    assert len(store.history()) == 3


# -- 5. what a reader must not trust: records and arrays that parse ---------------------------
GOOD = JobRecord(key="good", kind="frame", summary="s", state="done", duration=0.5)

#: History files that parse (or nearly) but are no record, as a damaged disk, a foreign
#: writer or an attacker with write access leaves them. Every field of a record is here.
BAD_RECORDS = {
    "duration-a-string": '{"key": "k", "duration": "abc"}',
    "duration-nan": '{"key": "k", "duration": NaN}',
    "duration-huge": '{"key": "k", "duration": 1e20}',
    "duration-infinite": '{"key": "k", "duration": 1e400}',
    "submitted-far-future": '{"key": "k", "submitted_at": 1e20}',
    "submitted-negative": '{"key": "k", "submitted_at": -5}',
    "submitted-bool": '{"key": "k", "submitted_at": true}',
    "updated-infinity": '{"key": "k", "updated_at": Infinity}',
    "updated-a-string": '{"key": "k", "updated_at": "now"}',
    "parts-total-a-string": '{"key": "k", "parts_total": "16"}',
    "parts-total-a-float": '{"key": "k", "parts_total": 16.5}',
    "parts-done-negative": '{"key": "k", "parts_done": -1}',
    "parts-done-huge": '{"key": "k", "parts_done": 10000000000000000000000}',
    "tiles-done-legacy": '{"key": "k", "tiles_done": "all"}',
    "summary-a-number": '{"key": "k", "summary": 7}',
    "error-a-list": '{"key": "k", "error": ["x"]}',
    "owner-a-number": '{"key": "k", "owner": 5}',
    "detached-a-string": '{"key": "k", "detached": "yes"}',
    "state-a-list": '{"key": "k", "state": ["done"]}',
    "config-a-list": '{"key": "k", "config": [1]}',
    "key-a-number": '{"key": 5}',
    "deep": "[" * 100_000 + "]" * 100_000,
    "deep-in-config": '{"key": "k", "config": ' + '{"a": ' * 100_000 + "1" + "}" * 100_001,
    "not-utf8": b'{"key": "\xff"}',
    "truncated": '{"key": "k", "dur',
}


def test_unreadable_history_records_are_skipped_said_once_and_the_rest_shown(tmp_path, caplog):
    store = FrameStore(tmp_path)
    store.add_record(GOOD.replace(submitted_at=1_700_000_000.0))
    folder = tmp_path / "history"
    for n, (name, text) in enumerate(BAD_RECORDS.items()):
        data = text if isinstance(text, bytes) else text.encode()
        (folder / f"{1_700_000_001_000_000 + n:020d}-{name}.json").write_bytes(data)
    store.add_record(GOOD.replace(key="good-too", submitted_at=1_800_000_000.0))

    with caplog.at_level(logging.DEBUG, logger="compute.engine.store"):
        assert [r.key for r in store.history()] == ["good", "good-too"]
        warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warned) == len(BAD_RECORDS)
        for name in BAD_RECORDS:
            assert sum(f"-{name}.json" in m for m in warned) == 1, name
        caplog.clear()
        # Every page load lists the history: the same files are not said again.
        assert [r.key for r in store.history()] == ["good", "good-too"]
        assert [r.key for r in store.history(limit=3)] == ["good-too"]
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_an_array_of_another_dtype_or_shape_with_a_valid_checksum_is_damaged(tmp_path, caplog):
    store = FrameStore(tmp_path)
    codec = ArrayCodec((64, 64), np.float64)
    right = frame(2.5)
    wrong = {
        "dtype": right.astype(np.float32),
        "ints": right.astype(np.int64),  # same size in bytes, other values
        "byte-order": right.astype(">f8"),
        "shape": np.full((32, 128), 2.5),
        "flat": right.ravel(),
    }
    with caplog.at_level(logging.WARNING, logger="compute.engine.store"):
        for name, array in wrong.items():
            (tmp_path / "frames" / f"{name}.frame").write_bytes(_encode(array))
            assert codec.load(store, name) is MISSING, name
            assert name not in store, name  # removed: its job is computed again
    assert caplog.text.count("corrupted") == len(wrong)
    store.put("right", right)
    np.testing.assert_array_equal(codec.load(store, "right"), right)
    # Without an expected dtype, an array of any reads (a kind that says nothing).
    store.put("any", wrong["dtype"])
    assert ArrayCodec().load(store, "any").dtype == np.float32
