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
from compute.fractal.session import RenderSession

from . import link
from .controls import FractalControls
from .dashboard import DaskDashboard, browser_link
from .history import JobHistory
from .movies import MovieStudio
from .status import JobStatus
from .view import FractalView
from .wiring import (
    current_user,
    forget_session,
    process_engine,
    served_document,
    session_payer,
    tab_closed,
)

logger = logging.getLogger(__name__)

#: What the cluster watchdog is doing (instead of a "reconnecting" flag).
WATCHDOG_STATES = ("stopped", "watching", "reconnecting", "closed")


def _moved(shown: tuple, wanted: tuple, pixels: int) -> bool:
    # The browser echoes ranges back with float noise: a move of less than half a pixel
    # of the frame is the same view, not a new frame to compute.
    half = (wanted[1] - wanted[0]) / pixels / 2
    return any(abs(s - w) >= half for s, w in zip(shown, wanted, strict=True))


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
    with no Dask task. This class only wires widgets to the session and draws.

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
    watchdog = param.Selector(
        default="stopped", objects=list(WATCHDOG_STATES), doc="What the cluster watchdog does."
    )
    link_note = param.String(default="", doc="What was wrong with the link, if anything.")
    cluster_status = param.String(default="idle", doc="The connection's status.")
    cluster_error = param.String(default="", doc="Why the cluster cannot be reached.")

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
            location.sync(self.config, list(link.LINK_PARAMS), on_error=self._url_error)
            # A link whose values are each valid but together over budget is refused when
            # the first job is asked for, with the message saying what to lower.
        self.controls = FractalControls(config=self.config)
        self.view = FractalView(
            x_range=self.config.x_range,
            y_range=self.config.y_range,
            colormap=self.config.colormap,
        )
        self.status = JobStatus()
        #: The logged-in user (None without authentication): the history and background
        #: jobs shown are theirs only; without authentication, everyone's.
        self.user = current_user()
        # Filled from the store once the page has loaded (see start): reading up to 200
        # records must not hold the event loop while the session is built.
        self.history = JobHistory()
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
        self.movies = MovieStudio(
            current=lambda: self.config,
            registry=self.session.registry,
            payer=self.session.payer,
            owner=self.user,
        )
        self._unsubscribe = None
        self._movie_registry = None
        # This session's own: a notification for a movie that another session's request
        # finished must appear here, not in whichever session's callback is running.
        self._notifications = pn.state.notifications
        self._store_told = False
        self._watchdog_cb = None
        # The served document, if any: what the session writes to the page goes there in
        # one next-tick callback per tick (see _later).
        self._doc = served_document()
        self._pending: dict = {}
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
        self._banner = pn.pane.Alert(
            self.param.cluster_error.rx.pipe(
                lambda e: (
                    f"**Dask cluster unreachable.** {e} Retrying; work resumes when it is back."
                )
            ),
            alert_type="danger",
            visible=self.param.cluster_error.rx.bool(),
            css_classes=["cluster-banner"],
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
        session.param.watch(self._cluster_unreachable, "cluster_error")
        session.param.watch(self._first_frame, "complete")

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

    # -- layout ----------------------------------------------------------------------------------
    @property
    def image(self) -> pn.viewable.Viewable:
        """The image with its status, messages and download button (a template's main)."""
        return pn.Column(
            self._banner,
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
        """Render the first frame now and start watching the cluster (every second).

        Called when the page has loaded (unless ``autostart=False``). The watchdog keeps
        the banner and the dashboard link current, retries a lost cluster and resumes the
        work when it is back.
        """
        if self.watchdog != "stopped":
            return
        self.watchdog = "watching"
        self._watchdog_cb = pn.state.add_periodic_callback(self.check_cluster, period=1000)
        pn.state.execute(self.render)
        pn.state.execute(self._watch_movies)
        pn.state.execute(self.load_history)

    def close(self) -> None:
        """Stop this explorer's work (a closed tab): cancel its jobs unless others want them."""
        if self.watchdog == "closed":
            return
        self.watchdog = "closed"
        if self._watchdog_cb is not None:
            self._watchdog_cb.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._movie_registry = None
        self.movies.close()
        self.session.close()

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
        if records and self.watchdog != "closed":
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
        self.config.param.update(
            x_range=FractalConfig.param.x_range.default,
            y_range=FractalConfig.param.y_range.default,
        )

    # -- watchers: parameters in, a call into the session ---------------------------------------
    def _compute_changed(self, *events) -> None:
        names = {e.name for e in events}
        config = self.config
        if names & {"x_range", "y_range"} and (
            self.view.x_range != config.x_range or self.view.y_range != config.y_range
        ):
            self.view.set_viewport(config.x_range, config.y_range)
        self.session.request(config)

    def _dragged(self, event) -> None:
        logger.info("dragged %s config %s %s", event.new, self.config.c_real, self.config.max_iter)
        if event.new:
            self._explore(**event.new)

    def _panned(self, event) -> None:
        if event.new is None or not self._differs(*event.new):
            return
        x_range, y_range = event.new
        self._explore(x_range=x_range, y_range=y_range)

    def _explore(self, **changes) -> None:
        try:
            live = self.config.copy(**changes)
        except ValueError as exc:  # e.g. dragged over the pixel budget
            self.session.refuse(exc)
            return
        self.session.explore(live)

    def _zoomed(self, *_events) -> None:
        view = self.view
        if self._differs(view.x_range, view.y_range):
            try:
                self.config.param.update(x_range=view.x_range, y_range=view.y_range)
            except ValueError as exc:
                self.session.refuse(exc)

    def _differs(self, x_range, y_range) -> bool:
        config = self.config
        return _moved(x_range, config.x_range, config.width) or _moved(
            y_range, config.y_range, config.height
        )

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

    def _first_frame(self, event) -> None:
        # The dashboard's pages cost the browser about a second and a half of CPU each
        # to load: they load after the first complete frame, never in its way.
        if event.new and self.dashboard.link is None and self.cluster_status == "connected":
            self._show_dashboard(browser_link(self.connection))

    async def _watch_movies(self) -> None:
        """Follow the movies of every session: in flight now, and each as it ends."""
        registry = await self.session.registry()
        if registry is None or self.watchdog == "closed" or registry is self._movie_registry:
            return
        # A new registry after an outage (a new client): follow its movies instead.
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._movie_registry = registry
        self._unsubscribe = registry.subscribe(self._detached_changed)
        movies = [j for j in registry.detached.values() if j.kind == "movie" and self._sees(j)]
        if movies and self.movies.job is None:
            newest = max(movies, key=lambda j: j.submitted_at)
            self._later("movie", lambda: self.movies.follow(newest))

    def _sees(self, job: Job) -> bool:
        # With authentication, a user follows their own background jobs only (another
        # user's movie of the same view shares its frames, not its notifications).
        registry = self._movie_registry
        return self.user is None or (registry is not None and self.user in registry.users(job))

    def _detached_changed(self, job: Job) -> None:
        # Called on the loop from whichever session's work started or ended the job.
        if job.kind == "movie" and self.watchdog != "closed" and self._sees(job):
            self._later(("movie", job.key, job.done), functools.partial(self._movie_changed, job))

    def _movie_changed(self, job: Job) -> None:
        shown = self.movies.job
        if shown is None or shown.done or shown is job:
            self.movies.follow(job)
        if job.done:
            self.history.add(job.record())
            kind, said = {
                "done": ("success", "finished"),
                "cancelled": ("warning", "was cancelled"),
                "failed": ("error", f"failed: {job.error}"),
            }.get(job.state, ("info", job.state))
            self._notify(kind, f"Movie {said}: {job.summary}")

    def _show_dashboard(self, link: str | None) -> None:
        pn.state.execute(functools.partial(self._show_dashboard_pages, link))

    async def _show_dashboard_pages(self, link: str | None) -> None:
        # No frames of pages the scheduler does not serve: a message instead.
        pages = link is not None and await self.connection.dashboard_pages()
        self.dashboard.param.update(
            link=link if pages else None,
            unavailable="" if pages else "This Dask scheduler runs without a dashboard.",
        )

    def _cluster_unreachable(self, event) -> None:
        if event.new:
            self.cluster_error = event.new

    # -- the cluster ----------------------------------------------------------------------------
    async def check_cluster(self) -> None:
        """Update the cluster status and banner; reconnect and resume if needed."""
        if self.watchdog == "closed":
            return
        if tab_closed(self._doc):
            logger.info("a tab closed: its work stops now, not when Bokeh drops its session")
            self.close()
            return
        self._tell_store_problem()
        status = self.connection.status
        was = self.cluster_status
        self.cluster_status = status
        if status == "connected":
            self.cluster_error = ""
            link = browser_link(self.connection)
            if self.session.complete or self.dashboard.link is not None:
                if was != "connected" and link == self.dashboard.link:
                    # A restarted scheduler serves new dashboard sessions: reload the pages.
                    self.dashboard.param.trigger("link")
                self._show_dashboard(link)
            if was != "connected":
                self.session.resume()
                if was != "idle":
                    pn.state.execute(self._watch_movies)
            return
        if status in ("lost", "reconnecting") and self.watchdog == "watching":
            self.cluster_error = self.connection.error or "The scheduler stopped answering."
            if status == "lost":
                self.watchdog = "reconnecting"
                try:
                    await self.connection.client()
                except Exception as exc:
                    self.cluster_error = str(exc)
                finally:
                    if self.watchdog == "reconnecting":
                        self.watchdog = "watching"

    # -- feedback --------------------------------------------------------------------------------
    def _tell_store_problem(self) -> None:
        """Say once per session that the store stopped saving (:attr:`FrameStore.problem`);
        the store logs it once per process."""
        problem = self.store.problem if self.store is not None else ""
        if problem and not self._store_told:
            self._store_told = True
            if self._notifications is not None:
                # Kept until dismissed: it holds for the whole session, not one action.
                self._notifications.warning(problem, duration=0)

    def _notify(self, kind: str, text: str) -> None:
        logger.info("%s: %s", kind, text)
        notifications = self._notifications
        if notifications is not None:
            getattr(notifications, kind)(text, duration=4000 if kind != "error" else 0)

    def _url_error(self, mapped: dict) -> None:
        # A change of the link after the page loaded (back, forward) that Panel could not
        # apply at once: each value on its own, the bad ones named.
        note = link.apply(self.config, {name: (v, repr(v)) for name, v in mapped.items()})
        if note:
            self.link_note = note
            # Put what is really shown back in the link, so that sharing it shares that.
            pn.state.location.update_query(**{n: link.text(self.config, n) for n in mapped})

    def _png(self):
        job = self.job
        if job is None or job.state not in ("done", "cached"):
            self._notify("warning", "The image is not finished yet.")
            return None
        self._download.filename = f"{job.key}.png"
        return io.BytesIO(to_png(job.frame, self.config.colormap, self.config.normalization))
