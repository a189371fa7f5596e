"""Shared fixtures: one real LocalCluster of worker processes for the whole session, and
the engines that the fractal's tests make on it.

The generic engine's own tests (``tests/engine``) use none of these: each makes a fresh
in-process cluster (``compute.engine.testing.gen_cluster``).
"""

from __future__ import annotations

import os

import pytest
import pytest_asyncio
from distributed import Client, LocalCluster
from hypothesis import HealthCheck, settings

from compute.engine import JobRegistry
from compute.engine.diagnostics import ExecutionCounter
from compute.engine.testing import ExternalCluster
from compute.engine.testing import eventually as _eventually
from compute.fractal import KernelWarmup, fractal_registry

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


@pytest.fixture
def registries(client):
    """Make job registries for the fractal's kinds on :func:`client`: ``registries(store=...)``.

    What an engine makes for its client, without an engine's connection (the client is
    the test's own). Each registry is closed at the end.
    """
    made: list[JobRegistry] = []

    def make(store=None, cache=None, limits=None, on=None) -> JobRegistry:
        registry = fractal_registry(on or client, store=store, cache=cache, limits=limits)
        made.append(registry)
        return registry

    yield make
    for registry in made:
        registry.close()


@pytest.fixture
def registry(registries) -> JobRegistry:
    """A job registry for the fractal's kinds on :func:`client`, with no store."""
    return registries()


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
