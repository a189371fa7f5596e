"""Browser tests: Debian's chromium, driven by Playwright, against `panel serve app.py`."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from pages import panel_cdn_from_package
from support import ROOT, AppServer, ExternalCluster

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "ui"


@pytest.fixture(scope="module")
def browser():
    """One chromium per module: Playwright's sync API holds an event loop while it runs,
    which asyncio tests elsewhere in the session must not find."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()


def _serve(logs: Path, env: dict | None = None):
    server = AppServer(logs, env=env)
    try:
        server.start()
        yield server
    finally:
        code = server.stop()
    log = server.log()
    # SIGTERM is how it is stopped.
    assert code in (0, -signal.SIGTERM), f"panel serve exited with {code}:\n{log}"
    assert not server.leftovers, f"processes outlived panel serve:\n{log}"
    # A traceback through our code is a failure of the app. Others come from the server
    # machinery around it when tabs close mid-message (Tornado, Bokeh) and from the Dask
    # dashboard's progress page (distributed 2026.8 with Bokeh 3.9 sets `title.text` on
    # a str; its bars still update): those are not ours to fix here.
    ours = (f"{ROOT}/components/", f"{ROOT}/compute/", f"{ROOT}/app.py")
    errors = [
        block
        for block in log.split("Traceback (most recent call last):")[1:]
        if any(path in block for path in ours)
    ]
    assert not errors, log


@pytest.fixture(scope="module")
def local_app(tmp_path_factory):
    """The app on its default: a LocalCluster started lazily inside the server."""
    yield from _serve(tmp_path_factory.mktemp("local-app"))


@pytest.fixture(scope="module")
def dask_cli_cluster(tmp_path_factory):
    """`dask scheduler` + `dask worker` subprocesses the tests can count tasks on."""
    yield from ExternalCluster.running(tmp_path_factory.mktemp("dask-cli"))


@pytest.fixture(scope="module")
def external_app(tmp_path_factory, dask_cli_cluster):
    """The app pointed at the dask CLI cluster through DASK_SCHEDULER_ADDRESS."""
    env = {"DASK_SCHEDULER_ADDRESS": dask_cli_cluster.address}
    yield from _serve(tmp_path_factory.mktemp("external-app"), env)


@pytest.fixture
def page(browser, request):
    """A fresh tab (its own browser context); a screenshot is kept of how it ended."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100}, accept_downloads=True)
    panel_cdn_from_package(context)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if not page.is_closed():
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
