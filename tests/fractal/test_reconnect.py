"""What a client must send again when it reconnects to a restarted scheduler, and a
registry that goes with its client (an engine makes a new one for a new client).

distributed's ``Client`` reconnects by itself, but a restarted scheduler knows none of its
topic subscriptions nor worker plugins: here a real `dask scheduler` is killed and started
again on its port, the same client reconnects, a new `dask worker` joins, and the jobs'
"running" comes from the workers' reports again and the new worker is warmed.
"""

from __future__ import annotations

import gc
import weakref

import pytest

from compute.engine import JobManager
from compute.engine.testing import gate_task
from compute.fractal import FractalConfig, fractal_connection, fractal_engine
from compute.fractal.testing import heavy

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


def _plugins_fn():
    def plugins(dask_worker):
        import compute.fractal.kernels

        kernels = vars(compute.fractal.kernels).values()
        compiled = any(getattr(f, "signatures", None) for f in kernels)
        return sorted(dask_worker.plugins), compiled

    return plugins


async def running_before_any_part(manager, work, *args, key=None, gate=None, eventually):
    """Submit; return whether the job read "running" while none of its parts was done."""
    seen = []
    job = manager.submit(work, *args, key=key)
    job.param.watch(lambda e: seen.append((e.new, job.parts_done)), "state")
    if gate is not None:
        await eventually(lambda: job.state != "queued", f"{job.key} to start")
        gate.touch()
    assert await job.wait() == "done", job.error
    return ("running", 0) in seen


async def test_after_a_scheduler_restart_the_same_client_gets_reports_and_warms_workers(
    external_cluster, eventually, tmp_path
):
    # Long enough for the scheduler to come back to the same client.
    engine = fractal_engine(fractal_connection(external_cluster.address, timeout=120))
    connection = engine.connection
    try:
        client = await connection.client()
        await client.wait_for_workers(1)
        manager = await engine.manager()
        registry = manager.registry
        registry.reports.ensure_plugin()
        await registry.reports.plugin  # in place before the first call starts
        wait_for = gate_task()
        gate = tmp_path / "before"
        assert await running_before_any_part(
            manager, wait_for, str(gate), key="gated-before", gate=gate, eventually=eventually
        )

        external_cluster.kill_scheduler()
        await eventually(lambda: connection.status == "reconnecting", "the loss to be seen")
        external_cluster.start_scheduler()
        external_cluster.restart_worker()  # a new worker process
        await eventually(lambda: connection.status == "connected", "the reconnection")
        assert await connection.client() is client  # reconnected, not replaced
        assert await engine.registry() is registry  # and so is its registry
        await client.wait_for_workers(1)

        # The new worker got the warm-up and the start reporter from the new scheduler.
        plugins = _plugins_fn()

        async def warmed():
            (answer,) = (await client.run(plugins)).values()
            names, compiled = answer
            wanted = {"fractal-kernel-warmup", "compute-engine-start-reporter"}
            return wanted <= set(names) and compiled

        await eventually(warmed, "the warm-up and the start reporter on the new worker")

        # A call: "running" is the worker's word again (StartReporter, on its topic).
        gate = tmp_path / "after"
        assert await running_before_any_part(
            manager, wait_for, str(gate), key="gated-after", gate=gate, eventually=eventually
        )
        # A frame: its tiles report their start (the same topic).
        frame = heavy().copy(width=256, height=256)
        assert await running_before_any_part(manager, frame, eventually=eventually)
    finally:
        await engine.close()


async def test_a_registry_goes_with_its_client_and_the_engine_makes_another(local_cluster):
    engine = fractal_engine(fractal_connection(local_cluster.scheduler_address))
    try:
        registry = await engine.registry()
        client = registry.client
        assert await engine.registry() is registry  # one per client
        config = FractalConfig(width=64, height=64)
        job = JobManager(registry).submit(config)
        await job.result()
        assert len(registry.cache) == 1
        gone = weakref.ref(registry)
        # The client is lost (closed under the engine): the connection makes another, and
        # the engine a registry for it.
        await client.close()
        replaced = await engine.registry()
        assert replaced is not registry
        assert replaced.client is not client
        assert replaced.client.status == "running"
        del client, registry, job
        gc.collect()
        assert gone() is None
        # The memory cache is the engine's, not the client's: it outlives the client.
        assert replaced.cache is engine.cache
        assert JobManager(replaced).submit(config).state == "cached"
    finally:
        await engine.close()
