"""The explorer: controls, image, status, history and dashboard wired to the engine."""

from __future__ import annotations

import asyncio
import functools
import io
import json
import logging
import weakref

import panel as pn
import param

from compute import (
    ClusterConnection,
    Debouncer,
    FractalConfig,
    FrameStore,
    Job,
    JobCancelled,
    JobFailed,
    JobManager,
    JobRegistry,
    Normalizer,
    to_png,
)
from compute.config import COMPUTE_PARAMS, DISPLAY_PARAMS

from .controls import FractalControls
from .dashboard import DaskDashboard
from .history import JobHistory
from .status import JobStatus
from .view import FractalView

logger = logging.getLogger(__name__)

_CONNECTION_KEY = "fractal-explorer:cluster-connection"
_STORE_KEY = "fractal-explorer:frame-store"


def shared_connection() -> ClusterConnection:
    """The process's cluster connection, shared by every session (``pn.state.cache``).

    Created on first use, not at import: serving the app starts no cluster until a
    session asks for a frame.
    """
    return pn.state.as_cached(_CONNECTION_KEY, ClusterConnection)


def _store_from_env() -> FrameStore | None:
    try:
        return FrameStore.from_env()
    except (ValueError, OSError) as exc:
        # A deployment mistake must not take the app down: it runs, without persistence.
        logger.error("Frames and history will not persist: %s", exc)
        return None


def shared_store() -> FrameStore | None:
    """The process's persistent store, from ``FRACTAL_STORE`` (None if off or unusable).

    Shared by every session, and by every process pointed at the same location.
    """
    return pn.state.as_cached(_STORE_KEY, _store_from_env)


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


class FractalExplorer(pn.viewable.Viewer):
    """The whole explorer; what ``app.py`` serves and what a notebook displays.

    Widgets edit :attr:`config`. A change of a compute parameter marks the image stale
    at once and, after :attr:`debounce` seconds without further changes, becomes a job:
    a coarse preview first, then the full frame tile by tile, each superseding the
    previous request (which the engine cancels unless another session wants it). A
    change of a display parameter recolours what is shown, with no Dask task.

    Needs HoloViews' Bokeh backend loaded first (``hv.extension("bokeh")``, as
    ``app.py`` and the notebooks do): the image is a HoloViews plot.

    Parameters
    ----------
    connection : ClusterConnection, optional
        Defaults to the process-wide :func:`shared_connection`.
    store : FrameStore or None, optional
        Where frames and the job history persist. Defaults to the process-wide
        :func:`shared_store`; None keeps them in memory only.
    sync_url : bool
        Keep the page's URL query in step with the config (served apps).
    """

    config = param.ClassSelector(class_=FractalConfig, constant=True, doc="What is asked for.")
    connection = param.ClassSelector(
        class_=ClusterConnection, constant=True, doc="How the cluster is reached."
    )
    store = param.ClassSelector(
        class_=FrameStore,
        allow_None=True,
        constant=True,
        doc="Where frames and the job history persist (None: in memory only).",
    )
    debounce = param.Number(
        default=0.25, bounds=(0, 5), doc="Quiet seconds after the last change before a job."
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
    job = param.ClassSelector(class_=Job, allow_None=True, doc="The current job.")
    shown_key = param.String(
        default=None, allow_None=True, doc="Key of the frame the image shows (or previews)."
    )
    message = param.String(default="", doc="Why the last request was refused, if it was.")
    cluster_status = param.String(default="idle", doc="The connection's status.")
    cluster_error = param.String(default="", doc="Why the cluster cannot be reached.")

    def __init__(self, **params):
        params.setdefault("config", FractalConfig())
        if params.get("connection") is None:
            params["connection"] = shared_connection()
        if "store" not in params:
            params["store"] = shared_store()
        super().__init__(**params)
        if self.sync_url and pn.state.location is not None:
            # Before any component exists, so that all of them (the plot's first axes
            # included) start from the link's view: a plot drawn at the default view and
            # moved afterwards could report the default back as a zoom.
            pn.state.location.sync(
                self.config, list(COMPUTE_PARAMS + DISPLAY_PARAMS), on_error=self._url_error
            )
            # A link whose values are each valid but together over budget is refused when
            # the first job is asked for, with the message saying what to lower.
        self.controls = FractalControls(config=self.config)
        self.view = FractalView(
            x_range=self.config.x_range,
            y_range=self.config.y_range,
            colormap=self.config.colormap,
        )
        self.status = JobStatus()
        self.history = JobHistory(records=self._stored_history())
        self.dashboard = DaskDashboard()
        self._debouncer = Debouncer(self._submit, delay=self.debounce)
        self._full: JobManager | None = None
        self._preview: JobManager | None = None
        self._stream: asyncio.Task | None = None
        self._sample = None  # the values the colours are fitted on: the preview's
        self._fit: Normalizer | None = None
        self._reconnecting = False
        self._refused = False
        self._closed = False
        self._watchdog = None

        self.config.param.watch(self._compute_changed, list(COMPUTE_PARAMS))
        self.config.param.watch(self._display_changed, list(DISPLAY_PARAMS))
        self.view.param.watch(self._zoomed, ["x_range", "y_range"])
        self.controls.param.watch(lambda _: self.reset_view(), "reset")
        self.status.param.watch(lambda _: self.cancel(), "cancel")
        self.history.param.watch(self._restore, "selected")
        self.param.watch(lambda e: setattr(self._debouncer, "delay", e.new), "debounce")

        self._download = pn.widgets.FileDownload(
            callback=self._png,
            filename="fractal.png",
            label="Download PNG",
            color="light",
            css_classes=["download-png"],
        )
        self._alert = pn.pane.Alert(
            self.param.message,
            alert_type="danger",
            visible=self.param.message.rx.bool(),
            css_classes=["input-error"],
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
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            pn.state.on_session_destroyed(
                functools.partial(_close_session, explorer_ref=weakref.ref(self))
            )
        if self.autostart:
            pn.state.onload(self.start)

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
                pn.Column(self.dashboard, width=420),
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
        if self._closed or self._watchdog is not None:
            return
        self._watchdog = pn.state.add_periodic_callback(self.check_cluster, period=1000)
        pn.state.execute(self.render)

    def close(self) -> None:
        """Stop this explorer's work (a closed tab): cancel its jobs unless others want them."""
        self._closed = True
        self._debouncer.cancel()
        if self._watchdog is not None:
            self._watchdog.stop()
        self._stop_stream()
        for manager in (self._full, self._preview):
            if manager is not None:
                manager.close()

    def _stored_history(self) -> list[dict]:
        # Read while the session is built, so that the page's table starts with these rows:
        # replacing a Tabulator's rows again while the browser still builds it could leave
        # the browser showing the first set only (seen in about 1 of 3 page loads).
        if self.store is None:
            return []
        try:
            records = self.store.history(JobHistory.param.limit.default)
        except Exception as exc:  # an unreachable store costs the history, not the app
            logger.warning("reading the job history from %r failed: %s", self.store, exc)
            return []
        return JobHistory.readable(records)

    # -- user actions -----------------------------------------------------------------------------
    async def render(self) -> Job | None:
        """Submit the current config now (no debounce); returns the job, or None if refused."""
        self._debouncer.cancel()
        return await self._submit()

    def cancel(self) -> None:
        """Stop wanting the current job (the Cancel button)."""
        self._debouncer.cancel()
        job = self.job
        if job is None or job.done:
            return
        self._stop_stream()
        for manager in (self._full, self._preview):
            if manager is not None:
                manager.cancel()
        self.status.cancelled = True
        self.view.param.update(stale=True, stale_reason="Cancelled: the image is incomplete.")
        self._record(job, state="cancelled")
        self._notify("warning", "Cancelled.")

    def reset_view(self) -> None:
        """Return to the default viewport."""
        self.config.param.update(
            x_range=FractalConfig.param.x_range.default,
            y_range=FractalConfig.param.y_range.default,
        )

    # -- watchers: parameters in, a call into compute/ ----------------------------------------
    def _compute_changed(self, *events) -> None:
        names = {e.name for e in events}
        if names & {"x_range", "y_range"} and (
            self.view.x_range != self.config.x_range or self.view.y_range != self.config.y_range
        ):
            self.view.set_viewport(self.config.x_range, self.config.y_range)
        self._mark_stale("Rendering the new view…")
        pn.state.execute(self._debounced)

    async def _debounced(self) -> None:
        self._debouncer.trigger()

    def _zoomed(self, *_events) -> None:
        config, view = self.config, self.view
        if _moved(view.x_range, config.x_range, config.width) or _moved(
            view.y_range, config.y_range, config.height
        ):
            try:
                self.config.param.update(x_range=self.view.x_range, y_range=self.view.y_range)
            except ValueError as exc:
                self._refuse(exc)

    def _display_changed(self, *events) -> None:
        for event in events:
            if event.name == "colormap":
                self.view.colormap = event.new
            elif event.name == "normalization":
                self._redraw()

    def _restore(self, event) -> None:
        record = event.new
        if record is None:
            return
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in record["config"].items()}
        try:
            FractalConfig(**values)
        except ValueError as exc:
            self._refuse(exc)
            return
        self.config.param.update(**values)
        self.history.selected = None  # so that clicking the same row again restores again

    # -- jobs ------------------------------------------------------------------------------------
    async def _submit(self) -> Job | None:
        if self._closed:
            return None
        config = self.config
        try:
            config.validate()
        except ValueError as exc:
            self._refuse(exc)
            return None
        if self._refused:  # a note about the link stays; a refusal is now out of date
            self.message, self._refused = "", False
        try:
            client = await self.connection.client()
        except Exception as exc:
            self._cluster_failed(exc)
            return None
        if self._full is None or self._full.registry.client is not client:
            registry = JobRegistry.for_client(client, store=self.store)
            self._full = JobManager(client, registry=registry)
            self._preview = JobManager(client, registry=registry, history=False)
        previous = self.job
        job = self._full.submit(config)
        if job is previous:
            return job
        if previous is not None and previous is not job and not previous.done:
            self._record(previous, state="cancelled")
        preview = None
        if job.state not in ("done", "cached"):
            preview = self._preview.submit(config.preview(self.preview_edge))
        self.status.param.update(job=job, cancelled=False)
        self.job = job
        self._stop_stream()
        self._stream = asyncio.ensure_future(self._show(job, preview))
        return job

    async def _show(self, job: Job, preview: Job | None) -> None:
        """Draw ``job``: its preview, then each tile as it arrives; then report."""
        try:
            # Colours are fitted once, on the preview, so that tiles agree with each other;
            # a finished frame (from the cache) is its own sample, drawn in one piece.
            self._sample = await (job if preview is None else preview).result()
            self._fit = Normalizer.fit(self._sample, self.config.normalization)
            self.view.show_preview(job.config, self._fit(self._sample))
            self._shown(job)
            if preview is not None:
                async for result in job:
                    self.view.show_tile(job.config, result.tile, self._fit(result.values))
        except JobCancelled:
            return
        except JobFailed as exc:
            self.view.stale_reason = f"Showing an older view: this one failed ({exc})."
            self._record(job)
            self._notify("error", f"Rendering failed: {exc}")
            return
        self._record(job)
        if job.state == "cached":
            self._notify("info", "From cache: no task ran.")
        else:
            self._notify("success", f"Rendered in {job.duration * 1000:.0f} ms.")

    def _shown(self, job: Job) -> None:
        self.shown_key = job.key
        if job.key == self.config.key:
            self.view.param.update(stale=False, stale_reason="")

    def _redraw(self) -> None:
        """Recolour what is shown for a new normalisation: no Dask task, the same values."""
        job = self.job
        if job is None or self._sample is None or self.shown_key != job.key:
            return
        self._fit = fit = Normalizer.fit(self._sample, self.config.normalization)
        if job.state in ("done", "cached") and self._sample is job.frame:
            self.view.show_preview(job.config, fit(job.frame))
            return
        self.view.show_preview(job.config, fit(self._sample))
        for result in job.finished_tiles:
            self.view.show_tile(job.config, result.tile, fit(result.values))

    def _stop_stream(self) -> None:
        if self._stream is not None and not self._stream.done():
            self._stream.cancel()
        self._stream = None

    def _record(self, job: Job, state: str | None = None) -> None:
        self.history.add(job.record(state))

    # -- the cluster ----------------------------------------------------------------------------
    async def check_cluster(self) -> None:
        """Update the cluster status and banner; reconnect and resume if needed."""
        status = self.connection.status
        was = self.cluster_status
        self.cluster_status = status
        if status == "connected":
            self.cluster_error = ""
            link = self.connection.dashboard_link
            if was != "connected" and link == self.dashboard.link:
                # A restarted scheduler serves new dashboard sessions: reload the pages.
                self.dashboard.param.trigger("link")
            self.dashboard.link = link
            if was != "connected" and self._needs_render():
                await self._submit()
            return
        if status in ("lost", "reconnecting") and not self._reconnecting:
            self._cluster_failed(self.connection.error or "The scheduler stopped answering.")
            if status == "lost":
                self._reconnecting = True
                try:
                    await self.connection.client()
                except Exception as exc:
                    self._cluster_failed(exc)
                finally:
                    self._reconnecting = False

    def _needs_render(self) -> bool:
        job = self.job
        return job is None or job.key != self.config.key or job.state in ("failed", "cancelled")

    def _cluster_failed(self, exc) -> None:
        self.cluster_error = str(exc)
        self._mark_stale("Showing an older view: the Dask cluster is unreachable.")

    # -- feedback --------------------------------------------------------------------------------
    def _mark_stale(self, reason: str) -> None:
        if self.shown_key is not None and self.shown_key != self.config.key:
            self.view.param.update(stale=True, stale_reason=reason)
        elif self.shown_key is None:
            self.view.stale_reason = reason

    def _refuse(self, exc: Exception) -> None:
        self.message, self._refused = f"Not rendered: {exc}", True
        self._mark_stale("Showing an older view: the requested one is invalid.")

    def _notify(self, kind: str, text: str) -> None:
        logger.info("%s: %s", kind, text)
        notifications = pn.state.notifications
        if notifications is not None:
            getattr(notifications, kind)(text, duration=4000 if kind != "error" else 0)

    def _url_error(self, mapped: dict) -> None:
        bad = []
        for name, value in mapped.items():
            try:
                self.config.param.update(**{name: value})
            except Exception:
                bad.append(f"{name}={value!r}")
        if bad:
            self.message = f"Ignored invalid values in the link: {', '.join(bad)}."
            # Put what is really shown back in the link, so that sharing it shares that.
            current = {}
            for name in mapped:
                value = self.config.param[name].serialize(getattr(self.config, name))
                current[name] = value if isinstance(value, str) else json.dumps(value)
            pn.state.location.update_query(**current)

    def _png(self):
        job = self.job
        if job is None or job.state not in ("done", "cached"):
            self._notify("warning", "The image is not finished yet.")
            return None
        self._download.filename = f"{job.key}.png"
        return io.BytesIO(to_png(job.frame, self.config.colormap, self.config.normalization))
