"""The embedded cluster's supervision: its policy on a manual clock, the supervisor on
stand-in clusters, then a real embedded cluster whose scheduler is killed and whose
workers all leave, restarted where it listened."""

from __future__ import annotations

import os
import signal
from types import SimpleNamespace

import pytest

from compute.engine import Engine, EngineUnavailable
from compute.engine.cluster import ClusterConnection
from compute.engine.supervisor import ClusterSupervisor, Health, RestartPolicy
from compute.engine.testing import eventually, gate_task

HEALTHY = Health(scheduler=True, workers=2, keepers=2)
SCHEDULER_GONE = Health(scheduler=False, workers=0, keepers=0)
KEEPERS_GONE = Health(scheduler=True, workers=0, keepers=0)
NO_WORKER_YET = Health(scheduler=True, workers=0, keepers=2)


class Clock:
    """Seconds that pass only when a test says so."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def policy(**options) -> tuple[RestartPolicy, Clock]:
    clock = Clock()
    return RestartPolicy(clock=clock, **options), clock


# -- the policy ----------------------------------------------------------------------------
def test_a_healthy_cluster_is_left_alone():
    rules, clock = policy()
    for _ in range(5):
        assert rules.recommendation(HEALTHY) == ("healthy", None)
        clock.now += 100


@pytest.mark.parametrize(
    ("health", "why"),
    [(SCHEDULER_GONE, "its scheduler exited"), (KEEPERS_GONE, "no worker is left")],
)
def test_a_fault_is_confirmed_by_a_second_look_then_restarted_at_once(health, why):
    rules, _ = policy()
    assert rules.recommendation(health) == ("wait", why)  # a look can race a nanny
    assert rules.recommendation(health) == ("restart", why)
    rules.restarted(True)
    assert rules.recommendation(HEALTHY) == ("healthy", None)


def test_a_transient_fault_is_forgotten():
    rules, _ = policy()
    assert rules.recommendation(KEEPERS_GONE)[0] == "wait"
    assert rules.recommendation(HEALTHY)[0] == "healthy"
    assert rules.recommendation(KEEPERS_GONE)[0] == "wait"  # seen once again, not twice


def test_no_worker_while_nannies_run_is_a_fault_only_after_the_grace():
    rules, clock = policy(worker_grace=30.0)
    for _ in range(4):
        assert rules.recommendation(NO_WORKER_YET) == ("healthy", None)
        clock.now += 7.0
    clock.now += 3.0
    assert rules.recommendation(NO_WORKER_YET) == ("wait", "no worker joined for 30 s")
    assert rules.recommendation(NO_WORKER_YET)[0] == "restart"
    rules.restarted(True)
    # A worker back resets the grace.
    assert rules.recommendation(HEALTHY)[0] == "healthy"
    assert rules.recommendation(NO_WORKER_YET)[0] == "healthy"


def test_restarts_that_keep_failing_back_off_up_to_a_limit():
    rules, clock = policy(backoff=1.0, max_backoff=8.0)
    rules.recommendation(SCHEDULER_GONE)
    waits = []
    for _ in range(6):
        assert rules.recommendation(SCHEDULER_GONE)[0] == "restart"
        rules.restarted(False)
        waits.append(rules.wait)
        action, why = rules.recommendation(SCHEDULER_GONE)
        assert action == "wait"
        assert "the next try in" in why
        clock.now += rules.wait
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert rules.failures == 6


def test_a_restarted_cluster_that_dies_early_counts_as_a_failure_until_one_lives():
    rules, clock = policy(backoff=2.0, stable=60.0)
    rules.recommendation(SCHEDULER_GONE)
    assert rules.recommendation(SCHEDULER_GONE)[0] == "restart"
    rules.restarted(True)
    clock.now += 10.0  # up, then dead again within a minute
    rules.recommendation(SCHEDULER_GONE)
    assert rules.failures == 1
    assert rules.recommendation(SCHEDULER_GONE)[0] == "wait"  # backing off
    clock.now += rules.wait
    assert rules.recommendation(SCHEDULER_GONE)[0] == "restart"
    rules.restarted(True)
    assert rules.recommendation(HEALTHY)[0] == "healthy"
    clock.now += 60.0
    assert rules.recommendation(HEALTHY)[0] == "healthy"
    assert rules.failures == 0  # it lived: the next fault restarts at once
    rules.recommendation(SCHEDULER_GONE)
    assert rules.recommendation(SCHEDULER_GONE)[0] == "restart"


# -- the supervisor, on stand-in clusters ----------------------------------------------------
class StandIns:
    """Clusters that are only names and a health a test sets; restarts that may fail."""

    def __init__(self):
        self.health = {"first": HEALTHY}
        self.closed: list[str] = []
        self.fail = False
        self.made = 0

    def cluster(self, name: str):
        self.health[name] = HEALTHY
        return SimpleNamespace(name=name, scheduler_address=f"tcp://{name}:8786")

    def restart(self):
        if self.fail:
            raise OSError("the port is taken")
        self.made += 1
        return self.cluster(f"new{self.made}")

    def supervisor(self, **options) -> ClusterSupervisor:
        return ClusterSupervisor(
            self.cluster("first"),
            self.restart,
            look=lambda cluster: self.health[cluster.name],
            close=lambda cluster: self.closed.append(cluster.name),
            **options,
        )


def test_the_supervisor_restarts_a_lost_cluster_and_tells_its_listeners():
    stand_ins = StandIns()
    supervisor = stand_ins.supervisor()
    told = []
    supervisor.add(lambda cluster: told.append(cluster.name))
    supervisor.check()
    assert (supervisor.state, supervisor.down, supervisor.reason) == ("running", False, None)

    stand_ins.health["first"] = SCHEDULER_GONE
    supervisor.check()
    assert supervisor.state == "running"
    assert not told
    supervisor.check()
    assert supervisor.cluster.name == "new1"
    assert supervisor.restarts == 1
    assert stand_ins.closed == ["first"]
    assert told == ["new1"]
    assert (supervisor.state, supervisor.reason) == ("running", None)
    assert supervisor.stop().name == "new1"
    assert supervisor.state == "stopped"
    supervisor.check()  # stopped: nothing more happens
    assert supervisor.restarts == 1


def test_a_failed_restart_says_why_and_tries_again_later():
    stand_ins = StandIns()
    clock = Clock()
    supervisor = stand_ins.supervisor(policy=RestartPolicy(clock=clock, backoff=5.0))
    stand_ins.health["first"] = KEEPERS_GONE
    stand_ins.fail = True
    supervisor.check()
    supervisor.check()
    assert supervisor.down
    assert supervisor.state == "waiting"
    assert "could not be restarted: the port is taken" in supervisor.reason
    supervisor.check()
    assert supervisor.down
    assert "next try in 5 s" in supervisor.reason
    stand_ins.fail = False
    clock.now += 5.0
    supervisor.check()
    assert supervisor.cluster.name == "new1"
    assert not supervisor.down


def test_nothing_is_restarted_once_the_process_no_longer_serves():
    stand_ins = StandIns()
    serving = [True]
    supervisor = stand_ins.supervisor(alive=lambda: serving[0])
    stand_ins.health["first"] = SCHEDULER_GONE
    supervisor.check()
    serving[0] = False  # a SIGTERM to the whole group: the loop stopped
    supervisor.check()
    supervisor.check()
    assert supervisor.restarts == 0
    assert stand_ins.closed == []


def test_an_external_scheduler_is_never_supervised():
    connection = ClusterConnection("tcp://127.0.0.1:1")
    assert connection.embedded.supervisor is None
    assert connection.unavailable is None
    connection.prestart()  # nothing to start for an external scheduler
    assert connection.cluster is None
    assert connection.embedded.supervisor is None


# -- a real embedded cluster ------------------------------------------------------------------


async def _scheduler_pid(client) -> int:
    return await client.run_on_scheduler(os.getpid)


async def back(engine: Engine):
    """The engine's registry once the cluster can be used again."""

    async def ready():
        try:
            return await engine.registry()
        except EngineUnavailable:
            return None

    return await eventually(ready, "the cluster to be back", limit=90)


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_a_killed_scheduler_is_restarted_on_its_port_and_work_carries_on(tmp_path):
    engine = Engine(ClusterConnection(n_workers=1))
    connection = engine.connection
    try:
        client = await connection.client()
        address = client.scheduler.address
        registry = await engine.registry()
        done = await registry.detach(sum, [1, 2, 3], key="finished-before").wait()
        assert done == "done"
        gate = tmp_path / "gate"
        in_flight = registry.detach(gate_task(), str(gate), key="in-flight")

        os.kill(await _scheduler_pid(client), signal.SIGKILL)
        await eventually(lambda: not engine.readiness()["ready"], "the loss to be seen")
        # New work is refused at once, with a reason; finished work is still served.
        with pytest.raises(EngineUnavailable) as refused:
            await engine.registry()
        assert str(refused.value)
        readiness = engine.readiness()
        assert readiness["status"] in ("reconnecting", "lost")
        assert readiness["error"]
        assert await in_flight.wait() == "failed"
        kept = await engine.stored_result(registry.work(sum, ([1, 2, 3],), key="finished-before"))
        assert kept.state == "cached"
        assert kept.value == 6

        registry = await back(engine)
        assert engine.readiness() == {"ready": True, "status": "connected", "error": None}
        # The same client reconnected to a scheduler on the same port.
        assert await connection.client() is client
        assert client.scheduler.address == address
        assert connection.embedded.supervisor.restarts == 1
        assert await _scheduler_pid(client) == connection.cluster.scheduler.process.pid
        # The detached job in flight was asked for again by its key, and runs to its end.
        again = await eventually(lambda: registry.detached.get("in-flight"), "asked again")
        gate.touch()
        assert await again.wait() == "done"
        assert await (await engine.manager()).submit(sum, [4, 5]).result() == 9
    finally:
        await engine.close()
    assert connection.cluster is None


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_a_cluster_whose_workers_all_left_is_restarted_with_its_scheduler_in_a_thread():
    # The thread scheduler (LocalCluster's own) is supervised the same way.
    engine = Engine(ClusterConnection(n_workers=1, scheduler="thread"))
    connection = engine.connection
    try:
        client = await connection.client()
        address = client.scheduler.address
        assert await client.run_on_scheduler(os.getpid) == os.getpid()
        workers = await client.run_on_scheduler(
            lambda dask_scheduler: list(dask_scheduler.workers)
        )
        await client.retire_workers(workers, close_workers=True)
        await eventually(lambda: connection.embedded.supervisor.restarts == 1, "a restart")
        await back(engine)
        assert connection.cluster.scheduler_address == address
        assert await (await engine.manager()).submit(sum, [4, 5]).result() == 9
    finally:
        await engine.close()
