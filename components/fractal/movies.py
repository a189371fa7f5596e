"""Zoom movies in the app: make one from the current view, follow it, play and download it.

A movie runs as a *detached* job (:meth:`compute.engine.JobRegistry.detach`): it goes on
when the tab that asked for it is closed or reloaded, every session of the server sees
it (in progress, with its Cancel button, and when it ends: a notification and a history
row; with authentication, only its user's sessions), and identical requests share one
job. This module only turns widgets into a
:class:`~compute.fractal.movie.MovieSpec` and draws the job's record.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Awaitable, Callable

import panel as pn
import param

from compute.engine import Job, JobRecord, JobRegistry, LimitExceeded
from compute.engine.interactive import Throttle
from compute.fractal import FractalConfig
from compute.fractal.movie import MAX_FPS, MAX_FRAMES, MovieJob, MovieSpec
from compute.fractal.video import FORMATS

logger = logging.getLogger(__name__)

#: Where the movie shown stands (an explicit state, not flags).
STUDIO_STATES = ("idle", "refused", "offline", "queued", "running", "done", "cancelled", "failed")


class MovieStudio(pn.viewable.Viewer):
    """Make, follow, play and download zoom movies into the current view.

    Parameters
    ----------
    current : callable
        Returns the config of the view on screen: the movie's end.
    registry : callable
        Coroutine function returning the session's :class:`~compute.engine.JobRegistry`, or
        None while the cluster cannot be reached.
    later : callable, optional
        ``later(key, write)`` runs ``write`` on the page's next tick (a movie another
        session started or ended is drawn from that session's callback); default: now.
    notify : callable, optional
        ``notify(kind, text)`` tells the page that a movie ended.
    """

    frames = param.Integer(default=48, bounds=(2, MAX_FRAMES), doc="Frames in the movie.")
    fps = param.Integer(default=24, bounds=(1, MAX_FPS), doc="Frames per second.")
    edge = param.Selector(
        default=384,
        objects=[128, 256, 384, 512, 768, 1024],
        doc="Pixels on the movie's longer side (the view's aspect is kept).",
    )
    start = param.ClassSelector(
        class_=FractalConfig,
        default=None,
        allow_None=True,
        doc="Where the zoom starts; None: the default view of the same fractal.",
    )
    job = param.ClassSelector(class_=Job, default=None, allow_None=True, doc="The movie shown.")
    state = param.Selector(default="idle", objects=list(STUDIO_STATES), doc="Where it stands.")
    progress = param.String(default="", doc="The movie's progress in words.")
    message = param.String(default="", doc="Why a request was refused, if it was.")
    interval = param.Number(
        default=0.25,
        bounds=(0, 5),
        doc="Seconds between two drawings of progress (a movie reports every frame, some "
        "dozens a second); its end is drawn at once.",
    )
    payer = param.String(
        default=None, allow_None=True, constant=True, doc="Who pays for its movies (caps)."
    )
    owner = param.String(
        default=None, allow_None=True, constant=True, doc="Whose history its movies go to."
    )
    ended = param.ClassSelector(
        class_=JobRecord,
        default=None,
        allow_None=True,
        doc="The record of the last movie followed to its end (for the page's history).",
    )
    make = param.Event(doc="Pressed: make a movie of the current settings.")
    cancel = param.Event(doc="Pressed: cancel the movie shown (for every session).")
    start_here = param.Event(doc="Pressed: start the zoom from the current view.")
    start_default = param.Event(doc="Pressed: start the zoom from the default view.")

    def __init__(
        self,
        current: Callable[[], FractalConfig],
        registry: Callable[[], Awaitable[JobRegistry | None]],
        *,
        later: Callable[[object, Callable[[], None]], None] | None = None,
        notify: Callable[[str, str], None] | None = None,
        **params,
    ):
        super().__init__(**params)
        self._current, self._registry = current, registry
        self._later = later or (lambda key, write: write())
        self._notify = notify or (lambda kind, text: None)
        self._watcher = None
        # The registry whose detached jobs it follows, and how it stops following them.
        self._followed: JobRegistry | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._closed = False
        # A movie reports every frame, some dozens a second: progress drawn at most every
        # ``interval``; its end at once.
        self._throttle = Throttle(self._draw)
        self._shown_key: str | None = None
        self._player = pn.pane.Video(
            None, loop=True, autoplay=True, muted=True, width=380, visible=False,
            css_classes=["movie-player"],
        )  # fmt: skip
        self._downloads = [
            pn.widgets.FileDownload(
                callback=lambda fmt=fmt: self._file(fmt),
                filename=f"zoom.{fmt}",
                label=fmt.upper(),
                color="light",
                width=110,
                css_classes=[f"download-{fmt}"],
            )
            for fmt in FORMATS
        ]
        self._files = pn.Row(*self._downloads, visible=False)
        # Made once and updated in place: a movie reports every frame, and new models
        # for each report would cost the browser a layout each.
        self._text = pn.pane.Markdown("No movie yet.", width=380, css_classes=["movie-progress"])
        self._bar = pn.indicators.Progress(
            value=0, max=1, width=380, visible=False, css_classes=["movie-bar"]
        )
        self._cancel_button = pn.widgets.Button.from_param(
            self.param.cancel, name="Cancel movie", color="warning",
            visible=False, css_classes=["movie-cancel"],
        )  # fmt: skip
        self.param.watch(self._make, "make")
        self.param.watch(self._cancel, "cancel")
        self.param.watch(lambda _: setattr(self, "start", self._current().copy()), "start_here")
        self.param.watch(lambda _: setattr(self, "start", None), "start_default")

    # -- what it asks for ---------------------------------------------------------------------
    def spec(self) -> MovieSpec:
        """The movie the widgets describe: from :attr:`start` into the current view.

        Raises
        ------
        ValueError
            Saying what to change (too deep, over budget, another fractal).
        """
        end = self._current().copy()  # a snapshot: the view on screen goes on changing
        start = self.start
        if start is None:
            start = end.copy(
                **{n: FractalConfig.param[n].default for n in ("center_real", "center_imag")},
                span=FractalConfig.param.span.default,
                max_iter=min(end.max_iter, 200),
            )
        scale = self.edge / max(end.width, end.height)
        return MovieSpec(
            start=start,
            end=end,
            frames=self.frames,
            fps=self.fps,
            width=max(16, round(end.width * scale)),
            height=max(16, round(end.height * scale)),
            colormap=end.colormap,
            normalization=end.normalization,
        )

    async def _make(self, _event=None) -> None:
        try:
            spec = self.spec()
        except ValueError as exc:
            self.param.update(state="refused", message=str(exc))
            return
        await self.open(spec)

    async def open(self, spec: MovieSpec) -> MovieJob | None:
        """Ask for ``spec`` (detached: it outlives this page) and show it; a finished one
        plays at once, with no task."""
        registry = await self._registry()
        if registry is None:
            self.param.update(state="offline", message="The Dask cluster cannot be reached.")
            return None
        try:
            job = registry.detach_for(spec, owner=self.owner, payer=self.payer)
        except LimitExceeded as exc:
            self.param.update(state="refused", message=str(exc))
            return None
        self.message = ""
        self.follow(job)
        return job

    async def _cancel(self, _event=None) -> None:
        job = self.job
        registry = await self._registry() if job is not None and not job.done else None
        if registry is not None:
            registry.cancel(job)

    # -- what it shows ----------------------------------------------------------------------
    def follow(self, job: MovieJob) -> None:
        """Show ``job``: its progress while it runs, then the movie."""
        if self.job is job:
            self._draw()
            return
        self._unfollow()
        self.job = job
        self._watcher = job.param.watch(self._changed, ["state", "parts_done", "phase"])
        self._draw()

    def close(self) -> None:
        """Stop following movies (a closed session: they go on without it)."""
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._followed = None
        self._unfollow()

    def _unfollow(self) -> None:
        if self._watcher is not None and self.job is not None:
            self.job.param.unwatch(self._watcher)
        self._watcher = None
        self._throttle.cancel()

    # -- every session's movies --------------------------------------------------------------
    async def watch(self) -> None:
        """Follow the movies of every session: the newest in flight now, and each as it
        starts and ends. Again after an outage: a new registry's movies then."""
        registry = await self._registry()
        if registry is None or self._closed or registry is self._followed:
            return
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._followed = registry
        self._unsubscribe = registry.subscribe(self._detached_changed)
        movies = [j for j in registry.detached.values() if self._sees(j)]
        if movies and self.job is None:
            newest = max(movies, key=lambda j: j.submitted_at)
            self._later("movie", lambda: self.follow(newest))

    def _sees(self, job: Job) -> bool:
        # A movie, and with authentication one of this user's (another user's movie of
        # the same view shares its frames, not its notifications).
        registry = self._followed
        return job.kind == MovieSpec.kind and (
            self.owner is None or (registry is not None and self.owner in registry.users(job))
        )

    def _detached_changed(self, job: Job) -> None:
        # Called on the loop from whichever session's work started or ended the job.
        if not self._closed and self._sees(job):
            self._later(("movie", job.key, job.done), functools.partial(self._ended_or_not, job))

    def _ended_or_not(self, job: Job) -> None:
        shown = self.job
        if shown is None or shown.done or shown is job:
            self.follow(job)
        if job.done:
            self.ended = job.record()
            kind, said = {
                "done": ("success", "finished"),
                "cancelled": ("warning", "was cancelled"),
                "failed": ("error", f"failed: {job.error}"),
            }.get(job.state, ("info", job.state))
            self._notify(kind, f"Movie {said}: {job.summary}")

    def _changed(self, *_events) -> None:
        job = self.job
        if job is None:
            return
        if job.done or not self.interval:
            self._throttle.now()
        else:
            self._throttle.request(self.interval)

    def _draw(self) -> None:
        self._throttle.cancel()
        job = self.job
        if job is None:
            return
        state = "done" if job.state == "cached" else job.state
        self.param.update(state=state, progress=f"{job.summary}: {job.describe()}")
        busy = state in ("queued", "running")
        self._text.object = self.progress
        # The bound first, on its own: Progress moves its value's bounds in a watcher of
        # max, and a value over the old bound is refused.
        self._bar.max = max(job.parts_total, 1)
        self._bar.param.update(value=min(job.parts_done, self._bar.max), visible=busy)
        self._cancel_button.visible = busy
        movie = job.movie
        if movie is not None and self._shown_key != job.key:
            self._shown_key = job.key
            self._player.object = movie.data("mp4")
            self._player.visible = self._files.visible = True
        elif movie is None and self._shown_key is not None and job.key != self._shown_key:
            self._player.visible = self._files.visible = False
            self._shown_key = None

    def _file(self, fmt: str) -> io.BytesIO | None:
        movie = self.job.movie if self.job is not None else None
        return None if movie is None else io.BytesIO(movie.data(fmt))

    def __panel__(self):
        return pn.Card(
            pn.Row(
                pn.widgets.IntInput.from_param(self.param.frames, width=90),
                pn.widgets.IntInput.from_param(self.param.fps, width=70, name="fps"),
                pn.widgets.Select.from_param(self.param.edge, width=90, name="size (px)"),
            ),
            pn.Row(
                pn.widgets.Button.from_param(self.param.start_here, name="Start here", width=120),
                pn.widgets.Button.from_param(
                    self.param.start_default, name="Start from default", width=150
                ),
            ),
            pn.pane.Markdown(
                self.param.start.rx.pipe(
                    lambda s: (
                        "Zoom from the default view into this one."
                        if s is None
                        else f"Zoom from {s.summary()} into this one."
                    )
                ),
                css_classes=["movie-start"],
            ),
            pn.widgets.Button.from_param(
                self.param.make,
                name="Make a movie",
                color="primary",
                css_classes=["make-movie"],
            ),
            pn.pane.Alert(
                self.param.message,
                alert_type="danger",
                visible=self.param.message.rx.bool(),
                css_classes=["movie-error"],
            ),
            self._text,
            self._bar,
            self._cancel_button,
            self._player,
            self._files,
            title="Zoom movie",
            collapsed=False,
            width=400,
            css_classes=["movie-studio"],
        )
