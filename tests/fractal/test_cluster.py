"""ClusterConnection (in a fractal engine): a lazy local cluster (its scheduler in a
subprocess), an external `dask scheduler` + `dask worker` started as subprocesses and reached
through DASK_SCHEDULER_ADDRESS, and reconnection after the scheduler dies and comes back."""

from __future__ import annotations

import asyncio
import os

import dask
import numpy as np
import psutil
import pytest

from compute.engine import ClusterConnection
from compute.engine.cluster import EMBEDDED_CONFIG, local_cluster
from compute.engine.diagnostics import ExecutionCounter, executed_tasks
from compute.engine.testing import free_port
from compute.fractal import (
    FractalConfig,
    fractal_connection,
    fractal_engine,
    fractal_engine_from_env,
    render,
)
from compute.fractal.kernels import warm_up
from compute.fractal.testing import heavy

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


def light(n: int = 0) -> FractalConfig:
    return FractalConfig(c_real=-0.75 + n * 1e-3, max_iter=120, width=512, height=512)


async def test_local_cluster_starts_lazily_and_closes():
    engine = fractal_engine(fractal_connection(n_workers=1))
    connection = engine.connection
    assert connection.status == "idle"
    assert connection.cluster is None
    assert connection.dashboard_link is None
    try:
        client = await connection.client()
        assert await connection.client() is client
        assert connection.status == "connected"
        assert connection.cluster is not None
        assert connection.dashboard_link.startswith("http://127.0.0.1:")
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        config = light(1)
        job = (await engine.manager()).submit(config)
        np.testing.assert_array_equal(await job.result(), render(config))
    finally:
        await engine.close()
    assert connection.status == "closed"
    assert connection.cluster is None
    with pytest.raises(RuntimeError, match="closed"):
        await connection.client()


async def test_the_local_scheduler_runs_in_its_own_process_and_goes_with_the_cluster(
    eventually,
):
    connection = ClusterConnection(n_workers=1)
    try:
        client = await connection.client()
        scheduler = await client.run_on_scheduler(os.getpid)
        # Not a thread of this process: it does not share this interpreter's lock.
        assert scheduler != os.getpid()
        assert psutil.Process(scheduler).ppid() == os.getpid()
        (worker,) = (await client.run(os.getpid)).values()
        assert worker not in (scheduler, os.getpid())
        # The workers got the embedded cluster's slower bookkeeping; this process's own
        # config is Dask's again once the cluster is up.
        setting = "distributed.worker.profile.interval"
        (interval,) = (await client.run(dask.config.get, setting)).values()
        assert interval == EMBEDDED_CONFIG[setting] != dask.config.get(setting)
    finally:
        await connection.close()
    await eventually(lambda: not psutil.pid_exists(scheduler), "the scheduler to exit")


async def test_the_scheduler_can_run_in_this_process_instead(monkeypatch):
    # LocalCluster's own way (Windows'); a server sets it with FRACTAL_SCHEDULER.
    engine = fractal_engine(fractal_connection(n_workers=1, scheduler="thread"))
    try:
        client = await engine.client()
        assert await client.run_on_scheduler(os.getpid) == os.getpid()
        config = light(3)
        np.testing.assert_array_equal(
            await (await engine.manager()).submit(config).result(), render(config)
        )
    finally:
        await engine.close()
    monkeypatch.setenv("FRACTAL_SCHEDULER", "thread")
    from_env = fractal_engine_from_env()
    assert from_env.connection.scheduler == "thread"
    await from_env.close()  # nothing started: the cluster starts on the first request
    with pytest.raises(ValueError, match="'process' or a 'thread', not 'elsewhere'"):
        local_cluster(1, scheduler="elsewhere")


async def test_a_bad_fractal_scheduler_is_named_in_the_error(monkeypatch):
    monkeypatch.setenv("FRACTAL_SCHEDULER", "elsewhere")

    async def first_request():
        engine = fractal_engine_from_env()
        try:
            await engine.registry()
        finally:
            await engine.close()

    # Refused when the engine is made, naming the variable.
    with pytest.raises(ValueError, match="FRACTAL_SCHEDULER='elsewhere': The scheduler runs in"):
        await first_request()


async def test_prestart_starts_the_cluster_and_kernels_before_any_request():
    engine = fractal_engine(fractal_connection(n_workers=1))
    connection = engine.connection
    warmed = []

    def kernels():  # this process's own, as a server's prestart compiles them
        warm_up()
        warmed.append(connection.cluster)

    try:
        # Without a running loop (a server warming up) it waits until both are ready.
        await asyncio.to_thread(engine.prestart, kernels)
        assert warmed == [None]  # the kernels first, then the cluster
        assert connection.cluster is not None
        assert connection.cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert connection.status == "idle"  # no client yet: that is made on the loop
        client = await connection.client()
        assert client.scheduler.address == connection.cluster.scheduler_address
        engine.prestart(kernels)  # idempotent: the same cluster, nothing warmed again
        assert client.scheduler.address == connection.cluster.scheduler_address
        assert len(warmed) == 1
    finally:
        await engine.close()


async def test_dask_scheduler_address_selects_an_existing_cluster(external_cluster, monkeypatch):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", external_cluster.address)
    engine = fractal_engine(fractal_connection())
    connection = engine.connection
    assert connection.target == external_cluster.address
    try:
        client = await connection.client()
        await client.wait_for_workers(1)
        assert connection.cluster is None  # no local cluster was started
        assert client.scheduler.address == external_cluster.address
        await client.register_plugin(ExecutionCounter())
        config = light(2)
        job = (await engine.manager()).submit(config)
        np.testing.assert_array_equal(await job.result(), render(config))
        assert len(await executed_tasks(client, "fractal-tile")) == job.parts_total
        pids = await client.run(os.getpid)
        assert len(pids) == 1
        # The tiles ran in the `dask worker` process the test started.
        assert next(iter(pids.values())) != os.getpid()
    finally:
        await engine.close()


async def test_an_unreachable_scheduler_gives_a_clear_error():
    connection = ClusterConnection(f"tcp://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(OSError, match="Cannot reach the Dask scheduler"):
        await connection.client()
    assert connection.status == "lost"
    await connection.close()


async def test_reconnects_when_the_scheduler_comes_back(external_cluster, eventually):
    engine = fractal_engine(fractal_connection(external_cluster.address, timeout=5))
    connection = engine.connection
    try:
        client = await connection.client()
        await client.wait_for_workers(1)
        manager = await engine.manager()
        in_flight = manager.submit(heavy())

        external_cluster.kill_scheduler()
        # Work in flight fails with a message instead of hanging.
        assert await in_flight.wait() == "failed"
        assert "dropped the work" in in_flight.error
        await eventually(
            lambda: connection.status in ("reconnecting", "lost"), "the loss to be seen"
        )

        external_cluster.start_scheduler()
        external_cluster.restart_worker()

        async def reconnected():
            try:
                client = await connection.client()
            except OSError:
                return None
            return client if connection.status == "connected" else None

        client = await eventually(reconnected, "a connected client")
        await client.wait_for_workers(1)
        config = light(3)
        manager = await engine.manager()
        assert manager.registry.client is client  # the registry of the client now connected
        job = manager.submit(config)
        np.testing.assert_array_equal(await job.result(), render(config))
    finally:
        await engine.close()
