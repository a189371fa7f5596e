"""The explorer: controls, image, status, history and dashboard wired to a render session."""

from __future__ import annotations

import asyncio
import functools
import io
import logging
import weakref

import panel as pn
import param
from panel.io.document import hold

from compute.engine import Engine, Job
from compute.fractal import COMPUTE_PARAMS, DISPLAY_PARAMS, FractalConfig, MovieSpec, to_png
from compute.fractal.config import VIEW_PARAMS
from compute.fractal.session import RenderSession
from compute.fractal.viewport import Viewport

from ..jobs import DaskDashboard, EngineWatch, JobHistory, JobStatus
from ..wiring import current_user, forget_session, process_engine, served_document, session_payer
from . import link
from .controls import FractalControls
from .movies import MovieStudio
from .navigation import Navigator
from .view import FractalView, home

logger = logging.getLogger(__name__)


def _close_session(session_context, explorer_ref=None) -> None:
    # Bound as a default argument: session-destroyed callbacks run after the served
    # module's globals are cleared.
    explorer = explorer_ref()
    if explorer is not None:
        explorer.close()
    # The context holds its document privately: Bokeh gives no other way to it by now.
    forget_session(getattr(session_context, "_document", None), explorer)


class FractalExplorer(pn.viewable.Viewer):
    """The whole explorer; what ``app.py`` serves and what a notebook displays.

    Widgets edit :attr:`config`; a :class:`~compute.fractal.session.RenderSession` turns what
    they do into Dask work: a slider being dragged (or the plot being panned) shows
    previews at once and its full frame when the hand stops; a discrete change (a
    release, a key press, Enter, a click) starts its full frame at once, and a burst of
    them costs about one frame. A change of a display parameter recolours what is shown,
    with no Dask task. This class only wires the pieces together: the session (the
    policy), the widgets, the job components (status, history, the engine's watch, the
    dashboard) and the movie studio.

    Needs HoloViews' Bokeh backend loaded first (``hv.extension("bokeh")``, as
    ``app.py`` and the notebooks do): the image is a HoloViews plot.

    Parameters
    ----------
    engine : Engine, optional
        Where the work goes: the cluster, the store of frames and history, the caps.
        Defaults to the process's (:func:`~components.wiring.process_engine`).
    sync_url : bool
        Keep the page's URL query in step with the config (served apps). The URL follows
        settled values: one browser history entry per change, not per step of a drag.
    """

    config = param.ClassSelector(class_=FractalConfig, constant=True, doc="What is asked for.")
    engine = param.ClassSelector(
        class_=Engine, constant=True, doc="Where the work goes (cluster, store, caps)."
    )
    debounce = param.Number(
        default=0.25,
        bounds=(0, 5),
        doc="Quiet seconds that end a burst of changes, or a drag, before its full frame.",
    )
    preview_edge = param.Integer(
        default=128, bounds=(16, 512), doc="Longer side of the coarse preview, in pixels."
    )
    sync_url = param.Boolean(default=False, constant=True, doc="Sync the URL query.")
    autostart = param.Boolean(
        default=True,
        constant=True,
        doc="Render the first frame and watch the cluster once displayed (see start()).",
    )
    session = param.ClassSelector(
        class_=RenderSession, constant=True, doc="The render session (the policy)."
    )
    link_note = param.String(default="", doc="What was wrong with the link, if anything.")

    def __init__(self, **params):
        params.setdefault("config", FractalConfig())
        if params.get("engine") is None:
            params["engine"] = process_engine()
        super().__init__(**params)
        location = link.page_location() if self.sync_url else None
        if location is not None:
            # Before any component exists, so that all of them (the plot's first axes
            # included) start from the link's view: a plot drawn at the default view and
            # moved afterwards could report the default back as a zoom.
            # Read here, not by Panel's sync: its parser raises on some values and drops
            # others silently; this way every bad value is named in link_note.
            self.link_note = link.read(location, self.config)
            link.sync(location, self.config, lambda note: setattr(self, "link_note", note))
            # A link whose values are each valid but together over budget is refused when
            # the first job is asked for, with the message saying what to lower.
        self.controls = FractalControls(config=self.config)
        aspect = self.config.height / self.config.width
        x_range, y_range = home(aspect)
        self.view = FractalView(
            origin=self.config.viewport,
            aspect=aspect,
            x_range=x_range,
            y_range=y_range,
            colormap=self.config.colormap,
        )
        self.navigator = Navigator(
            self.config, self.view, self.controls, lambda exc: self.session.refuse(exc)
        )
        self.status = JobStatus()
        #: The logged-in user (None without authentication): the history and background
        #: jobs shown are theirs only; without authentication, everyone's.
        self.user = current_user()
        # Filled from the store once the page has loaded (see start): reading up to 200
        # records must not hold the event loop while the session is built.
        self.history = JobHistory(
            title="Job history (newest last; click a row to restore it)", plain=["frame"]
        )
        # Closed until opened: its pages would compete with the workers (see DaskDashboard).
        self.dashboard = DaskDashboard(shown=False)
        with param.edit_constant(self):
            self.session = RenderSession(
                self.view,
                engine=self.engine,
                debounce=self.debounce,
                preview_edge=self.preview_edge,
                normalization=self.config.normalization,
                payer=session_payer(self.user),
                owner=self.user,
            )
        # This session's own: a notification for a movie that another session's request
        # finished must appear here, not in whichever session's callback is running.
        self._notifications = pn.state.notifications
        # The served document, if any: what the session writes to the page goes there in
        # one next-tick callback per tick (see _later).
        self._doc = served_document()
        self._pending: dict = {}
        self.movies = MovieStudio(
            current=lambda: self.config,
            registry=self.session.registry,
            later=self._later,
            notify=self._notify,
            payer=self.session.payer,
            owner=self.user,
        )
        self.watch = EngineWatch(self.engine, self.dashboard, doc=self._doc, notify=self._notify)
        self._wire()

        self._download = pn.widgets.FileDownload(
            callback=self._png,
            filename="fractal.png",
            label="Download PNG",
            color="light",
            css_classes=["download-png"],
        )
        said = pn.bind(
            # Messages are text: shown as written, never as Markdown or HTML of a link's.
            lambda refused, note: link.plain_markdown(refused or note),
            self.session.param.message,
            self.param.link_note,
        )
        self._alert = pn.pane.Alert(
            said, alert_type="danger", visible=pn.bind(bool, said), css_classes=["input-error"]
        )
        if self._doc is not None:
            pn.state.on_session_destroyed(
                functools.partial(_close_session, explorer_ref=weakref.ref(self))
            )
        if self.autostart:
            pn.state.onload(self.start)

    def _wire(self) -> None:
        """Every watcher, in one place: parameters in, a call into the session out."""
        config, session = self.config, self.session
        config.param.watch(self._compute_changed, list(COMPUTE_PARAMS))
        config.param.watch(self._display_changed, list(DISPLAY_PARAMS))
        self.controls.param.watch(self._dragged, "live")
        self.controls.param.watch(lambda _: self.reset_view(), "reset")
        self.view.param.watch(self._panned, "live_range")
        self.view.param.watch(self._zoomed, ["x_range", "y_range"])
        self.status.param.watch(lambda _: self.cancel(), "cancel")
        self.history.param.watch(self._restore, "selected")
        self.param.watch(lambda e: setattr(session, "debounce", e.new), "debounce")
        self.param.watch(lambda e: setattr(session, "preview_edge", e.new), "preview_edge")
        # (The status bar coalesces its own drawings: see JobStatus.)
        session.param.watch(self._session_changed, ["job", "state"])
        session.param.watch(
            lambda *_: self._later("banner", self._stale_changed),
            ["stale", "stale_reason", "provisional"],
        )
        session.param.watch(
            lambda e: e.new and self._later(id(e.new), lambda: self.history.add(e.new)), "ended"
        )
        session.param.watch(lambda e: self.watch.unreachable(e.new), "cluster_error")
        session.param.watch(lambda e: e.new and self.watch.show_dashboard(), "complete")
        self.movies.param.watch(lambda e: e.new and self.history.add(e.new), "ended")
        self.watch.param.watch(lambda _: self._back(), "back")
        self.watch.param.watch(lambda _: self.close(), "closed")

    # -- what tests, notebooks and the template read --------------------------------------
    @property
    def connection(self):
        """How the cluster is reached (the engine's)."""
        return self.engine.connection

    @property
    def store(self):
        """Where frames and the job history persist (the engine's; None: in memory only)."""
        return self.engine.store

    @property
    def job(self) -> Job | None:
        """The job of the last full frame asked for."""
        return self.session.job

    @property
    def shown_key(self) -> str | None:
        """Key of the frame the image shows (or previews)."""
        return self.session.shown_key

    @property
    def message(self) -> str:
        """Why the last request was refused, or what was wrong with the link."""
        return self.session.message or self.link_note

    @property
    def cluster_status(self) -> str:
        """The connection's status, as the page last saw it."""
        return self.watch.status

    @property
    def cluster_error(self) -> str:
        """Why the cluster cannot be reached ("" while it can)."""
        return self.watch.error

    # -- layout ----------------------------------------------------------------------------------
    @property
    def image(self) -> pn.viewable.Viewable:
        """The image with its status, messages and download button (a template's main)."""
        return pn.Column(
            self.watch,
            self._alert,
            pn.Row(self.status, self._download),
            self.view,
            # Fixed: the plot's own width plus its axes, so that neighbours never overlap it.
            width=self.view.size + 140,
            css_classes=["fractal-image"],
        )

    def __panel__(self):
        return pn.Column(
            pn.Row(
                pn.Column(self.controls, width=340),
                self.image,
                pn.Column(self.movies, self.dashboard, width=420),
            ),
            self.history,
        )

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Render the first frame now and start watching the engine (every second).

        Called when the page has loaded (unless ``autostart=False``). The watch keeps the
        banner and the dashboard link current, retries a lost cluster, and the work is
        resumed when it is back (see :class:`~components.jobs.EngineWatch`).
        """
        if self.watch.state != "stopped":
            return
        self.watch.start()
        pn.state.execute(self.render)
        pn.state.execute(self.movies.watch)
        pn.state.execute(self.load_history)

    def close(self) -> None:
        """Stop this explorer's work (a closed tab): cancel its jobs unless others want them."""
        if self.watch.state == "closed" and self.session.state == "closed":
            return
        self.watch.stop()
        self.movies.close()
        self.session.close()

    async def check_cluster(self) -> None:
        """Check the engine now (what the watch does every second)."""
        await self.watch.check()

    def _back(self) -> None:
        # The cluster is connected again: the view asked for renders, and a new client's
        # registry has the movies to follow.
        self.session.resume()
        pn.state.execute(self.movies.watch)

    async def load_history(self) -> None:
        """The stored history (this user's, with authentication), read in a thread once
        the page has loaded, ahead of the rows this session added meanwhile."""
        if self.store is None:
            return
        try:
            records = await asyncio.to_thread(
                self.store.history, self.history.limit, owner=self.user
            )
        except Exception as exc:  # an unreachable store costs the history, not the app
            logger.warning("reading the job history from %r failed: %s", self.store, exc)
            return
        if records and self.watch.state != "closed":
            self._later("history", lambda: self.history.prepend(records))

    # -- user actions -----------------------------------------------------------------------------
    async def render(self) -> Job | None:
        """Submit the current config now (no debounce); returns the job, or None if refused."""
        return await self.session.render(self.config)

    def cancel(self) -> None:
        """Stop wanting the current job (the Cancel button)."""
        if self.session.cancel():
            self._notify("warning", "Cancelled.")

    def reset_view(self) -> None:
        """Return to the default viewport."""
        defaults = {name: FractalConfig.param[name].default for name in VIEW_PARAMS}
        self.move_to(Viewport(**defaults))

    def move_to(self, viewport: Viewport) -> None:
        """Show ``viewport`` (iterations following its depth if the controls say so)."""
        try:
            self.config.param.update(**self.navigator.values(viewport))
        except ValueError as exc:
            self.session.refuse(exc)

    # -- watchers: parameters in, a call into the session ---------------------------------------
    def _compute_changed(self, *events) -> None:
        names = {e.name for e in events}
        config = self.config
        if names & {*VIEW_PARAMS, "width", "height"}:
            try:
                config.validate()  # the view's canonical strings (a link, a notebook)
            except ValueError:
                pass  # refused by the session, which says why
            else:
                self.navigator.place()
        self.session.request(config)

    def _dragged(self, event) -> None:
        logger.info("dragged %s config %s %s", event.new, self.config.c_real, self.config.max_iter)
        if event.new:
            self._explore(**event.new)

    def _panned(self, event) -> None:
        if event.new is None or not self.navigator.differs(*event.new):
            return
        viewport = self.navigator.gestured(*event.new)
        if viewport is not None:
            self._explore(**self.navigator.values(viewport))

    def _explore(self, **changes) -> None:
        try:
            live = self.config.copy(**changes)
        except ValueError as exc:  # e.g. dragged over the pixel budget
            self.session.refuse(exc)
            return
        self.session.explore(live)

    def _zoomed(self, *_events) -> None:
        view = self.view
        if self.navigator.differs(view.x_range, view.y_range):
            viewport = self.navigator.gestured(view.x_range, view.y_range)
            if viewport is not None:
                self.move_to(viewport)

    def _display_changed(self, *events) -> None:
        for event in events:
            if event.name == "colormap":
                self.view.colormap = event.new
            elif event.name == "normalization":
                self.session.normalization = event.new

    def _restore(self, event) -> None:
        record = event.new
        if record is None:
            return
        if record.kind not in ("frame", "movie"):  # a call or a graph: nothing to show
            self._notify("info", f"A {record.kind} job has no view to restore.")
            self.history.selected = None
            return
        try:
            restored = self.engine.kinds.restore(record)
        except ValueError as exc:
            self.session.refuse(exc)
            return
        if isinstance(restored, MovieSpec):
            pn.state.execute(functools.partial(self.movies.open, restored))
        else:
            self.config.param.update(**restored.config.values())
        self.history.selected = None  # so that clicking the same row again restores again

    # -- watchers: the session out, to what is drawn -------------------------------------------
    def _later(self, key, write) -> None:
        """Run ``write`` on the document's next tick, with every other write of this tick.

        A light frame's life (the banner's changes, the history row) takes a few
        milliseconds; written as it happens, each change was a websocket message of its
        own, and each message a pass of the browser's layout and painting.
        Writes under one key replace each other (they draw the current state); all of
        them go in one message. Without a served document (a notebook), at once.
        """
        doc = self._doc
        # Bokeh clears a destroyed document's session context.
        if doc is None or doc.session_context is None:
            write()
            return
        first = not self._pending
        self._pending[key] = write
        if first:
            doc.add_next_tick_callback(self._flush)

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        with hold(self._doc, policy="collect"):
            for write in pending.values():
                write()

    def _session_changed(self, *_events) -> None:
        session = self.session
        self.status.param.update(job=session.job, phase=session.state)
        if session.state == "failed" and session.job is not None and session.job.error:
            self._notify("error", f"Rendering failed: {session.job.error}")

    def _stale_changed(self, *_events) -> None:
        session = self.session
        self.view.param.update(
            stale=session.stale, stale_reason=session.stale_reason, provisional=session.provisional
        )

    # -- feedback --------------------------------------------------------------------------------
    def _notify(self, kind: str, text: str, duration: int | None = None) -> None:
        logger.info("%s: %s", kind, text)
        notifications = self._notifications
        if notifications is not None:
            if duration is None:  # errors stay until dismissed
                duration = 4000 if kind != "error" else 0
            getattr(notifications, kind)(text, duration=duration)

    def _png(self):
        job = self.job
        if job is None or job.state not in ("done", "cached"):
            self._notify("warning", "The image is not finished yet.")
            return None
        self._download.filename = f"{job.key}.png"
        return io.BytesIO(to_png(job.frame, self.config.colormap, self.config.normalization))
