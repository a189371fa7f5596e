"""Persistence across a real restart of `panel serve`: frames and history from the store.

Two servers, one after the other, on one store directory and one `dask scheduler` +
`dask worker` started by the test; the worker counts the tasks it executes, so "served
from the store" is measured on the cluster, not taken from the app's word.
"""

from __future__ import annotations

import contextlib

import pytest
from distributed import Client
from pages import (
    colourful,
    deep_text,
    link,
    url_config,
    view_of,
    wait_image,
    wait_state,
    wait_text,
    wait_until,
    wait_url,
)

from components.testing import AppServer
from compute.engine.diagnostics import ExecutionCounter, executed_tasks
from compute.fractal import FractalConfig
from compute.fractal.frame import TILE_TASK

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

serving = contextlib.contextmanager(AppServer.running)
FIRST = FractalConfig(width=256, height=256, max_iter=90)
SECOND = FIRST.copy(fractal="mandelbrot")


def test_a_restarted_server_serves_earlier_frames_and_history_from_the_store(
    tabs, dask_cli_cluster, tmp_path
):
    env = {"DASK_SCHEDULER_ADDRESS": dask_cli_cluster.address, "FRACTAL_STORE": str(tmp_path)}
    with contextlib.closing(Client(dask_cli_cluster.address, set_as_default=False)) as client:
        # Before the restart: two frames computed.
        with serving(tmp_path, env, name="before") as server:
            page = tabs.open()
            page.goto(link(server, **view_of(FIRST)))
            assert wait_state(page, "done", "cached") == "done"
            page.get_by_role("button", name="mandelbrot").click()
            wait_url(page, lambda c: c.fractal == "mandelbrot", "fractal=mandelbrot")
            wait_text(page, ".job-history", "mandelbrot, 90 it, 256x256")
            assert wait_state(page, "done") == "done"
            page.close()

        # Counted from here: whatever the new server makes the cluster execute.
        client.register_plugin(ExecutionCounter())
        with serving(tmp_path, env, name="after") as server:
            page = tabs.open()
            page.goto(link(server, **view_of(FIRST)))
            assert wait_state(page, "cached") == "cached"
            wait_text(page, ".job-state", "from cache")
            wait_image(page, colourful, "the stored frame")
            # The history lists the jobs from before the restart, newest first.
            history = wait_text(page, ".job-history", "mandelbrot, 90 it, 256x256")
            assert history.count("julia c=-0.8000+0.1560i, 90 it, 256x256") == 2
            page.locator(".job-history td").get_by_text("mandelbrot, 90 it").first.click()
            wait_url(page, lambda c: c.fractal == "mandelbrot", "the restored view")
            assert url_config(page).key == SECOND.key
            # Its job is listed once the restored frame is shown.
            wait_until(
                lambda: deep_text(page, ".job-history").count("mandelbrot, 90 it, 256x256") == 2,
                "the restored frame's job in the history",
            )
            assert wait_state(page, "cached") == "cached"
            assert "from cache" in deep_text(page, ".job-state")
            assert client.sync(executed_tasks, client, TILE_TASK) == []


def test_two_servers_at_once_share_one_store(tabs, dask_cli_cluster, tmp_path):
    """What one server computed, another running beside it serves from the store."""
    frame = FIRST.copy(c_real=-0.7, c_imag=0.27)
    env = {"DASK_SCHEDULER_ADDRESS": dask_cli_cluster.address, "FRACTAL_STORE": str(tmp_path)}
    with (
        contextlib.closing(Client(dask_cli_cluster.address, set_as_default=False)) as client,
        serving(tmp_path, env, name="one") as one,
        serving(tmp_path, env, name="two") as two,
    ):
        page = tabs.open()
        page.goto(link(one, **view_of(frame)))
        assert wait_state(page, "done", "cached") == "done"
        # Written in the background once the job is done: the frame, then its record.
        wait_until(
            lambda: (
                (tmp_path / "frames" / f"{frame.key}.frame").exists()
                and any((tmp_path / "history").glob("*.json"))
            ),
            "server one's frame and record in the store",
        )
        client.register_plugin(ExecutionCounter())
        other = tabs.open()
        other.goto(link(two, **view_of(frame)))
        assert wait_state(other, "cached") == "cached"
        wait_image(other, colourful, "the frame server one computed")
        # Server one's job, then server two's own (from cache).
        wait_until(
            lambda: deep_text(other, ".job-history").count(frame.summary()) == 2,
            "both servers' jobs in server two's history",
        )
        assert client.sync(executed_tasks, client, TILE_TASK) == []
