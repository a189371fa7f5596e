"""ClusterConnection: a lazy local cluster (its scheduler in a subprocess), an external
`dask scheduler` + `dask worker` started as subprocesses and reached through
DASK_SCHEDULER_ADDRESS, and reconnection after the scheduler dies and comes back."""

from __future__ import annotations

import asyncio
import os

import dask
import numpy as np
import psutil
import pytest
from support import free_port

from compute import ClusterConnection, FractalConfig, JobManager, render
from compute.cluster import EMBEDDED_CONFIG, local_cluster
from compute.diagnostics import ExecutionCounter, executed_tasks

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


def light(n: int = 0) -> FractalConfig:
    return FractalConfig(c_real=-0.75 + n * 1e-3, max_iter=120, width=512, height=512)


async def test_local_cluster_starts_lazily_and_closes(eventually):
    connection = ClusterConnection(n_workers=1)
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
        job = JobManager(client).submit(config)
        np.testing.assert_array_equal(await job.result(), render(config))
    finally:
        await connection.close()
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


async def test_the_scheduler_can_run_in_this_process_instead(monkeypatch, eventually):
    monkeypatch.setenv("FRACTAL_SCHEDULER", "thread")  # LocalCluster's own way (Windows')
    connection = ClusterConnection(n_workers=1)
    try:
        client = await connection.client()
        assert await client.run_on_scheduler(os.getpid) == os.getpid()
        config = light(3)
        np.testing.assert_array_equal(
            await JobManager(client).submit(config).result(), render(config)
        )
    finally:
        await connection.close()
    monkeypatch.setenv("FRACTAL_SCHEDULER", "elsewhere")
    with pytest.raises(ValueError, match="FRACTAL_SCHEDULER must be 'process' or 'thread'"):
        local_cluster(1)


async def test_prestart_starts_the_cluster_and_kernels_before_any_request():
    connection = ClusterConnection(n_workers=1)
    try:
        # Without a running loop (a server warming up) it waits until both are ready.
        await asyncio.to_thread(connection.prestart)
        assert connection.cluster is not None
        assert connection.cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert connection.status == "idle"  # no client yet: that is made on the loop
        client = await connection.client()
        assert client.scheduler.address == connection.cluster.scheduler_address
        connection.prestart()  # idempotent: the same cluster
        assert client.scheduler.address == connection.cluster.scheduler_address
    finally:
        await connection.close()


async def test_dask_scheduler_address_selects_an_existing_cluster(external_cluster, monkeypatch):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", external_cluster.address)
    connection = ClusterConnection()
    assert connection.target == external_cluster.address
    try:
        client = await connection.client()
        await client.wait_for_workers(1)
        assert connection.cluster is None  # no local cluster was started
        assert client.scheduler.address == external_cluster.address
        await client.register_plugin(ExecutionCounter())
        config = light(2)
        job = JobManager(client).submit(config)
        np.testing.assert_array_equal(await job.result(), render(config))
        ran = await executed_tasks(client)
        assert len(ran) == job.parts_total
        pids = await client.run(os.getpid)
        assert len(pids) == 1
        # The tiles ran in the `dask worker` process the test started.
        assert next(iter(pids.values())) != os.getpid()
    finally:
        await connection.close()


async def test_an_unreachable_scheduler_gives_a_clear_error():
    connection = ClusterConnection(f"tcp://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(OSError, match="Cannot reach the Dask scheduler"):
        await connection.client()
    assert connection.status == "lost"
    await connection.close()


async def test_reconnects_when_the_scheduler_comes_back(external_cluster, eventually):
    connection = ClusterConnection(external_cluster.address, timeout=5)
    try:
        client = await connection.client()
        await client.wait_for_workers(1)
        manager = JobManager(client)
        heavy = FractalConfig(
            c_real=-0.1, c_imag=0.1, x_range=(-0.5, 0.5), y_range=(-0.5, 0.5), max_iter=4000
        )
        in_flight = manager.submit(heavy)

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
        job = JobManager(client).submit(config)
        np.testing.assert_array_equal(await job.result(), render(config))
    finally:
        await connection.close()
