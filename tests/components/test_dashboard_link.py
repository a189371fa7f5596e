"""Which dashboard link sessions embed: a deployment's own, the app's proxy, or none."""

from __future__ import annotations

import dask
import panel as pn
import pytest
from distributed import Scheduler, Worker

from components import FractalExplorer
from components.jobs.dashboard import PROXY_KEY, browser_link
from compute.fractal import FractalConfig, fractal_connection, fractal_engine

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


@pytest.fixture
def proxy():
    """The app serving its dashboard proxy, as ``--plugins api`` announces it."""
    pn.state.cache[PROXY_KEY] = "/dask-dashboard"
    yield "/dask-dashboard"
    pn.state.cache.pop(PROXY_KEY, None)


async def test_the_proxy_link_unless_a_deployment_has_its_own(engine, proxy):
    connection = engine.connection
    await connection.client()
    assert await connection.dashboard_pages()
    assert connection.dashboard_upstream.startswith("http://")
    assert browser_link(connection) == "/dask-dashboard/status"
    with dask.config.set({"distributed.dashboard.link": "/user/ann/proxy/{port}/status"}):
        assert browser_link(connection).startswith("/user/ann/proxy/")
    pn.state.cache.pop(PROXY_KEY)
    assert browser_link(connection) == connection.dashboard_link


async def test_a_scheduler_without_a_dashboard_gets_a_message_not_broken_frames(proxy, eventually):
    # A scheduler started without its dashboard (``dask scheduler --no-dashboard``).
    async with (
        Scheduler(dashboard=False, dashboard_address=None, host="127.0.0.1", port=0) as scheduler,
        Worker(scheduler.address, nthreads=1),
    ):
        engine = fractal_engine(fractal_connection(scheduler.address))  # no store
        connection = engine.connection
        explorer = FractalExplorer(
            config=FractalConfig(width=64, height=64, max_iter=50),
            engine=engine,
            autostart=False,
        )
        try:
            await explorer.render()
            await explorer.check_cluster()
            await eventually(lambda: explorer.session.complete, "the frame")
            # It still answers HTTP on the dashboard's port (health, metrics), without pages.
            assert connection.dashboard_upstream is not None
            assert not await connection.dashboard_pages()
            await eventually(lambda: explorer.dashboard.unavailable, "the message")
            assert "without a dashboard" in explorer.dashboard.unavailable
            assert explorer.dashboard.link is None
        finally:
            explorer.close()
            await engine.close()
