"""The frame as a kind of work, on a real LocalCluster of worker processes.

Executed work is counted on the workers (``ExecutionCounter`` watches each worker's state
machine), independently of what the engine reports, to prove de-duplication and
cancellation rather than infer them from futures.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re

import numpy as np
import pytest
from distributed import Client

from compute.engine import JobCancelled, JobFailed, JobManager, JobRecord
from compute.engine.testing import workers_idle
from compute.fractal import COMPUTE_PARAMS, DISPLAY_PARAMS, FractalConfig, FrameCache, render
from compute.fractal.testing import SlippedThrough, executed_tiles, heavy, light, tiles_held
from compute.fractal.tiles import expected_iterations, seconds

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


async def executed(client, job) -> int:
    """Tiles of ``job`` that a worker actually executed."""
    return await executed_tiles(client, job.key)


async def forgotten(client, job) -> bool:
    """The scheduler holds none of the job's tasks."""
    return not await tiles_held(client, job.key)


async def test_result_matches_render_and_streams_every_tile(client, registry):
    config = light(1)
    manager = JobManager(registry)
    job = manager.submit(config)
    states = [job.state]
    job.param.watch(lambda event: states.append(event.new), "state")

    tiles = [tile async for tile in job]
    frame = await job.result()

    np.testing.assert_array_equal(frame, render(config))
    assert states == ["queued", "running", "done"]
    assert job.progress == 1.0
    assert job.duration is not None
    assert job.duration >= 0
    assert len(tiles) == job.parts_total == 1
    assert not frame.flags.writeable


async def test_tiles_stream_before_the_frame_is_done(client, registry):
    config = heavy(1)
    job = JobManager(registry).submit(config)
    positions, done_at_first_tile = [], None
    async for result in job:
        if done_at_first_tile is None:
            done_at_first_tile = job.done
        positions.append((result.tile.row, result.tile.col))
        np.testing.assert_array_equal(result.values, job.frame[result.tile.slices])
    assert done_at_first_tile is False
    assert sorted(positions) == [(r, c) for r in range(4) for c in range(4)]
    assert job.state == "done"


async def test_running_is_reported_by_the_worker(client, registry, eventually):
    manager = JobManager(registry)
    job = manager.submit(heavy(2))
    assert job.state == "queued"
    assert job.parts_started == 0
    await eventually(lambda: job.state == "running", "a worker to report a started tile")
    # A heavy tile takes far longer than the report takes to arrive: running came from
    # the worker's start report, not from a finished tile.
    assert job.parts_done == 0
    assert job.parts_started >= 1
    assert job.started_at is not None
    manager.cancel()


async def test_same_config_returns_the_same_job(client, registry):
    manager = JobManager(registry)
    first = manager.submit(light(2))
    second = manager.submit(light(2))
    assert first is second
    await first.result()
    assert await executed(client, first) == first.parts_total


async def test_two_managers_share_one_job_in_flight(client, registry):
    config = heavy(3)
    one, two = JobManager(registry), JobManager(registry)
    job = one.submit(config)
    assert two.submit(config.copy(colormap="kbc", normalization="linear")) is job
    await job.result()
    assert await executed(client, job) == job.parts_total


async def test_a_finished_frame_is_served_from_the_cache_without_tasks(
    client, registry, eventually
):
    config = light(3)
    job = JobManager(registry).submit(config)
    frame = await job.result()
    await eventually(lambda: forgotten(client, job), "the scheduler to forget")

    again = JobManager(registry).submit(config)
    assert again.state == "cached"
    assert again.progress == 1.0
    np.testing.assert_array_equal(await again.result(), frame)
    assert [t.tile async for t in again] == [t.tile async for t in job]
    assert await executed(client, job) == job.parts_total
    assert await forgotten(client, job)


async def test_a_new_config_cancels_the_previous_jobs_queued_tiles(client, registry, eventually):
    manager = JobManager(registry)
    old = manager.submit(heavy(4))
    await eventually(lambda: old.state == "running", "the heavy frame to start")
    new = manager.submit(light(4))

    assert old.state == "cancelled"
    await new.result()
    await eventually(lambda: workers_idle(client), "the workers to finish running tiles")
    ran = await executed(client, old)
    # Two workers run one tile each and hold at most one more each in their queue; the
    # rest of the 16 tiles were dropped before they started.
    assert 1 <= ran <= 4
    assert old.parts_done == 0
    assert await forgotten(client, old)
    with pytest.raises(JobCancelled):
        await old.result()


async def test_a_job_another_manager_wants_is_not_cancelled(client, registry):
    config = heavy(5)
    one, two = JobManager(registry), JobManager(registry)
    job = one.submit(config)
    two.submit(config)
    one.submit(light(5))
    assert job.state in ("queued", "running")
    frame = await job.result()
    assert job.state == "done"
    assert await executed(client, job) == job.parts_total
    assert frame.shape == (config.height, config.width)


async def test_cancel_leaves_nothing_on_the_scheduler(client, registry, eventually):
    manager = JobManager(registry)
    job = manager.submit(heavy(6))
    assert manager.cancel() is True
    assert manager.cancel() is False
    assert job.state == "cancelled"
    with pytest.raises(JobCancelled):
        [t async for t in job]
    await eventually(lambda: forgotten(client, job), "the scheduler to forget the job")
    await eventually(lambda: workers_idle(client), "the workers to go idle")
    assert await executed(client, job) <= 4


async def test_a_frame_asked_for_again_right_after_its_cancel_completes(
    client, registry, eventually
):
    # A tab that flips back to the view it just left: the frame's first job is cancelled
    # while its tiles run, and a new job for the same frame starts at once, under new Dask
    # keys. (In the browser tests, with one single-threaded worker, reusing the keys left a
    # job waiting forever on keys the scheduler had forgotten; two workers here did not
    # reproduce that, so this guards the behaviour, not the race itself.)
    manager = JobManager(registry)
    config = heavy(9)
    first = manager.submit(config)
    await eventually(lambda: first.state == "running", "the frame to start")
    manager.submit(light(9))
    assert first.state == "cancelled"
    again = manager.submit(config)
    assert again is not first
    assert again.key == first.key
    frame = await again.result()
    assert again.state == "done"
    np.testing.assert_array_equal(frame, render(config))
    await eventually(lambda: forgotten(client, again), "the scheduler to forget the frame")


async def test_a_finished_job_leaves_nothing_on_the_scheduler(client, registry, eventually):
    job = JobManager(registry).submit(light(6))
    driver = registry.driver(job)
    await job.result()
    assert driver.futures == {}
    assert registry.driver(job) is None
    await eventually(lambda: forgotten(client, job), "the scheduler to forget")


async def test_a_failing_tile_fails_the_job_and_the_manager_goes_on(client, registry):
    manager = JobManager(registry)
    bad = SlippedThrough(max_iter=100, width=256, height=256)
    job = manager.submit(bad)
    with pytest.raises(JobFailed, match="max_iter must be at least 1"):
        await job.result()
    assert job.state == "failed"
    assert job.error.startswith("ValueError: max_iter must be at least 1")
    with pytest.raises(JobFailed):
        [t async for t in job]

    good = manager.submit(light(8))
    np.testing.assert_array_equal(await good.result(), render(light(8)))


async def test_a_failed_job_is_retried_not_cached(client, registry):
    manager = JobManager(registry)
    bad = SlippedThrough(max_iter=101, width=256, height=256)
    first = manager.submit(bad)
    await first.wait()
    assert manager.submit(bad) is not first


async def test_the_frame_cache_is_bounded_in_bytes(registries):
    frame_bytes = 256 * 256 * 8
    registry = registries(cache=FrameCache(max_bytes=int(1.5 * frame_bytes)))
    manager = JobManager(registry)
    await manager.submit(light(10)).result()
    await manager.submit(light(11)).result()
    assert registry.cache.nbytes <= 1.5 * frame_bytes
    assert manager.submit(light(11)).state == "done"  # still the current job
    assert JobManager(registry).submit(light(11)).state == "cached"
    assert JobManager(registry).submit(light(10)).state == "queued"


async def test_invalid_config_is_refused_before_any_task(client, registry):
    manager = JobManager(registry)
    config = light(12)
    config.param.update(width=4096, height=4096, max_iter=20_000)  # each in bounds alone
    with pytest.raises(ValueError, match="budget"):
        manager.submit(config)
    assert manager.job is None


async def test_a_manager_is_made_on_a_registry_not_a_client(client):
    with pytest.raises(TypeError, match="A JobManager is made on a JobRegistry, not a Client"):
        JobManager(client)


# --- describe() and record(): what a status line and a history show ---------------------

RECORD_FIELDS = {
    "key",
    "kind",
    "summary",
    "config",
    "state",
    "submitted_at",
    "duration",
    "parts_total",
    "parts_done",
    "error",
    "detached",
    "owner",
    "updated_at",
}


async def test_describe_a_queued_running_and_cancelled_job(client, registry, eventually):
    manager = JobManager(registry)
    job = manager.submit(heavy(20))
    assert job.describe() == "queued: 16 tiles waiting for a worker"
    await eventually(lambda: job.state == "running", "a worker to start a tile")
    done, started, text = job.parts_done, job.parts_started, job.describe()
    assert started >= 1
    assert text == f"running: {done} of 16 tiles done, {started - done} more started"
    manager.cancel()
    assert job.describe() == f"cancelled after {job.parts_done} of 16 tiles"


async def test_describe_a_done_cached_and_failed_job(client, registry):
    config = light(20)
    job = JobManager(registry).submit(config)
    await job.result()
    match = re.fullmatch(r"done in (\d+) ms \(1 tile\)", job.describe())
    assert match is not None, job.describe()
    assert abs(int(match[1]) - job.duration * 1000) <= 0.5

    cached = JobManager(registry).submit(config)
    assert cached.describe() == "from cache: no task ran"

    failed = JobManager(registry).submit(SlippedThrough(max_iter=120, width=256, height=256))
    await failed.wait()
    assert failed.describe().startswith("failed: ValueError: max_iter must be at least 1")


async def test_record_of_a_done_job_is_json_and_rebuilds_the_config(client, registry):
    config = light(21).copy(colormap="kbc", normalization="log", x_range=(-1.5, 1.25))
    job = JobManager(registry).submit(config)
    await job.result()
    record = job.record()
    assert isinstance(record, JobRecord)
    assert {f.name for f in dataclasses.fields(record)} == RECORD_FIELDS
    values = record.to_dict()
    assert set(values) == RECORD_FIELDS
    assert json.loads(json.dumps(values)) == values
    assert JobRecord.from_dict(json.loads(json.dumps(values))) == record
    assert record.key == config.key
    assert record.kind == "frame"
    assert record.summary == config.summary()
    assert record.state == "done"
    assert record.ended is True
    assert record.cached is False
    assert record.detached is False
    assert record.submitted_at == job.submitted_at
    assert record.duration == job.duration
    assert record.duration >= 0
    assert (record.parts_total, record.parts_done) == (1, 1)
    assert record.error is None
    assert set(record.config) == set(COMPUTE_PARAMS + DISPLAY_PARAMS)
    # The view as strings, exact at any depth: the old x_range's middle and width (its
    # y range kept the middle of the copied view's).
    assert {k: values["config"][k] for k in ("center_real", "center_imag", "span")} == {
        "center_real": "-0.125",
        "center_imag": "0",
        "span": "2.75",
    }
    assert record.config["colormap"] == "kbc"
    again = registry.kinds.restore(record).config
    assert isinstance(again, FractalConfig)
    assert again.key == config.key
    assert again.x_range == (-1.5, 1.25)
    assert (again.colormap, again.normalization) == ("kbc", "log")
    # What a consumer that let the job go saw; the rest is the job's own.
    cancelled = job.record("cancelled")
    assert cancelled.replace(updated_at=record.updated_at) == record.replace(state="cancelled")


async def test_record_of_a_cached_failed_and_cancelled_job(client, registry):
    config = light(22)
    await JobManager(registry).submit(config).result()
    cached = JobManager(registry).submit(config).record()
    assert JobRecord.from_dict(json.loads(json.dumps(cached.to_dict()))) == cached
    assert cached.state == "cached"
    assert cached.cached is True
    assert cached.ended is True
    assert cached.parts_done == cached.parts_total == 1

    failed = JobManager(registry).submit(SlippedThrough(max_iter=121, width=256, height=256))
    await failed.wait()
    record = failed.record()
    assert JobRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert (record.state, record.cached) == ("failed", False)
    assert record.error.startswith("ValueError: max_iter must be at least 1")

    manager = JobManager(registry)
    job = manager.submit(heavy(22))
    manager.cancel()
    record = job.record()
    assert JobRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert (record.state, record.cached, record.parts_done) == ("cancelled", False, 0)
    assert record.duration is not None


# --- tiling by expected cost, in-process jobs, batches, fair order ------------------------


async def test_the_tiling_follows_the_frames_expected_cost(client, registry):
    cheap = FractalConfig(max_iter=50, width=1024, height=1024)
    costly = heavy(23)
    manager = JobManager(registry)
    few = manager.submit(cheap, iterations=expected_iterations(cheap, render(cheap.preview())))
    assert few.parts_total <= 2  # about 0.1 s of one core: per-task overhead dominates
    np.testing.assert_array_equal(await few.result(), render(cheap))
    many = manager.submit(costly, iterations=expected_iterations(costly, render(costly.preview())))
    assert many.parts_total == 16  # seconds of work: fine tiles, that stream and cancel well
    assert many.grid == (4, 4)
    manager.cancel()


async def test_a_local_job_runs_in_this_process_and_equals_render(client, registry):
    config = light(24).preview()
    job = JobManager(registry).submit(config, local=True)
    frame = await job.result()
    assert job.state == "done"
    np.testing.assert_array_equal(frame, render(config))
    assert await executed(client, job) == 0  # no Dask task at all
    # Kept in memory for the next consumer; never persisted (cheap to make again).
    assert JobManager(registry).submit(config).state == "cached"


async def test_batches_hold_every_tile_that_arrived_since_the_last(client, registry):
    config = light(25).copy(width=1024, height=1024)
    job = JobManager(registry).submit(config)
    await job.wait()
    batches = [batch async for batch in job.batches()]
    assert len(batches) == 1  # all had arrived: one batch, one drawing
    assert batches[0] == job.finished_tiles
    assert len(batches[0]) == job.parts_total


async def test_tags_put_previews_first_and_space_tiles_by_cost(registry):
    manager = JobManager(registry)
    job = manager.submit(heavy(26))
    tags = [start for start, _ in registry.driver(job).spans]
    assert len(tags) == 16
    assert tags == sorted(tags)
    assert len(set(tags)) == 16
    # Without an estimate each tile is assumed to cost its worst case: max_iter per pixel.
    assert tags[1] - tags[0] == pytest.approx(seconds(256 * 256 * 4000, 256 * 256))
    preview = manager.submit(heavy(26).preview(), preview=True)
    # However many tiles its worst case makes it, every one of them is in the lead.
    leads = [start for start, _ in registry.driver(preview).spans]
    assert len(leads) == len(preview.tiles)
    assert max(leads) < tags[0] - 60  # ahead of any tile submitted in the last hour
    manager.cancel()


async def test_two_processes_asking_for_one_frame_compute_it_once(
    client, registry, registries, local_cluster
):
    # The defect: tile keys held a per-process attempt counter, so a process that had
    # served one earlier view named the next frame's tiles differently from one that had
    # not, and both computed it. Two clients are two processes' engines here.
    async with Client(
        local_cluster.scheduler_address, asynchronous=True, set_as_default=False
    ) as other:
        mine, theirs = JobManager(registry), JobManager(registries(on=other))
        await mine.submit(light(101)).result()  # only this side has served an earlier view
        config = light(102)
        a, b = mine.submit(config), theirs.submit(config)
        await asyncio.gather(a.result(), b.result())
        assert a is not b
        assert a.key == b.key
        ran = await executed_tiles(client, config.key)
        assert ran == a.parts_total == b.parts_total
