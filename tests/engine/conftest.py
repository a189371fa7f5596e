"""The engine's tests: generic work (no fractal) on a fresh in-process cluster per test.

In the style of ``distributed.utils_test.gen_cluster``: every test gets its own
scheduler and two single-threaded workers in this process, and the fixture checks at
teardown that no task is left on the scheduler (work nobody wants must be gone), so a
test never has to count leftovers by hand.
"""

from __future__ import annotations

import pytest
import pytest_asyncio

from compute.engine import JobRegistry, ResultCache
from compute.engine.diagnostics import ExecutionCounter
from compute.engine.testing import gen_cluster


@pytest_asyncio.fixture
async def client():
    """A fresh in-process cluster's client, with executions counted on its workers."""
    async with gen_cluster() as client:
        await client.register_plugin(ExecutionCounter())
        yield client


@pytest.fixture
def make_registry():
    """Registries of the engine's own kinds only (calls, graphs), and a fresh cache."""

    def make(client, store=None, **options) -> JobRegistry:
        return JobRegistry(client, ResultCache(), store, **options)

    return make
