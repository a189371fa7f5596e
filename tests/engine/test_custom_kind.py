"""A kind of work defined outside the engine (tests/engine/squares.py), registered with an
Engine, gets the whole contract with no edit in compute/engine: de-duplication, honest
state from the workers, parts streamed, cancellation, detached runs, history, restore,
the store, and caps in a cost unit of its own."""

from __future__ import annotations

import pytest
import pytest_asyncio
from squares import Squares

from compute.engine import (
    ClusterConnection,
    CostUnit,
    Engine,
    JobCancelled,
    LimitExceeded,
    Limits,
    ResultCache,
    ResultStore,
)
from compute.engine.diagnostics import executed_tasks

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]

#: What the squares' caps count in: seconds of a worker.
WORKER_SECONDS = CostUnit(
    name="worker_seconds", words="worker-seconds", hint="Ask for fewer or faster squares."
)


@pytest_asyncio.fixture
async def engines(client):
    """Make engines with the Squares kind on the test's cluster; closed at the end."""
    made: list[Engine] = []

    def make(store=None, kinds=(Squares,), limits=None) -> Engine:
        engine = Engine(
            ClusterConnection(client.scheduler.address),
            store=store,
            cache=ResultCache(),
            limits=limits or Limits(),
            kinds=kinds,
        )
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.close()


async def executed(client, work: Squares) -> int:
    """Tasks of ``work`` that a worker executed (counted by the workers themselves)."""
    return sum(work.key in key for key, _ in await executed_tasks(client, "square"))


async def test_equal_requests_share_one_job_whose_state_comes_from_the_workers(
    client, engines, tmp_path
):
    engine = engines(store=ResultStore(tmp_path))
    one, two = await engine.manager(), await engine.manager()
    work = Squares(4, delay=0.3)
    job = one.submit(work)
    assert two.submit(Squares(4, delay=0.3)) is job  # de-duplicated by key
    assert (job.kind, job.state, job.parts_total) == ("squares", "queued", 4)
    states = []
    job.param.watch(lambda e: states.append(e.new), "state")
    parts = [part async for part in job]  # streamed as they finish
    assert sorted((p.index, p.value) for p in parts) == [(0, 0), (1, 1), (2, 4), (3, 9)]
    assert await job.result() == [0, 1, 4, 9]
    # "running" is the workers' own word (each task reported its start).
    assert states == ["running", "done"]
    assert job.parts_started == job.parts_done == 4
    assert job.describe().startswith("done in")
    assert job.describe().endswith("(4 squares)")
    assert await executed(client, work) == 4  # once, for both managers
    # Finished: served from memory, then (another engine on the store) from the store.
    assert (await engine.manager()).submit(work).state == "cached"
    await (await engine.registry()).flush()
    again = (await engines(store=ResultStore(tmp_path)).manager()).submit(work)
    assert await again.result() == [0, 1, 4, 9]
    assert again.state == "cached"
    assert await executed(client, work) == 4


async def test_a_superseded_request_is_cancelled_and_its_queued_tasks_never_run(client, engines):
    manager = await (engines()).manager()
    slow = Squares(12, delay=0.5)  # two workers: most of its tasks still queued
    first = manager.submit(slow)
    second = manager.submit(Squares(2))
    assert first.state == "cancelled"
    with pytest.raises(JobCancelled):
        await first.result()
    assert await second.result() == [0, 1]
    assert await executed(client, slow) < 12


async def test_a_detached_job_runs_on_is_recorded_for_its_owner_and_restores(
    client, engines, tmp_path, eventually
):
    store = ResultStore(tmp_path)
    engine = engines(store=store)
    registry = await engine.registry()
    told = []
    registry.subscribe(told.append)
    job = await engine.detach(Squares(3, delay=0.2), owner="ann", payer="user:ann")
    assert job.detached
    assert registry.users(job) == {"ann"}
    assert await job.result() == [0, 1, 4]
    assert told == [job, job]  # started and ended
    await registry.flush()
    (record,) = store.history(owner="ann")
    assert (record.kind, record.state, record.detached) == ("squares", "done", True)
    assert record.config == {"n": 3, "delay": 0.2}
    restored = engine.kinds.restore(record)
    assert isinstance(restored, Squares)
    assert restored.key == job.key


async def test_an_engine_that_does_not_know_the_kind_lists_its_records_and_refuses_it(
    client, engines, tmp_path
):
    store = ResultStore(tmp_path)
    knows = engines(store=store)
    await (await knows.manager()).submit(Squares(2)).result()
    await (await knows.registry()).flush()
    other = engines(store=store, kinds=())
    (record,) = other.store.history()  # listed as it is: not dropped, not raised
    assert record.kind == "squares"
    with pytest.raises(ValueError, match="of a kind this server does not know"):
        other.kinds.restore(record)
    with pytest.raises(TypeError, match="not registered here"):
        (await other.manager()).submit(Squares(2))


async def test_caps_count_the_kinds_own_cost_unit(client, engines):
    engine = engines(limits=Limits(cost=1.0, unit=WORKER_SECONDS))
    manager = await engine.manager(payer="user:ann")
    with pytest.raises(LimitExceeded, match=r"worker-seconds.*Ask for fewer") as refused:
        manager.submit(Squares(10, delay=0.2))  # 2 worker-seconds
    assert refused.value.cap == "worker_seconds"
    assert manager.job is None
    job = manager.submit(Squares(4, delay=0.2))  # 0.8: admitted
    assert engine.ledger.usage("user:ann")["worker_seconds"] == pytest.approx(0.8)
    assert await job.result() == [0, 1, 4, 9]
