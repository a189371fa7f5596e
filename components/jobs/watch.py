"""A page's watch over its engine: the cluster's banner, the dashboard, the store, the tab.

Any page that offloads work needs the same few things told and done, whatever its
work: a banner while the cluster cannot be reached (retrying meanwhile), its work
resumed when the cluster is back, the dashboard's pages shown once the page has
something to show, a store that stopped saving said once, and the page's work stopped
as soon as its tab is closed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import panel as pn
import param

from compute.engine import Engine

from ..wiring import tab_closed
from .dashboard import DaskDashboard, browser_link

logger = logging.getLogger(__name__)

#: What the watch is doing (instead of a "reconnecting" flag).
WATCH_STATES = ("stopped", "watching", "reconnecting", "closed")


class EngineWatch(pn.viewable.Viewer):
    """Checks an engine every :attr:`period` seconds for one page, and draws the banner.

    Parameters
    ----------
    engine : Engine
        What is watched.
    dashboard : DaskDashboard
        Whose link it keeps current.
    doc : bokeh Document, optional
        The page's document: its tab closing ends the watch (``closed`` is triggered).
    notify : callable, optional
        ``notify(kind, text, duration=...)`` tells the page something ("warning", ...).
    """

    engine = param.ClassSelector(class_=Engine, constant=True, doc="What is watched.")
    state = param.Selector(default="stopped", objects=list(WATCH_STATES), doc="What it does.")
    status = param.String(default="idle", doc="The connection's status.")
    error = param.String(default="", doc="Why the cluster cannot be reached.")
    period = param.Number(default=1.0, bounds=(0.05, None), doc="Seconds between checks.")
    back = param.Event(doc="The cluster is connected again (or for the first time): resume.")
    closed = param.Event(doc="The page's tab was closed: stop its work.")

    def __init__(
        self,
        engine: Engine,
        dashboard: DaskDashboard,
        *,
        doc=None,
        notify: Callable[[str, str], None] | None = None,
        **params,
    ):
        super().__init__(engine=engine, **params)
        self.dashboard = dashboard
        self._doc = doc
        self._notify = notify
        self._store_told = False
        self._ready = False
        self._callback = None
        self._banner = pn.pane.Alert(
            self.param.error.rx.pipe(
                lambda e: (
                    f"**Dask cluster unreachable.** {e} Retrying; work resumes when it is back."
                )
            ),
            alert_type="danger",
            visible=self.param.error.rx.bool(),
            css_classes=["cluster-banner"],
        )

    def start(self) -> None:
        """Check every :attr:`period` seconds, from now on (once the page has loaded)."""
        if self.state == "stopped":
            self.state = "watching"
            self._callback = pn.state.add_periodic_callback(
                self.check, period=round(self.period * 1000)
            )

    def stop(self) -> None:
        """Stop checking (the page is going away)."""
        self.state = "closed"
        if self._callback is not None:
            self._callback.stop()
            self._callback = None

    def unreachable(self, error: str) -> None:
        """Work of the page found the cluster unreachable: say why, until it is back."""
        if error:
            self.error = error

    def show_dashboard(self) -> None:
        """The page has something to show: the dashboard's pages may load now (they cost
        the browser a second and a half of CPU each, never in the way of a first result)."""
        self._ready = True
        if self.dashboard.link is None and self.status == "connected":
            self._show(browser_link(self.engine.connection))

    async def check(self) -> None:
        """Update the status and banner; reconnect a lost cluster; tell when it is back."""
        if self.state == "closed":
            return
        if tab_closed(self._doc):
            logger.info("a tab closed: its work stops now, not when Bokeh drops its session")
            self.stop()
            self.param.trigger("closed")
            return
        self._tell_store_problem()
        connection = self.engine.connection
        status, was = connection.status, self.status
        self.status = status
        if status == "connected":
            self.error = ""
            link = browser_link(connection)
            if self._ready or self.dashboard.link is not None:
                if was != "connected" and link == self.dashboard.link:
                    # A restarted scheduler serves new dashboard sessions: reload the pages.
                    self.dashboard.param.trigger("link")
                self._show(link)
            if was != "connected":
                self.param.trigger("back")
            return
        if status in ("lost", "reconnecting") and self.state == "watching":
            self.error = connection.error or "The scheduler stopped answering."
            if status == "lost":
                self.state = "reconnecting"
                try:
                    await connection.client()
                except Exception as exc:
                    self.error = str(exc)
                finally:
                    if self.state == "reconnecting":
                        self.state = "watching"

    def _show(self, link: str | None) -> None:
        pn.state.execute(functools.partial(self._show_pages, link))

    async def _show_pages(self, link: str | None) -> None:
        # No frames of pages the scheduler does not serve: a message instead.
        pages = link is not None and await self.engine.connection.dashboard_pages()
        self.dashboard.param.update(
            link=link if pages else None,
            unavailable="" if pages else "This Dask scheduler runs without a dashboard.",
        )

    def _tell_store_problem(self) -> None:
        """Say once per page that the store stopped saving; the store logs it once per
        process."""
        store = self.engine.store
        problem = store.problem if store is not None else ""
        if problem and not self._store_told and self._notify is not None:
            self._store_told = True
            # Kept until dismissed: it holds for the whole session, not one action.
            self._notify("warning", problem, duration=0)

    def __panel__(self):
        return self._banner
