"""Browser tests: Debian's chromium, driven by Playwright, against `panel serve app.py`."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from counting import Counter
from distributed import Client

from components.testing import ROOT, AppServer, panel_cdn_from_package
from compute.engine.testing import ExternalCluster

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


@pytest.fixture(scope="module")
def local_app(tmp_path_factory):
    """The app on its default: a LocalCluster started lazily inside the server."""
    yield from AppServer.running(tmp_path_factory.mktemp("local-app"))


@pytest.fixture(scope="module")
def dask_cli_cluster(tmp_path_factory):
    """`dask scheduler` + `dask worker` subprocesses the tests can count tasks on."""
    yield from ExternalCluster.running(tmp_path_factory.mktemp("dask-cli"))


@pytest.fixture(scope="module")
def external_app(tmp_path_factory, dask_cli_cluster):
    """The app pointed at the dask CLI cluster through DASK_SCHEDULER_ADDRESS."""
    env = {"DASK_SCHEDULER_ADDRESS": dask_cli_cluster.address}
    yield from AppServer.running(tmp_path_factory.mktemp("external-app"), env)


@pytest.fixture(scope="module")
def api_app(tmp_path_factory, dask_cli_cluster):
    """The app with its HTTP API (``--plugins api``, as ``make serve``), on the CLI cluster."""
    env = {"DASK_SCHEDULER_ADDRESS": dask_cli_cluster.address}
    yield from AppServer.running(
        tmp_path_factory.mktemp("api-app"), env, name="api", args=("--plugins", "api")
    )


class Tabs:
    """Browser tabs, each in its own context (its own session, as separate users have);
    a screenshot of each is kept as it ended, and JavaScript errors fail the test."""

    def __init__(self, browser, name: str):
        self.browser, self.name = browser, name
        self.contexts: list = []
        self.errors: list[str] = []

    def open(self):
        context = self.browser.new_context(
            viewport={"width": 1500, "height": 1100}, accept_downloads=True
        )
        panel_cdn_from_package(context)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: self._error(page, exc))
        return page

    def _error(self, page, exc) -> None:
        # The embedded Dask dashboard pages are the scheduler's, not ours: one loaded while
        # a restarted scheduler is still coming up can fail its own scripts ("Bokeh is not
        # defined", "Cannot find Bokeh"). Errors whose stack points at those pages, or only
        # at scripts of another local server than the app's (the scheduler's own), are not
        # the app's; the CDN's scripts (Panel's, Bokeh's) are the app's.
        stack = exc.stack or ""
        if "/individual-" in stack:
            return
        origin = "{0.scheme}://{0.netloc}/".format(urllib.parse.urlsplit(page.url))
        scripts = set(re.findall(r"https?://[^/\s]+/", stack))
        local = re.compile(r"http://(127\.0\.0\.1|localhost):\d+/")
        if scripts and origin not in scripts and all(map(local.fullmatch, scripts)):
            return  # only another local server's scripts: the scheduler's dashboard
        self.errors.append(f"{exc}\n{stack}")

    def close(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for i, context in enumerate(self.contexts):
            for page in context.pages:
                suffix = f"-{i + 1}" if i else ""
                page.screenshot(path=str(ARTIFACTS / f"{self.name}{suffix}.png"))
            context.close()


@pytest.fixture
def tabs(browser, request):
    """Open as many tabs as a test needs: ``tabs.open()``."""
    opened = Tabs(browser, request.node.name)
    try:
        yield opened
    finally:
        opened.close()
    assert not opened.errors, f"JavaScript errors in the page: {opened.errors}"


@pytest.fixture
def page(tabs):
    """A fresh tab (its own browser context)."""
    return tabs.open()


@pytest.fixture
def counter(dask_cli_cluster):
    """A client on the test's scheduler, with fresh execution counts on its worker."""
    with Client(dask_cli_cluster.address, set_as_default=False) as client:
        yield Counter(client)
