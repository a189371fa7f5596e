"""Component fixtures: the Bokeh plotting backend, and explorers on the shared LocalCluster."""

from __future__ import annotations

import holoviews as hv
import panel as pn
import pytest
import pytest_asyncio

from components import FractalExplorer
from compute import ClusterConnection


@pytest.fixture(scope="session", autouse=True)
def bokeh_backend():
    """What ``app.py`` loads: HoloViews options need a plotting backend, history its table."""
    hv.extension("bokeh")
    pn.extension()


@pytest_asyncio.fixture
async def connection(local_cluster):
    """The explorers' own connection to the session's cluster (as the app's would be)."""
    connection = ClusterConnection(address=local_cluster.scheduler_address)
    try:
        yield connection
    finally:
        await connection.close()


@pytest_asyncio.fixture
async def explorers(connection):
    """Make explorers on :func:`connection` that render only when told; closed afterwards."""
    made: list[FractalExplorer] = []

    def make(config, **params) -> FractalExplorer:
        params.setdefault("connection", connection)
        explorer = FractalExplorer(config=config, autostart=False, **params)
        made.append(explorer)
        return explorer

    yield make
    for explorer in made:
        explorer.close()
