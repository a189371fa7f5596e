"""The Dask dashboard, embedded: the scheduler's ``/individual-*`` pages as iframes."""

from __future__ import annotations

import html

import dask
import panel as pn
import param

#: Where the API (``api.dashboard``) announces its dashboard proxy (Panel's cache): the
#: path prefix.
PROXY_KEY = "fractal-explorer:dashboard-proxy"
#: Dask's default ``distributed.dashboard.link``: anything else is a deployment's own proxy.
_DEFAULT_LINK = "{scheme}://{host}:{port}/status"


def browser_link(connection) -> str | None:
    """The dashboard link a browser anywhere can open, or None without a dashboard.

    A deployment's own ``distributed.dashboard.link`` (a Jupyter server proxy path) is
    kept; otherwise, when the app serves its dashboard proxy (``--plugins api``), the
    proxy's path on the app's own origin; otherwise the scheduler's own address.
    """
    link = connection.dashboard_link
    if link is None:
        return None
    prefix = pn.state.cache.get(PROXY_KEY)
    if prefix is None or dask.config.get("distributed.dashboard.link") != _DEFAULT_LINK:
        return link
    return f"{prefix}/status"


#: Scheduler pages embedded by default: what the cluster does, how far, with what memory.
PAGES = {
    "individual-task-stream": "Task stream",
    "individual-progress": "Progress",
    "individual-workers-memory": "Worker memory",
}


def dashboard_base(link: str) -> str:
    """The dashboard's root from the client's ``dashboard_link`` (which ends in ``/status``).

    The link is Dask's own, so ``distributed.dashboard.link`` (e.g. a Jupyter server proxy
    path) is already applied: the pages are reached through the same proxy.
    """
    link = link.rstrip("/")
    return link[: -len("/status")] if link.endswith("/status") else link


class DaskDashboard(pn.viewable.Viewer):
    """Iframes of the scheduler's dashboard pages, and a link to the full dashboard.

    The pages are Bokeh documents of their own, served by the scheduler and redrawn as
    tasks run: measured, three of them cost chromium three seconds of CPU during a heavy
    frame, time taken from the workers on a small machine. :attr:`shown` embeds them;
    the card it is in opens and closes them (the explorer starts it closed).
    """

    link = param.String(
        default=None, allow_None=True, doc="The client's dashboard link; None hides the pages."
    )
    pages = param.ListSelector(
        default=list(PAGES), objects=list(PAGES), doc="Which /individual-* pages to embed."
    )
    width = param.Integer(default=440, bounds=(200, 2000), doc="Width of the panel.")
    height = param.Integer(default=220, bounds=(100, 2000), doc="Height of each page.")
    shown = param.Boolean(default=True, doc="Embed the pages (the card is open).")
    unavailable = param.String(
        default="", doc="Why there is no dashboard to show (a scheduler without one)."
    )

    def __init__(self, **params):
        super().__init__(**params)
        self._card = pn.Card(
            self._content,
            title="Dask cluster",
            collapsed=not self.shown,
            width=self.width,
            css_classes=["dask-dashboard"],
        )
        self._card.param.watch(lambda e: setattr(self, "shown", not e.new), "collapsed")
        self.param.watch(lambda e: setattr(self._card, "collapsed", not e.new), "shown")

    @param.depends("link", "pages", "height", "shown", "unavailable")
    def _content(self):
        if not self.link:
            note = self.unavailable or "The Dask dashboard appears once the cluster is reached."
            return pn.pane.Markdown(f"*{note}*", css_classes=["dask-dashboard-note"])
        link = pn.pane.HTML(
            f'<a href="{html.escape(self.link, quote=True)}" target="_blank" '
            'class="dask-dashboard-link">Open the full Dask dashboard</a>'
        )
        if not self.shown:
            return link
        base = html.escape(dashboard_base(self.link), quote=True)
        frames = [
            pn.pane.HTML(
                f'<iframe src="{base}/{page}" title="{PAGES[page]}" class="dask-{page}" '
                f'style="width:100%;height:{self.height}px;border:0"></iframe>',
                width=self.width - 20,
                height=self.height + 10,
            )
            for page in self.pages
        ]
        return pn.Column(link, *frames)

    def __panel__(self):
        return self._card
