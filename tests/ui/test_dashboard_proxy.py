"""The embedded Dask dashboard through the app's own origin, for a browser that cannot
reach the scheduler: every request to another origin is refused by the browser itself
(Playwright routes), on the default local cluster and on a `dask scheduler` + `dask worker`.
"""

from __future__ import annotations

import re

import pytest
from pages import open_dashboard, wait_state, wait_until

from components.testing import AppServer

pytestmark = [pytest.mark.browser, pytest.mark.cluster]


@pytest.fixture(scope="module")
def local_api_app(tmp_path_factory):
    """The app on its default local cluster, with ``--plugins api`` as ``make serve``."""
    yield from AppServer.running(
        tmp_path_factory.mktemp("local-api-app"), name="local-api", args=("--plugins", "api")
    )


def only_the_app(context, app) -> list[str]:
    """Refuse every request (HTTP or WebSocket) to an origin other than the app's."""
    origin = app.url.rsplit("/", 1)[0]
    host = origin.split("://", 1)[1]
    refused: list[str] = []

    def refuse(route):
        refused.append(route.request.url)
        route.abort()

    context.route(re.compile(rf"^(?!https?://{re.escape(host)}/).*"), refuse)
    return refused


@pytest.mark.parametrize("which", ["local_api_app", "api_app"])
def test_the_dashboard_works_through_the_app_for_a_browser_that_cannot_reach_it(
    tabs, request, which
):
    app = request.getfixturevalue(which)
    page = tabs.open()
    refused = only_the_app(page.context, app)
    sockets: dict[str, int] = {}

    def opened(ws):
        sockets[ws.url] = 0
        ws.on("framereceived", lambda _, url=ws.url: sockets.__setitem__(url, sockets[url] + 1))

    page.on("websocket", opened)
    page.goto(app.url + "?width=256&height=256&max_iter=100")
    wait_state(page, "done", "cached")
    open_dashboard(page)
    frames = page.locator("iframe")
    sources = [frames.nth(i).get_attribute("src") for i in range(frames.count())]
    assert sources
    assert all(s.startswith("/dask-dashboard/individual-") for s in sources)
    link = page.locator(".dask-dashboard-link").first.get_attribute("href")
    assert link == "/dask-dashboard/status"
    page.frame_locator("iframe.dask-individual-task-stream").locator("canvas").first.wait_for()
    # Each page's Bokeh document talks to the scheduler through the proxy's websocket.
    wait_until(
        lambda: sum(1 for url, n in sockets.items() if "/dask-dashboard/" in url and n) >= 3,
        "the dashboard pages' websockets to carry messages",
    )
    # Nothing of the dashboard was asked for at the scheduler's own address.
    assert not [url for url in refused if "individual-" in url or url.endswith("/ws")]
