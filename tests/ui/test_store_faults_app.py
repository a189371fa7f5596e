"""The app, served by a real `panel serve`, when its store cannot be used: it renders
frames without persistence and says so once.

A store on S3 without s3fs installed cannot be opened at all; a store on a read-only
filesystem opens, and then every write fails.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess

import pytest
from pages import colourful, deep_text, link, view_of, wait_image, wait_state, wait_text, wait_url

from components.testing import AppServer
from compute.fractal import FractalConfig, FrameStore

#: What the fractal's store says once it stops saving.
NOT_SAVING = FrameStore.NOT_SAVING

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

serving = contextlib.contextmanager(AppServer.running)
FRAME = FractalConfig(width=256, height=256, max_iter=90)
TOASTS = ".bk-notification, .notyf"


def test_a_store_whose_backend_is_missing_leaves_the_app_running(tabs, dask_cli_cluster, tmp_path):
    assert importlib.util.find_spec("s3fs") is None, "this test needs s3fs absent"
    env = {
        "DASK_SCHEDULER_ADDRESS": dask_cli_cluster.address,
        "FRACTAL_STORE": "s3://fractal-explorer-tests/store",
    }
    with serving(tmp_path, env, name="s3") as server:
        for _ in range(2):  # two sessions: the store is the process's, tried once
            page = tabs.open()
            page.goto(link(server, **view_of(FRAME)))
            wait_state(page, "done", "cached")
            wait_image(page, colourful, "a frame, computed without a store")
        log = server.log()
    assert log.count("cannot be opened: Install s3fs") == 1, log


@contextlib.contextmanager
def read_only_store(path):
    """A store's directory on a filesystem that refuses writes once the store exists."""
    path.mkdir()
    if os.geteuid() != 0:
        FrameStore(path)
        folders = [path, *path.iterdir()]
        for folder in folders:
            folder.chmod(0o555)
        try:
            yield path
        finally:
            for folder in folders:
                folder.chmod(0o755)
        return
    # Root writes through any mode bits: a read-only mount stops it.
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        FrameStore(path)
        subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_read_only_store_is_reported_once_and_frames_still_render(
    tabs, dask_cli_cluster, tmp_path
):
    with read_only_store(tmp_path / "store") as store:
        env = {"DASK_SCHEDULER_ADDRESS": dask_cli_cluster.address, "FRACTAL_STORE": str(store)}
        with serving(tmp_path, env, name="read-only") as server:
            page = tabs.open()
            page.goto(link(server, **view_of(FRAME)))
            assert wait_state(page, "done") == "done"
            wait_image(page, colourful, "the first frame")
            wait_text(page, TOASTS, NOT_SAVING)
            # More frames, more failed writes (frames and records): nothing more is said.
            page.get_by_role("button", name="mandelbrot").click()
            wait_url(page, lambda c: c.fractal == "mandelbrot", "fractal=mandelbrot")
            wait_text(page, ".job-history", "mandelbrot, 90 it, 256x256")
            assert wait_state(page, "done") == "done"
            wait_image(page, colourful, "the second frame")
            text = deep_text(page, TOASTS)
            assert text.count(NOT_SAVING) == 1, text
            assert "file system" in text or "Permission denied" in text, text
            log = server.log()
        assert log.count(NOT_SAVING) == 1, log
        assert list(store.rglob("*.frame")) == []
