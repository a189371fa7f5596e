"""Component fixtures: the Bokeh plotting backend, and explorers on the shared LocalCluster."""

from __future__ import annotations

import holoviews as hv
import panel as pn
import pytest
import pytest_asyncio

from components import FractalExplorer
from compute.fractal import fractal_connection, fractal_engine


@pytest.fixture(scope="session", autouse=True)
def bokeh_backend():
    """What ``app.py`` loads: HoloViews options need a plotting backend, history its table."""
    hv.extension("bokeh")
    pn.extension()


@pytest_asyncio.fixture
async def engine(local_cluster):
    """The explorers' own engine on the session's cluster (as the app's would be): its own
    connection, no store."""
    engine = fractal_engine(fractal_connection(local_cluster.scheduler_address))
    try:
        yield engine
    finally:
        await engine.close()


@pytest_asyncio.fixture
async def explorers(engine):
    """Make explorers on :func:`engine` that render only when told; closed afterwards."""
    made: list[FractalExplorer] = []

    def make(config, **params) -> FractalExplorer:
        params.setdefault("engine", engine)
        explorer = FractalExplorer(config=config, autostart=False, **params)
        made.append(explorer)
        return explorer

    yield make
    for explorer in made:
        explorer.close()
