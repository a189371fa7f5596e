"""The engine's own kinds of work: function calls and delayed graphs, held, shared,
superseded, detached, stored; on a fresh in-process cluster per test (and, for keys, a
second Python process). Executions are counted on the workers (ExecutionCounter).
"""

from __future__ import annotations

import asyncio
import gc
import operator
import subprocess
import sys
import threading
import time

import dask
import numpy as np
import pytest
from distributed import Client

from compute.engine import (
    JobCancelled,
    JobFailed,
    JobManager,
    ResultStore,
    call_key,
)
from compute.engine.diagnostics import executed_tasks
from compute.engine.store import MISSING

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


def slow(x, delay: float = 0.3):
    """A pure function that takes a while (module level: importable on the workers)."""
    time.sleep(delay)
    return x * 2


def fail(x):
    raise RuntimeError(f"no good: {x}")


async def runs(client, prefix: str) -> int:
    """Tasks whose key starts with ``prefix`` that a worker executed."""
    return sum(
        key.startswith(prefix) or prefix in key for key, _ in await executed_tasks(client, "")
    )


async def test_a_call_runs_once_reports_running_and_is_then_cached(client, registry, eventually):
    one, two = JobManager(registry), JobManager(registry)
    job = one.submit(slow, 21, delay=1.0)
    assert job.kind == "call"
    assert job.key == call_key(slow, 21, delay=1.0)
    assert two.submit(slow, 21, delay=1.0) is job
    # Running is the worker's own report (StartReporter), while the call still sleeps.
    await eventually(lambda: job.state == "running", "the worker to report the start")
    assert job.parts_done == 0
    assert await job.result() == 42
    assert [(p.index, p.value) for p in job.parts] == [(0, 42)]
    again = JobManager(registry).submit(slow, 21, delay=1.0)
    assert again.state == "cached"
    assert await again.result() == 42
    assert await runs(client, job.key) == 1


async def test_a_failing_call_fails_with_the_workers_message(registry):
    job = JobManager(registry).submit(fail, 7)
    with pytest.raises(JobFailed, match="no good: 7"):
        await job.result()
    assert job.state == "failed"
    assert "RuntimeError: no good: 7" in job.error


async def test_a_new_request_supersedes_a_call_and_cancels_it(client, registry, eventually):
    manager = JobManager(registry)
    # Four calls to keep both workers busy, so the last one still waits when superseded.
    busy = [JobManager(registry).submit(slow, n, delay=1.5) for n in range(2)]
    await eventually(lambda: all(b.state == "running" for b in busy), "the workers to be busy")
    first = manager.submit(slow, 100, delay=1.5)
    second = manager.submit(slow, 101, delay=0.1)
    assert first.state == "cancelled"
    with pytest.raises(JobCancelled):
        await first.result()
    assert await second.result() == 202
    await asyncio.gather(*(b.result() for b in busy))
    assert await runs(client, first.key) == 0


async def test_a_call_without_a_deterministic_key_is_refused_unless_named(registry):
    lock = threading.Lock()
    manager = JobManager(registry)
    with pytest.raises(ValueError, match=r"deterministic key.*key="):
        manager.submit(operator.is_, lock, None)
    named = manager.submit(slow, 1, delay=0.0, key="my-call-1")
    assert named.key == "my-call-1"
    assert await named.result() == 2
    with pytest.raises(ValueError, match="A job key is"):
        manager.submit(slow, 1, key="../etc/passwd")
    with pytest.raises(TypeError, match="No kind of work takes a int"):
        manager.submit(42)


async def test_call_keys_are_equal_in_another_process():
    here = [call_key(slow, 3, delay=0.5), call_key(operator.add, 1, 2)]
    code = (
        "import operator, sys; sys.path.insert(0, 'tests/engine'); sys.path.insert(0, '.');"
        "from test_calls import slow; from compute.engine import call_key;"
        "print(call_key(slow, 3, delay=0.5)); print(call_key(operator.add, 1, 2))"
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(child.communicate(), 120)
    assert child.returncode == 0
    assert out.decode().split() == here
    assert here[0] != call_key(slow, 3, delay=0.6)


async def test_a_graph_streams_its_leaves_and_is_shared(client, registry, eventually):
    a = dask.delayed(slow, pure=True)(1, delay=0.2)
    leaves = [dask.delayed(slow, pure=True)(a, delay=d) for d in (0.1, 0.8)]
    job = JobManager(registry).submit(leaves)
    same = JobManager(registry).submit(list(leaves))
    assert job is same
    assert (job.kind, job.parts_total) == ("graph", 2)
    seen = []
    async for part in job:
        seen.append((part.index, job.parts_done))
    # Streamed as they finished: the first leaf arrived while the other still ran.
    assert sorted(i for i, _ in seen) == [0, 1]
    assert seen[0][1] == 1
    assert await job.result() == [4, 4]
    assert job.parts_started == 2
    # Every task of the graph ran once, the shared root included.
    assert await runs(client, "slow-") == 3
    single = JobManager(registry).submit(dask.delayed(slow, pure=True)(5, delay=0.0))
    assert await single.result() == 10


async def test_a_detached_call_runs_to_its_end_whoever_watches(
    client, registries, tmp_path, eventually
):
    store = ResultStore(tmp_path / "store")
    async with Client(client.scheduler.address, asynchronous=True) as own:
        registry = registries(store, on=own)
        told = []
        registry.subscribe(told.append)
        manager = JobManager(registry)
        job = manager.detach(slow, 8, delay=1.5)
        key = job.key
        assert job.detached
        assert registry.detached == {key: job}
        # Its record is in the history while it runs (the heartbeat writes it).
        await eventually(
            lambda: [r.state for r in store.history()] in (["queued"], ["running"]), "its record"
        )
        manager.submit(slow, 9, delay=0.0)  # a manager's new request does not supersede it
        manager.cancel()
        del job, manager
        gc.collect()
        held = registry.detached[key]  # held by the registry alone
        assert await held.result() == 16
        assert key not in registry.detached
        assert told == [held, held]  # started and ended
        await registry.flush()
        (record,) = [r for r in store.history() if r.key == key]
        assert (record.state, record.detached, record.kind) == ("done", True, "call")
        # Its result is stored: a fresh registry (a new process) gets it with no task.
    async with Client(client.scheduler.address, asynchronous=True) as fresh:
        again = registries(store, on=fresh).detach(slow, 8, delay=1.5)
        assert await again.result() == 16
        assert again.state == "cached"
    assert await runs(client, key) == 1


async def test_an_explicit_cancel_ends_a_detached_job(registry, eventually):
    job = registry.detach(slow, 77, delay=3.0)
    await eventually(lambda: job.state == "running", "the call to start")
    assert registry.cancel(job)
    assert job.state == "cancelled"
    assert job.key not in registry.detached
    assert not registry.cancel(job)


def options(retries=0, priority=0, workers=None):
    """Keyword arguments that Client.submit would take for its own."""
    return retries, priority, workers


async def test_a_calls_keywords_are_its_own_and_its_arguments_are_taken_at_submit(registry):
    manager = JobManager(registry)
    assert await manager.submit(options, retries=2, priority=7, workers="w").result() == (
        2,
        7,
        "w",
    )
    values = np.arange(10)
    job = JobManager(registry).submit(np.sum, values)
    values[:] = 0  # after submit(): the job computes what was asked for
    assert await job.result() == 45


async def test_records_of_one_job_by_two_consumers_are_both_kept(registries, tmp_path):
    store = ResultStore(tmp_path / "store")
    registry = registries(store)
    one, two = JobManager(registry), JobManager(registry)
    job = one.submit(slow, 5, delay=1.0)
    assert two.submit(slow, 5, delay=1.0) is job
    one.cancel()  # one lets it go (its record: cancelled), the other sees it done
    assert await job.result() == 10
    await registry.flush()
    states = sorted(r.state for r in store.history() if r.key == job.key)
    assert states == ["cancelled", "done"]


async def test_an_unnamed_graph_is_not_stored_a_named_one_is(registries, tmp_path):
    store = ResultStore(tmp_path / "store")
    registry = registries(store)
    unnamed = JobManager(registry).submit([dask.delayed(operator.add)(1, 2)])
    named = JobManager(registry).submit([dask.delayed(operator.add)(3, 4)], key="sum-3-4")
    assert (await unnamed.result(), await named.result()) == ([3], [7])
    await registry.flush()
    assert store.get_result(unnamed.key) is MISSING
    assert store.get_result("sum-3-4") == [7]
