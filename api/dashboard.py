"""The scheduler's dashboard through the app's own origin: ``/dask-dashboard/...``.

HTTP and WebSocket, relayed as jupyter-server-proxy does for Jupyter: the embedded
dashboard then works for every browser that can open the app, also when the
scheduler's port cannot be reached from it (a remote scheduler, a container). Behind the
app's authentication, as every route of the API.
"""

from __future__ import annotations

import panel as pn
import tornado.httpclient
import tornado.websocket

from components.jobs.dashboard import PROXY_KEY
from components.wiring import process_engine

from .base import ApiError, ApiHandler

#: Where the proxy serves the scheduler's dashboard, on the app's own origin.
DASHBOARD_PREFIX = "/dask-dashboard"
#: Response headers passed on from the dashboard (hop-by-hop ones are not).
_PASSED = ("Content-Type", "Cache-Control", "ETag", "Last-Modified", "Location")


async def _upstream() -> str:
    connection = process_engine().connection
    try:
        await connection.client()
    except Exception as exc:
        raise ApiError(503, f"The Dask cluster cannot be reached: {exc}") from None
    upstream = connection.dashboard_upstream
    if upstream is None:
        raise ApiError(404, "The Dask scheduler runs without a dashboard.")
    return upstream


class DashboardPage(ApiHandler):
    """A page (or script, or image) of the scheduler's dashboard, fetched by the server."""

    async def get(self, path: str) -> None:
        upstream = await _upstream()
        query = f"?{self.request.query}" if self.request.query else ""
        try:
            answer = await tornado.httpclient.AsyncHTTPClient().fetch(
                f"{upstream}/{path}{query}",
                raise_error=False,
                follow_redirects=False,
                request_timeout=30,
            )
        except OSError as exc:
            raise ApiError(502, f"The Dask dashboard did not answer: {exc}") from None
        if answer.code == 599:
            raise ApiError(502, f"The Dask dashboard did not answer: {answer.error}")
        self.set_status(answer.code)
        for name in _PASSED:
            if name in answer.headers:
                self.set_header(name, answer.headers[name])
        self.finish(answer.body or b"")


class DashboardSocket(ApiHandler, tornado.websocket.WebSocketHandler):
    """A dashboard page's Bokeh websocket, relayed message by message both ways."""

    _upstream_socket: tornado.websocket.WebSocketClientConnection | None = None
    _protocols: list[str] = []  # noqa: RUF012 (set per connection, in select_subprotocol)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        # Bokeh sends its session token as a second subprotocol: passed on as asked.
        self._protocols = list(subprotocols)
        return subprotocols[0] if subprotocols else None

    async def open(self, path: str) -> None:
        try:
            upstream = await _upstream()
        except ApiError as exc:
            self.close(1011, exc.message[:120])
            return
        query = f"?{self.request.query}" if self.request.query else ""
        url = f"ws{upstream[len('http') :]}/{path}/ws{query}"
        try:
            self._upstream_socket = await tornado.websocket.websocket_connect(
                url,
                subprotocols=self._protocols or None,
                on_message_callback=self._from_dashboard,
                max_message_size=64 * 2**20,
            )
        except (
            OSError,
            tornado.httpclient.HTTPClientError,
            tornado.websocket.WebSocketError,
        ) as exc:
            # A page the dashboard does not have (404), or one that does not upgrade: the
            # socket closes as a socket does, with a reason, and nothing is logged as a bug.
            self.close(1011, f"The Dask dashboard refused this socket: {exc}"[:120])

    def on_message(self, message) -> None:
        if self._upstream_socket is not None:
            self._upstream_socket.write_message(message, binary=isinstance(message, bytes))

    def _from_dashboard(self, message) -> None:
        if message is None:  # the dashboard closed (a restarted scheduler)
            self.close()
            return
        try:
            self.write_message(message, binary=isinstance(message, bytes))
        except tornado.websocket.WebSocketClosedError:
            self._close_upstream()

    def on_close(self) -> None:
        self._close_upstream()

    def _close_upstream(self) -> None:
        upstream, self._upstream_socket = self._upstream_socket, None
        if upstream is not None:
            upstream.close()


def announce() -> None:
    """Tell the app's sessions to embed the dashboard through this proxy (Panel imports
    plugins before any session is built): announced in Panel's cache."""
    pn.state.cache[PROXY_KEY] = DASHBOARD_PREFIX


ROUTES = [
    (rf"{DASHBOARD_PREFIX}/(.+)/ws", DashboardSocket),
    (rf"{DASHBOARD_PREFIX}/(.*)", DashboardPage),
]
