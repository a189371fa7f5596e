"""A job cancelled while its tiles are being received must not strand any other job.

Found by a soak run: right after a tab closed (its session's job cancelled mid-flight),
another job stayed "running" forever while the scheduler held none of its tasks. The
cause is in how a Dask client receives results: the gathers asked for at one moment
share one request, and cancelling any of their waiters cancelled it for all (see
``compute.engine.driver.Driver.received``).
"""

from __future__ import annotations

import asyncio

import pytest

from compute.engine import JobManager
from compute.fractal import FractalConfig

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]

#: An estimate that plans the finest grid (16 tiles) for a frame that costs little.
MANY_TILES = 1e12


def frame(n: int) -> FractalConfig:
    """A cheap frame of 16 large tiles: receiving them takes longer than computing them."""
    return FractalConfig(c_real=-0.7 + n * 1e-4, max_iter=50, width=1024, height=1024)


def receiving(registry, job) -> bool:
    """One of ``job``'s finished tiles is on its way, in a gather others may have joined.

    Reads the client's pending batched gather (a private attribute of distributed's
    Client): the moment a cancel used to strand the jobs that shared it.
    """
    driver = registry.driver(job)
    finished = driver is not None and any(f.status == "finished" for f in driver.futures.values())
    return finished and getattr(registry.client, "_gather_future", None) is not None


async def until_receiving(registry, job) -> bool:
    """Wait (a loop turn at a time) until one of ``job``'s tiles is on its way; False if
    the job ended, or its driver stopped, first (a frame served from memory has none)."""
    while True:
        driver = registry.driver(job)
        if job.done or driver is None or not driver.running:
            return False
        if receiving(registry, job):
            return True
        await asyncio.sleep(0)


async def settled(registry, job, what: str) -> str:
    try:
        state = await asyncio.wait_for(job.wait(), 60)
    except TimeoutError:
        driver = registry.driver(job)
        where = "none" if driver is None else f"running={driver.running}, {driver.futures}"
        pytest.fail(f"{what} is stuck: {job.describe()}, driver: {where}")
    assert state in ("done", "cached"), (what, job.describe())
    return state


async def test_a_job_cancelled_while_its_tiles_arrive_strands_no_other_job(registry):
    caught = 0
    for n in range(6):
        leaving, staying = JobManager(registry), JobManager(registry)
        gone = leaving.submit(frame(2 * n), iterations=MANY_TILES)
        kept = staying.submit(frame(2 * n + 1), iterations=MANY_TILES)
        assert gone.parts_total == kept.parts_total == 16
        if not await until_receiving(registry, gone):  # every tile arrived: try again
            continue
        caught += 1
        leaving.cancel()  # the tab closed (check_cluster -> Explorer.close)
        assert gone.state == "cancelled"
        # The other session's job, and the same frame asked for again by someone else
        # (its tiles' keys, just released, submitted again), both complete.
        await settled(registry, kept, "the other job")
        again = JobManager(registry).submit(frame(2 * n), iterations=MANY_TILES)
        assert again is not gone
        await settled(registry, again, "the cancelled frame asked for again")
        assert not registry.jobs
    assert caught >= 3, "the cancel never met a gather in flight"


async def test_rapid_cancel_and_resubmit_of_one_frame_from_two_owners(registry, eventually):
    """A tab flipping between views while another keeps its own, fifty times over: the
    same tile keys released by one job and submitted again by the next at once."""
    first, second, steady = JobManager(registry), JobManager(registry), JobManager(registry)
    background = steady.submit(frame(199), iterations=MANY_TILES)
    for n in range(50):
        owner, other = (first, second) if n % 2 else (second, first)
        # Five requests per key: a finished frame is served from memory after that.
        job = owner.submit(frame(100 + n // 5), iterations=MANY_TILES)
        other.cancel()  # the other tab leaves the frame: the job may be cancelled or kept
        # Let it reach a different point each time: queued, computing, receiving.
        for _ in range(n % 7):
            await asyncio.sleep(0.002)
        if n % 3 == 0:
            await until_receiving(registry, job)
            # Both leave it mid-flight; the next request starts it afresh, same keys.
            owner.cancel()
            assert job.state in ("cancelled", "done", "cached")
        if n % 10 == 9:
            background = steady.submit(frame(200 + n), iterations=MANY_TILES)
    last = first.submit(frame(300), iterations=MANY_TILES)
    await settled(registry, last, "the frame after fifty cancels")
    await settled(registry, background, "the other owner's frame")
    second.cancel()
    await eventually(lambda: not registry.jobs, "no job left in flight")
