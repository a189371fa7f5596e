"""A progressive render session: one consumer's exploration, as policy, free of any UI.

What a person exploring a fractal expects, written once for the app, the notebooks and
any other client that draws:

* **Live changes** (a slider being dragged, the plot being panned) show coarse previews
  at once and keep showing them while the hand moves. At most one preview is computed at
  a time; a value superseded before its preview started is never computed (the newest
  waiting value replaces it), and a preview older than what is shown is never drawn.
* **A discrete change** (a key press, Enter, a slider release, a click) starts its full
  frame at once. Changes that follow it within ``debounce`` seconds are a burst: the
  full frame then waits until the burst ends, so that a burst costs about one frame. A
  live change's full frame follows when the hand stops (``debounce`` seconds of quiet).
* **The full frame** streams in tiles, drawn in batches at most every
  :attr:`~RenderSession.draw_interval` (the last tile at once), all coloured
  with one fit (of the preview of the same view, so that tiles agree with each other and
  a frame looks the same whether it was computed or came from a cache). Its tiling
  follows its expected cost, estimated from the preview. A superseded frame is
  cancelled at once, unless another consumer shares it.
* **Honest display**: :attr:`shown_key` names the frame on screen; :attr:`provisional`
  says it is a coarse preview (the full frame follows), :attr:`stale` that it is an older
  finished frame or what a failed request left, and :attr:`stale_reason` why;
  :attr:`state` says where the request stands.

Previews (:mod:`compute.fractal.previews`) run where they are cheapest: in this
process when their worst case is below :attr:`RenderSession.local_budget`, on the
cluster otherwise. The event loop itself never computes: colour indexing of large
batches runs in a thread too.

The timing (leading edge, quiet period, latest wins, what is stale) is the engine's
interactive policy (:mod:`compute.engine.interactive`), its clock injectable; what is
here is what previews, fits, tiles and colours mean for a fractal.

A session draws through a *painter*: any object with ``show_preview(config, indices)``
(a coarse image of ``config``'s whole view, replacing what is shown) and
``show_tiles(config, tiles)`` (finished tiles of ``config``: ``(Tile, indices)`` pairs),
where indices are ``uint8`` colour indices (see :class:`~compute.colour.Normalizer`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import numpy as np
import param

from ..engine.engine import Engine, EngineUnavailable
from ..engine.interactive import Clock, Latest, Pacer, judge
from ..engine.job import LIVE_STATES as LIVE
from ..engine.job import JobCancelled, JobFailed
from ..engine.limits import LimitExceeded
from ..engine.manager import JobManager
from ..engine.records import JobRecord
from ..engine.registry import JobRegistry
from ..engine.schema import OverBudget
from .colour import NORMALIZATIONS, Normalizer
from .config import FractalConfig
from .frame import FrameJob, TileResult
from .previews import Previews
from .tiles import Tile, expected_iterations

logger = logging.getLogger(__name__)

#: Where a session's request stands.
#:
#: ``idle``: nothing asked yet. ``previewing``: previews of a change are drawn; its full
#: frame starts when the burst or the hand stops. ``rendering``: the full frame of the
#: config asked for is on its way. ``done``: it is on screen, complete. ``cancelled``:
#: the consumer stopped it. ``failed``: it failed (see :attr:`RenderSession.stale_reason`).
#: ``refused``: the config asked for is invalid (see :attr:`RenderSession.message`).
#: ``offline``: the cluster cannot be reached; :meth:`RenderSession.resume` retries.
#: ``closed``: the session ended and submits nothing.
SESSION_STATES = (
    "idle",
    "previewing",
    "rendering",
    "done",
    "cancelled",
    "failed",
    "refused",
    "offline",
    "closed",
)

#: Batches of tiles bigger than this many pixels are colour-indexed in a thread.
_INDEX_IN_THREAD = 1 << 20


class Painter(Protocol):
    """What a session draws on (a Bokeh view, a notebook image, a test recorder)."""

    def show_preview(self, config: FractalConfig, indices: np.ndarray) -> None:
        """Show ``indices`` over ``config``'s whole view, replacing what is shown."""

    def show_tiles(self, config: FractalConfig, tiles: list[tuple[Tile, np.ndarray]]) -> None:
        """Draw finished tiles of ``config`` over what :meth:`show_preview` showed."""


class RenderSession(param.Parameterized):
    """The exploration of one consumer: previews, full frames, colours, what is stale.

    Parameters
    ----------
    painter : Painter
        Where images go.
    engine : Engine
        Where the work goes: the cluster, the store (frames and the job history), caps.
    clock : Clock, optional
        Where time comes from (the running loop's; a test passes a ManualClock).

    Examples
    --------
    >>> session = RenderSession(painter=view, engine=engine)  # doctest: +SKIP
    >>> session.explore(config.copy(c_real=-0.79))  # a slider moving: previews now
    >>> session.request(config.copy(c_real=-0.79))  # released: the full frame now
    >>> job = await session.render()                 # or: the wanted config, now
    """

    engine = param.ClassSelector(
        class_=Engine, constant=True, doc="Where the work goes (cluster, store, caps)."
    )
    debounce = param.Number(
        default=0.25,
        bounds=(0, 5),
        doc="Seconds of quiet that end a burst of changes (or a drag) before its full frame.",
    )
    preview_edge = param.Integer(
        default=128, bounds=(16, 512), doc="Longer side of the coarse preview, in pixels."
    )
    local_budget = param.Integer(
        default=100_000_000,
        bounds=(0, None),
        doc="Previews whose worst case (width x height x max_iter) is at most this many "
        "pixel-iterations are computed in this process (about 0.1 s of one core at most); "
        "costlier ones on the cluster. 0: always on the cluster.",
    )
    payer = param.String(
        default=None,
        allow_None=True,
        constant=True,
        doc="Who pays for the work it starts, against the caps of compute.engine.limits "
        "(user:<name>, address:<ip>); None: uncapped.",
    )
    owner = param.String(
        default=None,
        allow_None=True,
        constant=True,
        doc="Whose work it is: the user whose history its records go to; None: anonymous.",
    )
    draw_interval = param.Number(
        default=0.5,
        bounds=(0, 10),
        doc="Least seconds between two drawings of a frame's unfinished tiles: tiles that "
        "finish meanwhile are drawn together. The tile that completes the frame is drawn at "
        "once. 0: every batch as it arrives.",
    )
    normalization = param.Selector(
        default=FractalConfig.param.normalization.default,
        objects=list(NORMALIZATIONS),
        doc="How values map to colours; a change recolours what is shown, with no task.",
    )

    wanted = param.ClassSelector(
        class_=FractalConfig,
        allow_None=True,
        doc="The config last asked for, live or discrete (read only).",
    )
    requested = param.ClassSelector(
        class_=FractalConfig,
        allow_None=True,
        doc="The config of the last full frame submitted: a settled value (read only).",
    )
    job = param.ClassSelector(
        class_=FrameJob, allow_None=True, doc="The job of the last full frame submitted."
    )
    state = param.Selector(
        default="idle", objects=list(SESSION_STATES), doc="Where the request stands."
    )
    shown_key = param.String(
        default=None, allow_None=True, doc="Key of the frame on screen (or previewed)."
    )
    complete = param.Boolean(
        default=False, doc="What is on screen is the whole frame of shown_key."
    )
    stale = param.Boolean(
        default=False,
        doc="What is on screen is an older finished frame than the one asked for, or what a "
        "refused, failed, cancelled or unreachable request left there.",
    )
    stale_reason = param.String(default="", doc="Why the image is stale, in words.")
    provisional = param.Boolean(
        default=False,
        doc="What is on screen is a coarse preview: of the config asked for, or, while a "
        "hand moves, of a value it just passed. The full frame follows.",
    )
    message = param.String(default="", doc="Why the config asked for was refused, if it was.")
    cluster_error = param.String(default="", doc="Why the cluster could not be reached.")
    ended = param.ClassSelector(
        class_=JobRecord,
        default=None,
        allow_None=True,
        doc="The record (Job.record) of this session's last job to end or be let go.",
    )
    previews_shown = param.Integer(default=0, bounds=(0, None), doc="Previews drawn so far.")

    def __init__(self, painter: Painter, *, clock: Clock | None = None, **params):
        super().__init__(**params)
        self.painter = painter
        self._full: JobManager | None = None
        self._preview_jobs: JobManager | None = None
        # Each change gets a number; a drawing of an older change never covers a newer.
        self._latest = Latest()
        self._previews = Previews(
            self._preview_manager,
            self._draw_sample,
            lambda: (self.preview_edge, self.local_budget),
            self._guarded,
        )
        self._stream: asyncio.Task | None = None
        self._submitting: asyncio.Task | None = None
        self._pacer = Pacer(self._on_quiet, self.debounce, clock)
        self.param.watch(lambda e: setattr(self._pacer, "quiet", e.new), "debounce")
        self._failure = ""

    # -- inputs ---------------------------------------------------------------------------
    def explore(self, config: FractalConfig) -> None:
        """A live value (a drag in progress): preview it now, render it when the hand stops."""
        if self._accept(config):
            self._preview(config)
            self._schedule_full()

    def request(self, config: FractalConfig) -> None:
        """A discrete change: its full frame now, unless it continues a burst of changes."""
        quiet = self._pacer.leading()
        if self._accept(config):
            self._preview(config)
        elif self.wanted is None or self.state in ("rendering", "done", "refused", "closed"):
            return  # the view on screen or in flight was asked for again: nothing to do
        if quiet:
            self._cancel_timer()
            self._submit_soon(self.wanted)
        else:
            self._schedule_full()

    def refuse(self, error: Exception) -> None:
        """A change that could not even become a config (say, dragged over the pixel
        budget): refused like an invalid config, with ``error`` as the reason."""
        if self.state != "closed":
            self._refused(error)

    async def render(self, config: FractalConfig | None = None) -> FrameJob | None:
        """Submit the full frame of ``config`` (default: the wanted one) now.

        Returns the job, or None if the config was refused, the cluster is unreachable or
        the session is closed.
        """
        if config is not None:
            self._accept(config)
        if self.wanted is None or self.state in ("closed", "refused"):
            return None
        self._cancel_timer()
        self._stop(self._submitting)
        self._preview(self.wanted)
        return await self._guarded(self._submit, self.wanted)

    def resume(self) -> None:
        """Render the wanted config if it is neither on screen nor in flight (reconnected)."""
        if self.wanted is None or self.state not in ("offline", "failed"):
            return
        self._submit_soon(self.wanted)

    def cancel(self) -> bool:
        """Stop the full frame in flight (the Cancel button). Returns True if one was."""
        self._cancel_timer()
        job = self.job
        if job is None or job.done or self.state in ("closed", "cancelled"):
            return False
        self._stop(self._submitting, self._stream)
        self._let_go(job)
        self.state = "cancelled"
        self._update_stale()
        return True

    def close(self) -> None:
        """End the session (a closed tab): cancel its work unless others want it."""
        if self.state == "closed":
            return
        self._cancel_timer()
        self._previews.close()
        self._stop(self._submitting, self._stream)
        # Nobody is left to show a record to: the managers let the jobs go (and log them).
        for manager in (self._full, self._preview_jobs):
            if manager is not None:
                manager.close()
        self.state = "closed"

    # -- reading --------------------------------------------------------------------------
    def expected_cost(self, config: FractalConfig, sample: np.ndarray | None) -> float | None:
        """Kernel steps ``config``'s frame is expected to take, from its preview's values
        ``sample`` (None: unknown): the frame's tiling, place in the queue and budget.

        Every escaped pixel costs its escape count, an inside one ``max_iter``
        (:func:`.tiles.expected_iterations`); but where the preview was a deep one
        computed here or on the cluster, the steps its kernel took per pixel, which BLA
        makes far fewer than the iterations, are the better estimate.
        """
        if sample is None:
            return None
        iterations = expected_iterations(config, sample)
        steps = self._previews.steps(config.key)
        if steps is not None:
            iterations = min(iterations, steps * config.width * config.height)
        return iterations

    def fit(self, key: str) -> Normalizer | None:
        """The colour fit of the frame ``key`` (from its preview), if its preview is known."""
        return self._previews.fit(key, self.normalization)

    # -- changes ----------------------------------------------------------------------------
    def _accept(self, config: FractalConfig) -> bool:
        """Make ``config`` the wanted one; True if it is a view not already wanted."""
        if self.state == "closed":
            return False
        try:
            config.validate()
        except ValueError as exc:
            self._refused(exc)
            return False
        config = config.copy()
        if self.message:
            self.message = ""
        if self.wanted is not None and self.wanted.key == config.key:
            self.wanted = config
            if self.state == "refused":  # back to a valid view: it stands where it stood
                self.state = self._standing(config)
                self._update_stale()
            return False
        self._latest.ask()
        job = self.job
        if job is not None and job.key != config.key:
            # Superseded: stop drawing it, and stop it (unless another consumer wants it).
            self._stop(self._submitting, self._stream)
            if not job.done:
                self._let_go(job)
        self.param.update(wanted=config, state=self._standing(config))
        self._update_stale()
        return True

    def _refused(self, error: Exception) -> None:
        self._cancel_timer()
        self.param.update(message=f"Not rendered: {error}", state="refused")
        self._update_stale()

    def _over_cap(self, config: FractalConfig, exc: LimitExceeded) -> None:
        """Refused for its consumer's caps: said so, and asked again when it may start
        (or every few seconds, for a cap that a job's end lifts)."""
        self._refused(exc)
        wait = exc.retry_after if exc.retry_after is not None else 2.0

        def again():
            wanted = self.wanted
            if self.state == "refused" and wanted is not None and wanted.key == config.key:
                self.message = ""
                self.state = self._standing(wanted)
                self._submit_soon(wanted)

        self._pacer.after(wait, again)

    def _standing(self, config: FractalConfig) -> str:
        job = self.job
        if job is not None and job.key == config.key and job.state in ("queued", "running"):
            return "rendering"
        if self.shown_key == config.key and self.complete:
            return "done"
        return "previewing"

    def _schedule_full(self) -> None:
        self._pacer.wait_quiet()

    def _on_quiet(self) -> None:
        if self.wanted is not None and self.state not in ("closed", "refused", "done"):
            self._submit_soon(self.wanted)  # (a frame in flight is left to finish)

    def _cancel_timer(self) -> None:
        self._pacer.cancel()

    def _submit_soon(self, config: FractalConfig) -> None:
        self._stop(self._submitting)
        self._submitting = asyncio.ensure_future(self._guarded(self._submit, config))

    @staticmethod
    def _stop(*tasks: asyncio.Task | None) -> None:
        current = asyncio.current_task()
        for task in tasks:
            if task is not None and task is not current and not task.done():
                task.cancel()

    async def _guarded(self, work, *args):
        # The one place where unexpected errors of background work end: logged, reported.
        # (The coroutine is made here, so that a task cancelled before it ran leaves none.)
        try:
            return await work(*args)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("rendering failed")
            self._failure = f"{type(exc).__name__}: {exc}"
            self.state = "failed"
            self._update_stale()
            return None

    # -- the cluster ----------------------------------------------------------------------
    async def registry(self) -> JobRegistry | None:
        """The registry this session's jobs go through (connecting first), or None while
        the cluster cannot be reached: where other work of the same consumer (a movie)
        is asked for, so that it shares the session's cache and store."""
        managers = await self._managers()
        return None if managers is None else managers[0].registry

    async def _managers(self) -> tuple[JobManager, JobManager] | None:
        try:
            # Refused while the client reconnects to a lost scheduler: work queued there
            # a restarted scheduler never sees. resume() when it is back.
            registry = await self.engine.registry()
        except EngineUnavailable as exc:
            self.param.update(cluster_error=str(exc), state="offline")
            self._update_stale()
            return None
        if self.cluster_error:
            self.cluster_error = ""
        if self._full is None or self._full.registry is not registry:
            who = {"owner": self.owner, "payer": self.payer}
            self._full = JobManager(registry, **who)
            self._preview_jobs = JobManager(registry, history=False, **who)
        return self._full, self._preview_jobs

    async def _preview_manager(self) -> JobManager | None:
        managers = await self._managers()
        return None if managers is None else managers[1]

    # -- previews -------------------------------------------------------------------------
    def _preview(self, config: FractalConfig) -> None:
        if self.shown_key == config.key:
            # Back to the view on screen: it is current again, and whatever is still on its
            # way for the views in between is older than it.
            self._latest.show()
            self._update_stale()
            return
        if not self._previews.needs(config):
            return
        if self._previews.values(config.key) is not None:
            self._draw_sample(self._latest.asked, config)
            return
        self._previews.offer(self._latest.asked, config)

    def _draw_sample(self, seq: int, config: FractalConfig) -> None:
        # Older than what is shown (a frame's tiles, or a newer preview): not drawn.
        if not self._latest.newer(seq) or self.state == "closed":
            return
        fit = self.fit(config.key)
        self.painter.show_preview(config, fit(self._previews.values(config.key)))
        self._latest.show(seq)
        self.param.update(
            shown_key=config.key, complete=False, previews_shown=self.previews_shown + 1
        )
        self._update_stale()

    # -- full frames ------------------------------------------------------------------------
    async def _submit(self, config: FractalConfig) -> FrameJob | None:
        managers = await self._managers()
        if managers is None or self.wanted is None or self.wanted.key != config.key:
            return None
        current = self.job
        if current is not None and current.key == config.key and current.state in LIVE:
            if self.state in ("offline", "failed", "previewing"):
                self.state = self._standing(config)
            return current
        sample = await self._previews.values_of(self._latest.asked, config)
        if self.wanted is None or self.wanted.key != config.key or self.state == "closed":
            return None
        iterations = self.expected_cost(config, sample)
        try:
            job = managers[0].submit(config, iterations=iterations)
        except LimitExceeded as exc:
            self._over_cap(config, exc)
            return None
        except OverBudget as exc:  # its preview's estimate is over a frame's budget
            self._refused(exc)
            return None
        seq = self._latest.asked
        self.param.update(
            job=job,
            requested=config,
            state="done" if job.state in ("done", "cached") else "rendering",
        )
        self._stop(self._stream)
        self._stream = asyncio.ensure_future(self._guarded(self._show, job, seq, sample))
        return job

    async def _show(self, job: FrameJob, seq: int, sample: np.ndarray | None) -> None:
        """Draw ``job``'s tiles in batches as they arrive; then report how it ended."""
        try:
            if sample is None:
                # A frame that is its own preview (or whose preview failed): fitted on itself,
                # so drawn once it is whole.
                await job.wait()
                if job.state in ("done", "cached"):
                    self._previews.keep(job.key, job.frame)
                    await self._draw(job, seq, job.finished_tiles)
                await job.result()
            else:
                async for batch in job.batches():
                    await self._draw(job, seq, batch)
                    if not job.done and self.draw_interval:
                        await self._gather(job, self.draw_interval)
        except JobCancelled:
            return
        except JobFailed as exc:
            self._failure = str(exc)
            self.state = "failed"
            self._update_stale()
            self._end(job)
            return
        self.param.update(state="done", complete=self.shown_key == job.key)
        self._update_stale()
        self._end(job)

    @staticmethod
    async def _gather(job: FrameJob, seconds: float) -> None:
        # Measured: each drawing costs the browser a full repaint of the plot, axes
        # included (about 60 ms of chromium CPU here), whatever the tile's size; a heavy
        # frame drawn tile by tile spent more CPU in the browser than on the workers.
        # The next batch holds every tile that finished meanwhile; the job's end ends
        # the wait, so that the last tile is not held back.
        ending = asyncio.ensure_future(job.wait())
        try:
            await asyncio.wait({ending}, timeout=seconds)
        finally:
            ending.cancel()

    async def _draw(self, job: FrameJob, seq: int, batch: list[TileResult]) -> None:
        config = job.config
        fit = self.fit(config.key)
        batch = [r for r in batch if r is not None]  # a deep frame's reference chunks
        if not batch:
            return
        whole = job.done and len(batch) == len(job.tiles)
        parts = [job.frame] if whole else [r.values for r in batch]
        if sum(p.size for p in parts) > _INDEX_IN_THREAD:
            indices = await asyncio.to_thread(lambda: [fit(p) for p in parts])
        else:
            indices = [fit(p) for p in parts]
        if job is not self.job or self._latest.stale(seq) or self.state == "closed":
            return
        if whole:  # all at once (a cache hit, a small frame): one image, not a mosaic
            self.painter.show_preview(config, indices[0])
        else:
            if self.shown_key != job.key:
                # Tiles go over their own frame's preview, never over another view's.
                self.painter.show_preview(config, fit(self._previews.values(config.key)))
            self.painter.show_tiles(
                config, [(r.tile, i) for r, i in zip(batch, indices, strict=True)]
            )
        self._latest.show(seq)
        self.param.update(shown_key=job.key, complete=job.done)
        self._update_stale()

    def _end(self, job: FrameJob) -> None:
        if job is self.job:
            self.ended = job.record()

    def _let_go(self, job: FrameJob) -> None:
        """Stop wanting an unfinished ``job``: the engine cancels it unless another
        consumer wants it; for this one it ended as cancelled."""
        if self._full is not None and self._full.job is job:
            self._full.cancel()
        self.ended = job.record("cancelled")

    # -- what is shown ----------------------------------------------------------------------
    def _update_stale(self) -> None:
        wanted = self.wanted
        shown = judge(
            self.state,
            None if wanted is None else wanted.key,
            self.shown_key,
            self.complete,
            self._failure,
        )
        self.param.update(
            stale=shown.stale, stale_reason=shown.reason, provisional=shown.provisional
        )

    @param.depends("normalization", watch=True)
    def _recolour(self) -> None:
        """Redraw what is shown with the new normalisation: the same values, no task."""
        job, key = self.job, self.shown_key
        fit = None if key is None else self.fit(key)
        if fit is None:
            return
        if job is not None and job.key == key and job.state in ("done", "cached"):
            self.painter.show_preview(job.config, fit(job.frame))
            return
        config = job.config if job is not None and job.key == key else self.wanted
        if config is None or config.key != key:
            return
        self.painter.show_preview(config, fit(self._previews.values(key)))
        if job is not None and job.key == key:
            tiles = job.finished_tiles
            if tiles:
                self.painter.show_tiles(config, [(r.tile, fit(r.values)) for r in tiles])
