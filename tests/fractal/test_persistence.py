"""Jobs with a FrameStore: frames and history outlive the client, the registry and the process.

A "restart" here is a new client with a new registry on the same store location, as a
restarted server gets; the restart of a real ``panel serve`` is in tests/ui.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from distributed import Client

from compute.engine import JobManager
from compute.engine.diagnostics import ExecutionCounter, executed_tasks
from compute.engine.store import _encode
from compute.fractal import FractalConfig, FrameStore, FrameWork, render
from compute.fractal.testing import heavy

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


def config(n: int = 0) -> FractalConfig:
    return FractalConfig(c_real=-0.7 + n * 1e-3, max_iter=120, width=300, height=200)


async def tasks_run(client) -> int:
    """Tasks of any kind the workers executed (since the counter was registered)."""
    return len(await executed_tasks(client))


async def restarted(client):
    """A second client on the same cluster, with fresh counts: a restarted server's."""
    fresh = await Client(client.scheduler.address, asynchronous=True, set_as_default=False)
    await fresh.register_plugin(ExecutionCounter())
    return fresh


async def test_a_restart_serves_a_computed_frame_from_the_store_with_no_task(
    registries, client, tmp_path
):
    location = tmp_path / "store"
    registry = registries(store=FrameStore(location))
    first = JobManager(registry).submit(config(1))
    frame = await first.result()
    assert first.state == "done"
    await registry.flush()

    async with await restarted(client) as fresh:
        again = JobManager(registries(store=FrameStore(location), on=fresh))
        job = again.submit(config(1))
        tiles = [tile async for tile in job]
        assert job.state == "cached"
        assert job.describe() == "from cache: no task ran"
        np.testing.assert_array_equal(await job.result(), frame)
        np.testing.assert_array_equal(frame, render(config(1)))
        assert len(tiles) == job.parts_total
        assert await tasks_run(fresh) == 0
        # Now in that registry's memory too: the next request does not even read the disk.
        assert JobManager(again.registry).submit(config(1)).state == "cached"


async def test_a_corrupted_entry_is_recomputed_and_rewritten(registries, client, tmp_path, caplog):
    location = tmp_path / "store"
    registry = registries(store=FrameStore(location))
    frame = await JobManager(registry).submit(config(2)).result()
    await registry.flush()
    path = location / "frames" / f"{config(2).key}.frame"
    path.write_bytes(path.read_bytes()[:100])

    async with await restarted(client) as fresh:
        registry = registries(store=FrameStore(location), on=fresh)
        with caplog.at_level("WARNING", logger="compute.engine.store"):
            job = JobManager(registry).submit(config(2))
            np.testing.assert_array_equal(await job.result(), frame)
        assert job.state == "done"
        assert "corrupted" in caplog.text
        assert await tasks_run(fresh) == job.parts_total
        await registry.flush()
    np.testing.assert_array_equal(FrameStore(location).get(config(2).key), frame)


@pytest.mark.parametrize(
    ("n", "damage"),
    [
        (8, lambda frame: frame.astype(np.float32)),
        (9, lambda frame: frame[:-1]),
    ],
    ids=["dtype", "shape"],
)
async def test_a_frame_of_another_dtype_or_shape_with_a_valid_checksum_is_recomputed(
    registries, client, tmp_path, caplog, n, damage
):
    # Whole arrays written under a frame's key, checksummed: only the frame's expected
    # dtype and shape tell them from the frame.
    location = tmp_path / "store"
    registry = registries(store=FrameStore(location))
    frame = await JobManager(registry).submit(config(n)).result()
    await registry.flush()
    (location / "frames" / f"{config(n).key}.frame").write_bytes(_encode(damage(frame)))

    async with await restarted(client) as fresh:
        registry = registries(store=FrameStore(location), on=fresh)
        with caplog.at_level("WARNING", logger="compute.engine.store"):
            job = JobManager(registry).submit(config(n))
            result = await job.result()
        assert job.state == "done"  # not "cached": it was computed again
        assert result.dtype == np.float64
        np.testing.assert_array_equal(result, frame)
        assert "corrupted" in caplog.text
        assert await tasks_run(fresh) == job.parts_total
        await registry.flush()
    stored = FrameStore(location).get(config(n).key, frame.shape, np.float64)
    np.testing.assert_array_equal(stored, frame)


async def test_the_history_records_done_superseded_and_cached_jobs(registries, tmp_path):
    store = FrameStore(tmp_path / "store")
    registry = registries(store=store)
    manager = JobManager(registry)
    previews = JobManager(registry, history=False)
    superseded = manager.submit(heavy(5))
    previews.submit(config(3).preview(64))
    done = manager.submit(config(3))
    await done.result()
    await previews.job.result()
    cached = JobManager(registry).submit(config(3))
    await registry.flush()

    history = store.history()
    assert [(r.key, r.state) for r in history] == [
        (superseded.key, "cancelled"),
        (done.key, "done"),
        (cached.key, "cached"),
    ]
    assert history[1].parts_done == history[1].parts_total == done.parts_total
    assert history[1].duration > 0
    restored = registry.kinds.restore(history[1])
    assert isinstance(restored, FrameWork)
    assert restored.key == restored.config.key == done.key


async def test_a_failing_store_costs_no_frame(registries, tmp_path, caplog):
    location = tmp_path / "store"
    store = FrameStore(location)
    registry = registries(store=store)
    # The frames folder replaced by a file: every read and write of a frame fails (as
    # with a full disk or a lost mount; root ignores permissions, so chmod cannot).
    (location / "frames").rmdir()
    (location / "frames").write_text("in the way")
    with caplog.at_level("WARNING"):
        job = JobManager(registry).submit(config(4))
        frame = await job.result()
        await registry.flush()
    assert job.state == "done"
    np.testing.assert_array_equal(frame, render(config(4)))
    assert caplog.text.count(FrameStore.NOT_SAVING) == 1  # said once, for the read and the write


async def test_a_frame_served_from_memory_refreshes_its_recency_on_disk(registries, tmp_path):
    # Another process evicts by the files' times: a frame this one serves from memory,
    # never reading the file, must not look cold there.
    store = FrameStore(tmp_path / "store")
    registry = registries(store=store)
    manager = JobManager(registry)
    await manager.submit(config(7)).result()
    await registry.flush()
    path = store._path(config(7).key)
    old = os.stat(path).st_mtime - 3600
    os.utime(path, (old, old))
    # Another tab asks for it: from this process's memory, not from the store.
    assert JobManager(registry).submit(config(7)).state == "cached"
    await registry.flush()
    assert os.stat(path).st_mtime > old + 1800
