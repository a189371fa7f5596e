"""Frames as Dask jobs: de-duplicated, cancellable, observable, streamed tile by tile.

A :class:`Job` is one frame of one config. Its key is the config's deterministic key, and
its tiles are Dask tasks named after it, so the same request from anywhere (another
session, another server process on the same scheduler) names the same tasks and Dask
computes them once.

A :class:`JobManager` is one consumer (a browser session, a notebook): it wants at most
one job at a time. Its managers on one client share a :class:`JobRegistry`, which
holds the jobs in flight, the cache of finished frames and the subscription to the
workers' "tile started" reports. A job runs while at least one manager wants it; when
the last one moves on, its futures are released and Dask drops its queued tiles.

Work is ordered fairly between consumers rather than newest first: each tile gets a
start tag in a virtual clock that advances with the tiles workers start (start-time fair
queuing, with the tile's estimated cost as its size), and Dask runs lower tags first. A
consumer that keeps submitting (a live drag) therefore takes turns with the others
instead of jumping ahead of them. Previews go before any tile.

Everything here runs on the event loop of the asynchronous Dask client: call
``submit`` from that loop (a notebook cell, a Panel callback on the server's loop).
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

import dask
import numpy as np
import param
from distributed.client import FutureCancelledError

from .config import FractalConfig
from .store import FrameCache, FrameStore
from .tiles import (
    TILE_STARTED_TOPIC,
    Tile,
    TileTask,
    compute_tile,
    plan,
    render,
    seconds,
    split,
    tile_tasks,
)

logger = logging.getLogger(__name__)

#: Job states. ``cached`` is a finished frame served without running any task.
STATES = ("queued", "running", "done", "cancelled", "failed", "cached")
FINAL_STATES = frozenset({"done", "cancelled", "failed", "cached"})
#: States in which a job is, or will be, a frame: a repeated request reuses it.
LIVE_STATES = frozenset({"queued", "running", "done", "cached"})


class JobError(Exception):
    """A job did not produce a frame."""


class JobFailed(JobError):
    """A tile failed; the message is the worker's error."""


class JobCancelled(JobError):
    """Nobody wanted the job any more, so it was cancelled."""


@dataclass(frozen=True)
class TileResult:
    """A finished tile: where it goes in the frame, and its escape values."""

    tile: Tile
    values: np.ndarray


class Job(param.Parameterized):
    """One frame of one config, computed as Dask tasks (or served from the cache).

    Observe it with param (``job.param.watch(callback, ["state", "tiles_done"])``), await
    it (``await job.result()``), or stream it (``async for tile in job``). Jobs are created
    by :meth:`JobManager.submit`, never directly.
    """

    key = param.String(constant=True, doc="Deterministic key of the computed frame.")
    config = param.ClassSelector(
        class_=FractalConfig, constant=True, doc="A copy of the requested config."
    )
    state = param.Selector(default="queued", objects=list(STATES), doc="Where the job is.")
    tiles_total = param.Integer(default=0, bounds=(0, None), doc="Tiles in the frame.")
    tiles_started = param.Integer(
        default=0, bounds=(0, None), doc="Tiles that workers reported as started."
    )
    tiles_done = param.Integer(default=0, bounds=(0, None), doc="Tiles computed and received.")
    error = param.String(default=None, allow_None=True, doc="Why the job failed.")
    submitted_at = param.Number(default=None, allow_None=True, doc="time.time() at submit.")
    started_at = param.Number(
        default=None, allow_None=True, doc="When a worker first reported a tile started."
    )
    finished_at = param.Number(default=None, allow_None=True, doc="When it reached a final state.")

    def __init__(
        self,
        config: FractalConfig,
        *,
        state: str = "queued",
        grid: tuple[int, int] | None = None,
        **params,
    ):
        tiles = split(config.width, config.height, grid)
        super().__init__(
            key=config.key,
            config=config.copy(),
            state=state,
            tiles_total=len(tiles),
            submitted_at=time.time(),
            **params,
        )
        self._frame = np.empty((config.height, config.width))
        self._results: list[TileResult] = []
        self._started_tiles: set[tuple[int, int]] = set()
        self._changed = asyncio.Event()
        self._futures: dict = {}
        self._driver: asyncio.Task | None = None
        self._owners: weakref.WeakSet = weakref.WeakSet()
        self._on_final = None
        self._attempt = 0
        self._grid = grid
        self._persist = True
        #: Start and finish tag of each tile in the registry's virtual clock (JobRegistry).
        self._tags: dict[tuple[int, int], tuple[float, float]] = {}

    @classmethod
    def _from_cache(cls, config: FractalConfig, frame: np.ndarray) -> Job:
        job = cls(config, state="cached")
        job._fill(frame)
        job.finished_at = job.started_at
        return job

    def _fill(self, frame: np.ndarray) -> None:
        # A finished frame from a cache: every tile at once, in the order tasks would run.
        tiles = split(self.config.width, self.config.height, self._grid)
        self._frame = frame
        self._results = [TileResult(t, frame[t.slices]) for t in tiles]
        started = self.started_at or time.time()
        self.param.update(tiles_done=self.tiles_total, started_at=started)

    # -- reading ---------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True once the job is in a final state (done, cached, cancelled or failed)."""
        return self.state in FINAL_STATES

    @property
    def progress(self) -> float:
        """Fraction of tiles computed and received, 0..1."""
        return self.tiles_done / self.tiles_total if self.tiles_total else 0.0

    @property
    def duration(self) -> float | None:
        """Seconds from submission to the final state (None while unfinished)."""
        if self.finished_at is None or self.submitted_at is None:
            return None
        return self.finished_at - self.submitted_at

    @property
    def grid(self) -> tuple[int, int]:
        """``(rows, cols)`` of the frame's tiles."""
        tiles = split(self.config.width, self.config.height, self._grid)
        return max(t.row for t in tiles) + 1, max(t.col for t in tiles) + 1

    @property
    def frame(self) -> np.ndarray:
        """The frame as assembled so far (tiles not yet received hold garbage)."""
        return self._frame

    @property
    def finished_tiles(self) -> list[TileResult]:
        """The tiles received so far, in the order they arrived."""
        return list(self._results)

    def describe(self) -> str:
        """The state in words, e.g. ``"running: 3 of 16 tiles done, 2 more started"``."""
        if self.state == "queued":
            return f"queued: {self.tiles_total} tiles waiting for a worker"
        if self.state == "running":
            return (
                # Started but not received: computing, or finished and still on the way.
                f"running: {self.tiles_done} of {self.tiles_total} tiles done, "
                f"{max(self.tiles_started - self.tiles_done, 0)} more started"
            )
        if self.state == "done":
            tiles = "1 tile" if self.tiles_total == 1 else f"{self.tiles_total} tiles"
            return f"done in {self.duration * 1000:.0f} ms ({tiles})"
        if self.state == "cached":
            return "from cache: no task ran"
        if self.state == "cancelled":
            return f"cancelled after {self.tiles_done} of {self.tiles_total} tiles"
        return f"failed: {self.error}"

    def record(self, state: str | None = None) -> dict:
        """A plain, JSON-serialisable summary of the job, for a history.

        Keys: ``key``, ``summary``, ``config`` (every parameter but the name, ranges as
        lists), ``state``, ``cached``, ``submitted_at``, ``duration`` (seconds or None),
        ``tiles_total``, ``tiles_done`` and ``error``.

        Parameters
        ----------
        state : str, optional
            The state to record instead of the job's own: a consumer that stopped
            wanting an unfinished job records it as ``"cancelled"``, whatever the job
            goes on to do for others.
        """
        config = {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in self.config.param.values().items()
            if k != "name"
        }
        return {
            "key": self.key,
            "summary": self.config.summary(),
            "config": config,
            "state": state or self.state,
            "cached": self.state == "cached",
            "submitted_at": self.submitted_at,
            "duration": self.duration,
            "tiles_total": self.tiles_total,
            "tiles_done": self.tiles_done,
            "error": self.error,
        }

    async def wait(self) -> str:
        """Wait until the job reaches a final state; return that state."""
        while not self.done:
            await self._changed.wait()
        return self.state

    async def result(self) -> np.ndarray:
        """The finished frame, read-only: shape ``(height, width)``, NaN inside the set.

        Raises
        ------
        JobFailed
            With the worker's error message.
        JobCancelled
            If the job was cancelled before it finished.
        """
        await self.wait()
        self._raise_if_unfinished()
        return self._frame

    def __aiter__(self):
        return self._stream()

    async def _stream(self):
        # Every consumer sees every tile, including those that finished before it started
        # listening, in the order they finished.
        seen = 0
        while True:
            while seen < len(self._results):
                seen += 1
                yield self._results[seen - 1]
            if self.done:
                break
            await self._changed.wait()
        self._raise_if_unfinished()

    async def batches(self):
        """The tiles as they finish, in batches: each holds every tile received since the
        previous batch (a consumer that draws pays once per batch, not per tile).

        Raises :class:`JobFailed` or :class:`JobCancelled` at the end, as iterating does.
        """
        seen = 0
        while True:
            if seen < len(self._results):
                batch, seen = self._results[seen:], len(self._results)
                yield batch
                continue
            if self.done:
                break
            await self._changed.wait()
        self._raise_if_unfinished()

    def _raise_if_unfinished(self) -> None:
        if self.state == "failed":
            raise JobFailed(self.error)
        if self.state == "cancelled":
            raise JobCancelled(f"job {self.key} was cancelled")

    # -- driving (registry only) -------------------------------------------------------------
    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def _finish(self, state: str, error: str | None = None) -> None:
        if self.done:
            return
        if state == "done":
            self._frame.setflags(write=False)
        self.param.update(state=state, error=error, finished_at=time.time())
        self._notify()
        if self._on_final is not None:
            self._on_final(self)

    def _tile_started(self, row: int, col: int) -> None:
        if self.done or (row, col) in self._started_tiles:
            return
        self._started_tiles.add((row, col))
        updates = {"tiles_started": len(self._started_tiles)}
        if self.state == "queued":
            updates.update(state="running", started_at=time.time())
        self.param.update(**updates)
        self._notify()

    def _start(
        self, client, attempt: int, tags: list[tuple[float, float]], store: FrameStore | None
    ) -> None:
        # ``tags``: each tile's start and finish tag, in the order of ``tile_tasks``.
        self._attempt = attempt
        self._driver = asyncio.ensure_future(self._drive(client, attempt, tags, store))

    def _start_local(self, executor: ThreadPoolExecutor) -> None:
        self._driver = asyncio.ensure_future(self._drive_local(executor))

    async def _load(self, store: FrameStore) -> bool:
        """Finish as ``cached`` from the persistent store, if it holds this frame."""
        shape = (self.config.height, self.config.width)
        try:
            frame = await asyncio.to_thread(store.get, self.key, shape)
        except Exception:  # an unreachable store is a miss: the frame is computed
            logger.warning("reading frame %s from %r failed", self.key, store, exc_info=True)
            return False
        if frame is None:
            return False
        self._fill(frame)
        self._finish("cached")
        return True

    def _submit_tiles(self, client, attempt: int, tags: list[tuple[float, float]]) -> None:
        tasks: list[TileTask] = tile_tasks(
            self.config, job_key=self.key, attempt=attempt, grid=self._grid
        )
        rows, cols = self.grid
        tiles = []
        for task, (tag, finish) in zip(tasks, tags, strict=True):
            tile = task.tile
            self._tags[tile.row, tile.col] = (tag, finish)
            # Dask runs higher priorities first: lower start tags first.
            with dask.annotate(priority=-tag, retries=0):
                tiles.append(
                    dask.delayed(compute_tile)(
                        task,
                        # The attempt makes the keys of a frame asked for again right after
                        # it was cancelled new ones: reusing keys the scheduler is still
                        # releasing left futures that never resolved (seen with one busy
                        # worker). The grid is in the key because tile (row, col) means
                        # another rectangle on another grid.
                        dask_key_name=(
                            f"fractal-tile-{self.key}",
                            f"{rows}x{cols}",
                            tile.row,
                            tile.col,
                            attempt,
                        ),
                    )
                )
        # One graph for all tiles, not a submit each: the scheduler then sees the whole
        # group at once and queues all of it by priority (root-ish tasks), where tiles
        # submitted one by one had their first two sent straight to a worker, ahead of
        # tiles of other jobs with lower tags waiting in the scheduler's queue.
        futures = client.compute(tiles, optimize_graph=False)
        for task, future in zip(tasks, futures, strict=True):
            self._futures[task.tile] = future

    async def _drive(
        self, client, attempt: int, tags: list[tuple[float, float]], store: FrameStore | None
    ) -> None:
        if store is not None and await self._load(store):
            return
        self._submit_tiles(client, attempt, tags)
        collectors = [asyncio.ensure_future(self._collect(tile)) for tile in self._futures]
        try:
            await asyncio.gather(*collectors)
        except asyncio.CancelledError:
            raise
        except FutureCancelledError as exc:
            self._finish("failed", f"The Dask cluster dropped the work ({exc}).")
        except Exception as exc:
            self._finish("failed", f"{type(exc).__name__}: {exc}")
        else:
            self._finish("done")
        finally:
            # After a failure the other tiles are not wanted: stop waiting for them.
            for collector in collectors:
                collector.cancel()
            self._release_futures()

    async def _drive_local(self, executor: ThreadPoolExecutor) -> None:
        # In this process, in a thread (the kernel releases the GIL): the event loop
        # never computes. A thread cannot be stopped either: a cancelled local job's
        # result is dropped when it arrives.
        loop = asyncio.get_running_loop()

        def compute() -> np.ndarray:
            loop.call_soon_threadsafe(self._tile_started, 0, 0)
            return render(self.config, threads=1)

        try:
            frame = await loop.run_in_executor(executor, compute)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._finish("failed", f"{type(exc).__name__}: {exc}")
            return
        if not self.done:
            self._fill(frame)
            self._finish("done")

    async def _collect(self, tile: Tile) -> None:
        values = await self._futures[tile]
        future = self._futures.pop(tile, None)
        if future is None:  # released meanwhile: the job ended
            return
        future.release()
        self._frame[tile.slices] = values
        self._results.append(TileResult(tile, self._frame[tile.slices]))
        self._started_tiles.add((tile.row, tile.col))
        updates = {"tiles_done": len(self._results), "tiles_started": len(self._started_tiles)}
        if self.state == "queued":
            updates.update(state="running", started_at=time.time())
        self.param.update(**updates)
        self._notify()

    def _release_futures(self) -> None:
        # Releasing our last reference tells the scheduler we no longer want the keys;
        # tiles nobody else wants are forgotten, and queued ones never run.
        futures, self._futures = self._futures, {}
        for future in futures.values():
            future.release()

    def _cancel(self) -> None:
        if self.done:
            return
        if self._driver is not None:
            self._driver.cancel()
        self._release_futures()
        self._finish("cancelled")


class JobRegistry:
    """Jobs shared by all managers of one client: in flight, cached, and their reports.

    One registry per client, since a client delivers each event topic to a single
    handler: use :meth:`for_client`, or create it once, before any manager.

    Tiles are ordered by start-time fair queuing: a job's tiles get consecutive start
    tags beginning at the registry's virtual time (the tag of the latest tile a worker
    started), or at its owner's finish tag (the end of the owner's latest started tile)
    where that is later, each tag one tile's estimated cost after the previous one, and
    Dask runs the lowest tag first. Two consumers that both have work queued take turns,
    tile by tile, weighted by cost, whoever submitted last, and one that replaces its job
    with a new one faster than tiles finish cannot restart its turn each time; a preview
    goes before any tile.
    Tags are in seconds, anchored to the wall clock whenever nothing waits, so that the
    registries of several server processes on one scheduler order their work comparably
    (approximately: each process sees only its own tiles start).

    Parameters
    ----------
    client : distributed.Client
        An asynchronous client.
    cache : FrameCache, optional
        Finished frames; defaults to a 512 MiB in-memory LRU.
    store : FrameStore, optional
        Where finished frames and job records persist, across restarts and processes.
        A job first looks there (off the event loop) and, if found, finishes as
        ``cached`` with no task. Without a store nothing is written to disk.
    """

    # A weak association, not global state: a registry lives exactly as long as its
    # client, and managers created independently on one client must find the same one.
    _by_client: ClassVar[weakref.WeakKeyDictionary] = weakref.WeakKeyDictionary()

    #: How far ahead of every tile a preview's tag is placed, in seconds.
    PREVIEW_LEAD = 3600.0
    #: Seconds a new job's tags lie after the tags it would tie with.
    TIE = 1e-6
    #: Recent jobs whose tiles' starts are still charged to their owners.
    CHARGES_KEPT = 256

    def __init__(self, client, cache: FrameCache | None = None, store: FrameStore | None = None):
        if client in self._by_client:
            raise ValueError(
                "This client already has a JobRegistry; use JobRegistry.for_client(client)."
            )
        self._by_client[client] = self
        self.client = client
        self.cache = cache if cache is not None else FrameCache()
        self.store = store
        self.jobs: dict[str, Job] = {}
        self._writes: set[asyncio.Future] = set()
        self._attempts = itertools.count(1)
        self._virtual = 0.0
        #: Each owner's finish tag: where its next job's tiles start, at the earliest.
        self._finish: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        #: (job key, attempt) -> (tile tags, owners) of recent cluster jobs, ended or not.
        self._charges: collections.OrderedDict = collections.OrderedDict()
        self._local: ThreadPoolExecutor | None = None
        client.subscribe_topic(TILE_STARTED_TOPIC, self._on_tile_started)

    @classmethod
    def for_client(
        cls, client, cache: FrameCache | None = None, store: FrameStore | None = None
    ) -> JobRegistry:
        """The registry of ``client``, created on first use (with ``cache`` and ``store``)."""
        registry = cls._by_client.get(client)
        return registry if registry is not None else cls(client, cache, store)

    def _on_tile_started(self, event) -> None:
        _, msg = event
        job = self.jobs.get(msg.get("job"))
        # A cancelled earlier attempt at the same frame may still report its last tile.
        live = job is not None and job._attempt == msg.get("attempt", job._attempt)
        # A tile of a job superseded a moment ago may still start (the worker had it in
        # hand): it costs its owners their turn all the same. (A job still in flight is
        # charged from itself, should its entry have been evicted.)
        charge = self._charges.get((msg.get("job"), msg.get("attempt")))
        if charge is None and live:
            charge = (job._tags, job._owners)
        if charge is not None:
            tags, payers = charge
            span = tags.get((msg["row"], msg["col"]))
            if span is not None:
                start, finish = span
                self._virtual = max(self._virtual, start)
                for owner in payers:
                    self._finish[owner] = max(self._finish.get(owner, finish), finish)
        if live:
            job._tile_started(msg["row"], msg["col"])

    def tags(
        self,
        config: FractalConfig,
        grid,
        iterations: float | None,
        *,
        preview: bool,
        owner=None,
    ) -> list[float]:
        """Start tags for the tiles of ``config`` on ``grid``, in ``tile_tasks`` order.

        ``owner``: who asks; its job starts no earlier than its finish tag.
        """
        return [start for start, _ in self._spans(config, grid, iterations, preview, owner)]

    def _spans(self, config, grid, iterations, preview, owner) -> list[tuple[float, float]]:
        """Start and finish tags of each tile, in ``tile_tasks`` order."""
        tiles = split(config.width, config.height, grid)
        # While tiles wait, the clock is the tag of the tile started last (so a newcomer
        # takes turns with the waiting ones, however late they run against estimates);
        # with nothing waiting it catches up with the wall clock, and owners' finish tags
        # are forgotten (else estimates that run long would pile up into a debt).
        if not any(job._tags and not job.done for job in self.jobs.values()):
            self._virtual = max(self._virtual, time.time())
            self._finish.clear()
        now = self._virtual
        if owner is not None:
            now = max(now, self._finish.get(owner, now))
        # Equal tags are common (a tile's finish is the next one's start); a newer job
        # must lose such ties, which Dask (seen: scheduler and worker) breaks its way.
        now += self.TIE
        if preview:
            now -= self.PREVIEW_LEAD
        pixels = config.width * config.height
        if iterations is None:  # unknown: assume the worst, every pixel to max_iter
            iterations = float(pixels) * config.max_iter
        spans, tag = [], now
        for tile in tiles:
            finish = tag + seconds(iterations * tile.size / pixels, tile.size)
            spans.append((tag, finish))
            tag = finish
        return spans

    def acquire(
        self,
        config: FractalConfig,
        owner,
        *,
        iterations: float | None = None,
        preview: bool = False,
        local: bool = False,
    ) -> Job:
        """The job for ``config`` on behalf of ``owner``: joined, cached or started.

        ``iterations`` (an estimate from a preview, see
        :func:`~compute.tiles.expected_iterations`) chooses the tiling and the tiles'
        place in the queue; ``preview`` puts the job ahead of frames; ``local`` computes
        it in this process, in a thread, instead of on the cluster (for cheap previews,
        where a Dask round trip costs more than the frame; not persisted).
        """
        key = config.key
        job = self.jobs.get(key)
        if job is None:
            frame = self.cache.get(key)
            if frame is not None:
                job = Job._from_cache(config, frame)
            elif local:
                job = Job(config)
                job._on_final = self._on_final
                job._persist = False
                self.jobs[key] = job
                if self._local is None:
                    # One thread: local work is small and must not crowd out the loop.
                    self._local = ThreadPoolExecutor(1, thread_name_prefix="fractal-local")
                job._start_local(self._local)
            else:
                grid = plan(config, iterations)
                job = Job(config, grid=grid)
                job._on_final = self._on_final
                self.jobs[key] = job
                spans = self._spans(config, grid, iterations, preview, owner)
                job._start(self.client, next(self._attempts), spans, self.store)
                self._charges[key, job._attempt] = (job._tags, weakref.WeakSet())
                while len(self._charges) > self.CHARGES_KEPT:
                    self._charges.popitem(last=False)
        job._owners.add(owner)
        charge = self._charges.get((key, job._attempt))
        if charge is not None:
            charge[1].add(owner)
        return job

    def release(self, job: Job, owner) -> bool:
        """``owner`` no longer wants ``job``; cancel it if nobody else does.

        Returns
        -------
        bool
            True if the job was cancelled.
        """
        job._owners.discard(owner)
        if job._owners or job.done:
            return False
        job._cancel()
        return True

    def _on_final(self, job: Job) -> None:
        if self.jobs.get(job.key) is job:
            del self.jobs[job.key]
        if job.state in ("done", "cached"):
            self.cache.put(job.key, job.frame)
        if job.state == "done" and self.store is not None and job._persist:
            self.in_background(self.store.put, job.key, job.frame)

    def in_background(self, write, *args) -> None:
        """Run a store ``write`` in a thread, so that disk or network never block the loop.

        A failed write is logged, never raised: persistence must not cost a frame.
        """

        def run():
            try:
                write(*args)
            except Exception:
                logger.warning("writing to %r failed", self.store, exc_info=True)

        task = asyncio.ensure_future(asyncio.to_thread(run))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def flush(self) -> None:
        """Wait until every write to the store started so far has finished."""
        while self._writes:
            await asyncio.gather(*self._writes)


class JobManager:
    """Submit frames for one consumer; a new request supersedes the previous one.

    Parameters
    ----------
    client : distributed.Client
        An asynchronous client (``await Client(address, asynchronous=True)``).
    registry : JobRegistry, optional
        Shared jobs and cache; defaults to the client's (:meth:`JobRegistry.for_client`),
        so every manager on a client shares jobs with the others.
    history : bool
        Add a record of each of its jobs (:meth:`Job.record`) to the registry's store,
        if it has one: when the job ends, or as ``cancelled`` when this manager stops
        wanting it unfinished. Off for helper requests such as previews.

    Examples
    --------
    >>> manager = JobManager(client)                       # doctest: +SKIP
    >>> job = manager.submit(FractalConfig(max_iter=200))  # doctest: +SKIP
    >>> frame = await job.result()                         # doctest: +SKIP
    """

    def __init__(self, client, *, registry: JobRegistry | None = None, history: bool = True):
        self.registry = registry if registry is not None else JobRegistry.for_client(client)
        self.history = history
        self.job: Job | None = None

    def submit(
        self,
        config: FractalConfig,
        *,
        iterations: float | None = None,
        preview: bool = False,
        local: bool = False,
    ) -> Job:
        """Request a frame; returns at once.

        The same config as the current job returns that job. Any other config supersedes
        the current job, which is cancelled unless another manager still wants it. A job
        for this config already running for another manager is joined; a finished one is
        served from the cache. ``iterations``, ``preview`` and ``local`` are as in
        :meth:`JobRegistry.acquire`.

        Raises
        ------
        ValueError
            If the config violates its constraints (see :meth:`FractalConfig.validate`).
        """
        config.validate()
        current = self.job
        if current is not None and current.key == config.key and current.state in LIVE_STATES:
            return current
        job = self.registry.acquire(
            config, self, iterations=iterations, preview=preview, local=local
        )
        self.job = job
        if current is not None and current is not job:
            self._let_go(current)
        self._log_when_final(job)
        return job

    def cancel(self) -> bool:
        """Stop wanting the current job; cancel it unless another manager wants it.

        Returns
        -------
        bool
            True if the job was cancelled (False if it had finished or is still wanted).
        """
        job, self.job = self.job, None
        return job is not None and self._let_go(job)

    close = cancel

    # -- history ----------------------------------------------------------------------------
    def _let_go(self, job: Job) -> bool:
        if not job.done:
            self._log(job, state="cancelled")
        return self.registry.release(job, self)

    def _log_when_final(self, job: Job) -> None:
        if not self._logging:
            return
        if job.done:
            self._log(job)
            return

        def ended(event):
            if event.new in FINAL_STATES:
                job.param.unwatch(watcher)
                if self.job is job:  # a job this manager let go was logged then
                    self._log(job)

        watcher = job.param.watch(ended, "state")

    @property
    def _logging(self) -> bool:
        return self.history and self.registry.store is not None

    def _log(self, job: Job, state: str | None = None) -> None:
        if self._logging:
            self.registry.in_background(self.registry.store.add_record, job.record(state))
