"""Shared fixtures: one real LocalCluster of worker processes for the whole session."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
import pytest_asyncio
from distributed import Client, LocalCluster
from hypothesis import HealthCheck, settings
from support import ExternalCluster

from compute.diagnostics import ExecutionCounter, KernelWarmup

# Nothing a test computes goes to the user's cache directory, nor comes from it: tests
# that persist pass a store (or FRACTAL_STORE, for servers and notebooks) of their own.
os.environ["FRACTAL_STORE"] = "off"

# Property tests are reproducible in CI: the same examples every run, none remembered
# between runs, and no deadline (machines are noisy). Fixtures shared by examples hold
# no per-example state, so function-scoped ones are fine.
settings.register_profile(
    "fractal",
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.load_profile("fractal")


@pytest.fixture(scope="session")
def local_cluster():
    """Two single-threaded worker processes on 127.0.0.1, like the app's default."""
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        yield cluster


@pytest_asyncio.fixture
async def client(local_cluster):
    """An asynchronous client with fresh execution counts on every worker."""
    async with Client(
        local_cluster.scheduler_address, asynchronous=True, set_as_default=False
    ) as client:
        await client.register_plugin(KernelWarmup())
        # Registering again replaces the plugin on each worker: counts start at zero.
        await client.register_plugin(ExecutionCounter())
        yield client


async def _eventually(predicate, what: str, limit: float = 60.0):
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def eventually():
    """Poll an (async or sync) predicate until true: a hang guard, not a timing test.

    Distributed systems converge; tests wait for the state they assert on, with a
    generous limit that only a genuine hang reaches.
    """
    return _eventually


@pytest.fixture
def external_cluster(tmp_path):
    """A `dask scheduler` + one `dask worker` (1 thread) as subprocesses."""
    yield from ExternalCluster.running(tmp_path)
