"""What a client must send again when it reconnects to a restarted scheduler, and a
registry that goes with its client.

distributed's ``Client`` reconnects by itself, but a restarted scheduler knows none of its
topic subscriptions nor worker plugins: here a real `dask scheduler` is killed and started
again on its port, the same client reconnects, a new `dask worker` joins, and the jobs'
"running" comes from the workers' reports again and the new worker is warmed.
"""

from __future__ import annotations

import gc
import weakref

import pytest
from distributed import Client
from support import heavy

from compute import ClusterConnection, FractalConfig, JobManager, JobRegistry

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


def _gate_fn():
    # Made here, not at module level: pickled by value, a `dask worker` needs no tests/.
    # A task that runs until the test opens its gate (a file): "running" with no part
    # done lasts as long as the test needs, with no timing involved.
    def wait_for(path):
        import os
        import time

        while not os.path.exists(path):
            time.sleep(0.01)
        return 1

    return wait_for


def _plugins_fn():
    def plugins(dask_worker):
        import compute.kernels

        compiled = any(getattr(f, "signatures", None) for f in vars(compute.kernels).values())
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
    connection = ClusterConnection(external_cluster.address, timeout=120)
    try:
        client = await connection.client()
        await client.wait_for_workers(1)
        manager = JobManager(client)
        registry = manager.registry
        registry._reporting_soon()
        await registry._reporter  # in place before the first call starts
        wait_for = _gate_fn()
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
        await client.wait_for_workers(1)

        # The new worker got the warm-up and the start reporter from the new scheduler.
        plugins = _plugins_fn()

        async def warmed():
            (answer,) = (await client.run(plugins)).values()
            names, compiled = answer
            return {"fractal-kernel-warmup", "fractal-start-reporter"} <= set(names) and compiled

        await eventually(warmed, "the warm-up and the start reporter on the new worker")

        # A call: "running" is the worker's word again (StartReporter, on its topic).
        gate = tmp_path / "after"
        assert await running_before_any_part(
            manager, wait_for, str(gate), key="gated-after", gate=gate, eventually=eventually
        )
        # A frame: its tiles report their start (the tile topic).
        frame = heavy().copy(width=256, height=256)
        assert await running_before_any_part(manager, frame, eventually=eventually)
    finally:
        await connection.close()


async def test_a_registry_and_its_cache_go_with_their_client(local_cluster):
    client = await Client(local_cluster.scheduler_address, asynchronous=True, set_as_default=False)
    registry = JobRegistry.for_client(client)
    assert JobRegistry.for_client(client) is registry
    job = JobManager(client, registry=registry).submit(FractalConfig(width=64, height=64))
    await job.result()
    assert len(registry.cache) == 1
    gone = weakref.ref(registry)
    await client.close()
    del client, registry, job
    gc.collect()
    assert gone() is None
