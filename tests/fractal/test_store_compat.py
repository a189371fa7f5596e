"""A store written by the code before the engine was its own layer reads back in full.

``tests/data/store-82de712`` was written by commit 82de712 (``make_store_82de712.py``
there says how): three frames, a call's and a named graph's results, a zoom movie, and
their six history records. Today's keys must name the same work, and today's engine
must serve every one of them from the store with no task, and list and restore the
history.
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import shutil
from pathlib import Path

import dask
import numpy as np
import pytest

from compute.engine import JobManager, call_key
from compute.engine.calls import with_builtins
from compute.engine.diagnostics import executed_tasks
from compute.fractal import KINDS, FractalConfig, FrameStore, MovieSpec, render

FIXTURE = Path(__file__).resolve().parents[1] / "data" / "store-82de712"
MANIFEST = json.loads((FIXTURE / "manifest.json").read_text())


def sha256(data) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path) -> FrameStore:
    # A copy: reading refreshes recency and asking again adds records.
    shutil.copytree(FIXTURE / MANIFEST["store"], tmp_path / "store")
    return FrameStore(tmp_path / "store")


def test_todays_keys_name_the_same_work():
    for frame in MANIFEST["frames"]:
        assert FractalConfig.from_dict(frame["config"]).key == frame["key"]
    movie = MANIFEST["movie"]
    spec = MovieSpec.from_dict(movie["spec"])
    assert (spec.key, spec.frames_key) == (movie["key"], movie["frames_key"])
    call = MANIFEST["call"]
    assert call["function"] == "math.comb"
    assert call_key(math.comb, *call["args"]) == call["key"]


def test_the_stored_frames_read_back_as_written(store):
    for frame in MANIFEST["frames"]:
        values = store.get(frame["key"], tuple(frame["shape"]))
        assert values is not None, frame["key"]
        assert sha256(np.ascontiguousarray(values).tobytes()) == frame["sha256"]
        # And they are what today's kernel computes (the kernel version is unchanged).
        np.testing.assert_array_equal(values, render(FractalConfig.from_dict(frame["config"])))


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_every_stored_result_is_served_with_no_task(client, registries, store):
    registry = registries(store=store)
    manager = JobManager(registry)
    for frame in MANIFEST["frames"]:
        job = JobManager(registry).submit(FractalConfig.from_dict(frame["config"]))
        values = await job.result()
        assert job.state == "cached", frame["key"]
        assert sha256(np.ascontiguousarray(values).tobytes()) == frame["sha256"]
    call = manager.submit(math.comb, *MANIFEST["call"]["args"])
    assert await call.result() == MANIFEST["call"]["value"]
    assert call.state == "cached"
    leaves = [dask.delayed(operator.add, pure=True)(i, 10) for i in (1, 2)]
    graph = JobManager(registry).submit(leaves, key=MANIFEST["graph"]["key"])
    assert await graph.result() == MANIFEST["graph"]["value"]
    assert graph.state == "cached"
    movie = registry.detach(MovieSpec.from_dict(MANIFEST["movie"]["spec"]))
    files = (await movie.result()).files
    assert movie.state == "cached"
    assert {fmt: sha256(data) for fmt, data in files.items()} == {
        fmt: described["sha256"] for fmt, described in MANIFEST["movie"]["files"].items()
    }
    assert await executed_tasks(client) == []  # nothing ran: all of it came from the store


def test_the_history_lists_every_record_and_restores_frames_and_movies(store):
    kinds = with_builtins(*KINDS)
    records = store.history()
    assert [(r.key, r.kind, r.state, r.owner) for r in records] == [
        (r["key"], r["kind"], r["state"], r["owner"]) for r in MANIFEST["history"]["records"]
    ]
    assert len(records) == MANIFEST["history"]["count"]
    assert [r.key for r in store.history(owner="alice")] == [
        r["key"] for r in MANIFEST["history"]["records"] if r["owner"] == "alice"
    ]
    for record in records:
        if record.kind in ("frame", "movie"):
            assert kinds.restore(record).key == record.key
        else:
            with pytest.raises(ValueError, match="no request to restore"):
                kinds.restore(record)
