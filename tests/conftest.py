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
def make_registry():
    """How :func:`registries` makes a registry: for the fractal's kinds, as an engine makes
    one for its client, without an engine's connection (the client is the test's own).
    ``tests/engine`` makes them with the engine's own kinds instead."""
    return fractal_registry


@pytest.fixture
def registries(client, make_registry):
    """Make job registries on :func:`client` (or another client, ``on=``):
    ``registries(store=...)``; each is closed at the end."""
    made: list[JobRegistry] = []

    def make(store=None, *, on=None, **options) -> JobRegistry:
        registry = make_registry(on or client, store=store, **options)
        made.append(registry)
        return registry

    yield make
    for registry in made:
        registry.close()


@pytest.fixture
def registry(registries) -> JobRegistry:
    """A job registry on :func:`client`, with no store."""
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
