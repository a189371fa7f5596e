"""Dask work as jobs: de-duplicated, cancellable, observable, streamed part by part.

A :class:`Job` is the observable record of one piece of work with a deterministic key:
its state, its progress in parts, its parts as they finish and its result. What it runs
is one of four kinds, each driven by a driver that does all the talking to Dask:

* a **frame** of a :class:`~compute.FractalConfig` (parts: tiles; :class:`FrameJob`),
* a **movie** (parts: frames; see :mod:`compute.movie`),
* a **call** of a pure function, ``manager.submit(fn, *args, **kwargs)``, keyed by
  Dask's ``tokenize`` of the function and its arguments (one part),
* a **graph**: a ``dask.delayed`` object or a list of them (parts: the leaves).

Keys are equal in every process: a frame's tiles are Dask tasks named after the frame
alone, so the same request from anywhere (another session, another server process on
the same scheduler) names the same tasks and Dask computes them once.

Two kinds of owner want jobs. A :class:`JobManager` is one consumer that must stay
connected (a browser session, a notebook): it wants at most one job at a time, a new
request supersedes its previous one, and a job runs while at least one manager wants it;
when the last one moves on its futures are released and Dask drops its queued tasks.
A *detached* job (:meth:`JobRegistry.detach`) runs to completion whoever watches,
is held by its registry until it ends, is never superseded, and ends only by itself or
by an explicit :meth:`JobRegistry.cancel`: what Dask's ``fire_and_forget`` gives, plus a
state, a record in the history (rewritten as it progresses, so that a process that
stops leaves an ``interrupted`` record rather than one "running" forever) and its
result in the store.

Frame work is ordered fairly between consumers rather than newest first (start-time
fair queuing, see :class:`JobRegistry`). Everything here runs on the event loop of the
asynchronous Dask client: call ``submit`` from that loop (a notebook cell, a Panel
callback on the server's loop).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import re
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar

import cloudpickle
import dask
import numpy as np
import param
from dask.base import tokenize
from dask.delayed import Delayed
from distributed.client import FutureCancelledError

from .cluster import check_reconnected, on_reconnect
from .config import FractalConfig
from .limits import Ledger
from .records import KINDS, JobRecord
from .reports import JOB_ANNOTATION, JOB_STARTED_TOPIC, StartReporter
from .store import MISSING, FrameCache, FrameStore
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

#: Job states. ``cached`` is a finished result served without running any task.
STATES = ("queued", "running", "done", "cancelled", "failed", "cached")
FINAL_STATES = frozenset({"done", "cancelled", "failed", "cached"})
#: States in which a job is, or will be, a result: a repeated request reuses it.
LIVE_STATES = frozenset({"queued", "running", "done", "cached"})
#: Dask priority of background work (calls, graphs, movies): below every interactive
#: tile, whose priorities are minus a wall-clock-anchored tag (about -2e9), so that
#: exploring stays responsive while background work fills the gaps.
BACKGROUND_PRIORITY = -1e12
#: Characters allowed in a job key (it names files in the store).
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


class JobError(Exception):
    """A job did not produce a result."""


class JobFailed(JobError):
    """A task failed; the message is the worker's error."""


class JobCancelled(JobError):
    """Nobody wanted the job any more, or it was cancelled explicitly."""


@dataclass(frozen=True)
class TileResult:
    """A finished tile: where it goes in the frame, and its escape values."""

    tile: Tile
    values: np.ndarray


@dataclass(frozen=True)
class Part:
    """A finished part of a call, graph or movie: its index and its value."""

    index: int
    value: Any


class Job(param.Parameterized):
    """The observable record of one job (of any kind), computed as Dask tasks or cached.

    Observe it with param (``job.param.watch(callback, ["state", "parts_done"])``), await
    it (``await job.result()``), or stream its parts (``async for part in job``). Jobs are
    created by :meth:`JobManager.submit` and :meth:`JobRegistry.detach`, never directly.
    """

    key = param.String(constant=True, doc="Deterministic key of the work.")
    kind = param.Selector(default="frame", objects=list(KINDS), constant=True, doc="What runs.")
    summary = param.String(default="", constant=True, doc="One line for people.")
    state = param.Selector(default="queued", objects=list(STATES), doc="Where the job is.")
    parts_total = param.Integer(default=0, bounds=(0, None), doc="Parts of the work.")
    parts_started = param.Integer(
        default=0, bounds=(0, None), doc="Parts that workers reported as started."
    )
    parts_done = param.Integer(default=0, bounds=(0, None), doc="Parts finished and received.")
    error = param.String(default=None, allow_None=True, doc="Why the job failed.")
    detached = param.Boolean(
        default=False, doc="Runs to completion whoever watches (see JobRegistry.detach)."
    )
    submitted_at = param.Number(default=None, allow_None=True, doc="time.time() at submit.")
    started_at = param.Number(
        default=None, allow_None=True, doc="When a worker first reported a part started."
    )
    finished_at = param.Number(default=None, allow_None=True, doc="When it reached a final state.")

    #: What a part is called, singular and plural.
    noun: ClassVar[tuple[str, str]] = ("part", "parts")

    def __init__(self, key: str, *, state: str = "queued", **params):
        super().__init__(key=key, state=state, submitted_at=time.time(), **params)
        self._results: list = []
        self._started_parts: set = set()
        self._changed = asyncio.Event()
        self._owners: weakref.WeakSet = weakref.WeakSet()
        #: Users who asked for it detached (None: an anonymous consumer): each gets a record.
        self._users: set[str | None] = set()
        self._driver: Driver | None = None
        self._on_final: Callable[[Job], None] | None = None
        self._persist = True
        self._value: Any = None
        #: Parts that were already done when it started (resumed from a store): not
        #: counted in its pace.
        self._baseline = 0

    # -- reading ---------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """True once the job is in a final state (done, cached, cancelled or failed)."""
        return self.state in FINAL_STATES

    @property
    def progress(self) -> float:
        """Fraction of parts finished and received, 0..1."""
        return self.parts_done / self.parts_total if self.parts_total else 0.0

    @property
    def duration(self) -> float | None:
        """Seconds from submission to the final state (None while unfinished)."""
        if self.finished_at is None or self.submitted_at is None:
            return None
        return self.finished_at - self.submitted_at

    @property
    def eta(self) -> float | None:
        """Seconds left, estimated from the pace of the parts finished so far (or None)."""
        paced = self.parts_done - self._baseline
        if self.done or paced <= 0 or self.started_at is None:
            return None
        spent = time.time() - self.started_at
        return spent / paced * (self.parts_total - self.parts_done)

    @property
    def parts(self) -> list:
        """The parts received so far, in the order they arrived."""
        return list(self._results)

    def _count(self, n: int) -> str:
        one, many = self.noun
        return f"{n} {one if n == 1 else many}"

    def describe(self) -> str:
        """The state in words, e.g. ``"running: 3 of 16 tiles done, 2 more started"``."""
        total, (_, many) = self.parts_total, self.noun
        if self.state == "queued":
            return f"queued: {self._count(total)} waiting for a worker"
        if self.state == "running":
            return (
                # Started but not received: computing, or finished and still on the way.
                f"running: {self.parts_done} of {total} {many} done, "
                f"{max(self.parts_started - self.parts_done, 0)} more started"
            )
        if self.state == "done":
            return f"done in {self.duration * 1000:.0f} ms ({self._count(total)})"
        if self.state == "cached":
            return "from cache: no task ran"
        if self.state == "cancelled":
            return f"cancelled after {self.parts_done} of {total} {many}"
        return f"failed: {self.error}"

    def _config(self) -> dict | None:
        """What restores this job's request, as JSON values (see JobRecord.restore)."""
        return None

    def record(self, state: str | None = None) -> JobRecord:
        """A snapshot of the job for a history (see :class:`~compute.records.JobRecord`).

        Parameters
        ----------
        state : str, optional
            The state to record instead of the job's own: a consumer that stopped
            wanting an unfinished job records it as ``"cancelled"``, whatever the job
            goes on to do for others.
        """
        return JobRecord(
            key=self.key,
            kind=self.kind,
            summary=self.summary,
            state=state or self.state,
            submitted_at=self.submitted_at,
            duration=self.duration,
            parts_total=self.parts_total,
            parts_done=self.parts_done,
            error=self.error,
            config=self._config(),
            detached=self.detached,
        )

    async def wait(self) -> str:
        """Wait until the job reaches a final state; return that state."""
        while not self.done:
            await self._changed.wait()
        return self.state

    async def result(self) -> Any:
        """The job's result: a frame's values, a call's return value, a graph's leaf
        values (a list if it was asked for as a list), a movie's :class:`~compute.movie.Movie`.

        Raises
        ------
        JobFailed
            With the worker's error message.
        JobCancelled
            If the job was cancelled before it finished.
        """
        await self.wait()
        self._raise_if_unfinished()
        return self._value

    def __aiter__(self):
        return self._stream()

    async def _stream(self):
        # Every consumer sees every part, including those that finished before it started
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
        """The parts as they finish, in batches: each holds every part received since the
        previous batch (a consumer that draws pays once per batch, not per part).

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

    # -- written by drivers ------------------------------------------------------------------
    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def _finish(self, state: str, error: str | None = None) -> None:
        if self.done:
            return
        self.param.update(state=state, error=error, finished_at=time.time())
        self._notify()
        if self._on_final is not None:
            self._on_final(self)

    def _part_started(self, part) -> None:
        if self.done or part in self._started_parts:
            return
        self._started_parts.add(part)
        updates = {"parts_started": len(self._started_parts)}
        if self.state == "queued":
            updates.update(state="running", started_at=time.time())
        self.param.update(**updates)
        self._notify()

    def _running(self) -> None:
        """A worker reported work of this job started (not one of its counted parts)."""
        if self.state == "queued":
            self.param.update(state="running", started_at=time.time())
            self._notify()

    def _part_done(self, result, part) -> None:
        self._results.append(result)
        self._started_parts.add(part)
        updates = {"parts_done": len(self._results), "parts_started": len(self._started_parts)}
        if self.state == "queued":
            updates.update(state="running", started_at=time.time())
        self.param.update(**updates)
        self._notify()

    def _cancel(self) -> None:
        if self.done:
            return
        if self._driver is not None:
            self._driver.stop()
        self._finish("cancelled")


class FrameJob(Job):
    """One frame of one config: its parts are tiles (:class:`TileResult`)."""

    config = param.ClassSelector(
        class_=FractalConfig, constant=True, doc="A copy of the requested config."
    )

    noun = ("tile", "tiles")

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
            config.key,
            kind="frame",
            summary=config.summary(),
            config=config.copy(),
            state=state,
            parts_total=len(tiles),
            **params,
        )
        self._grid = grid
        self._value = np.empty((config.height, config.width))
        #: Start and finish tag of each tile in the registry's virtual clock (JobRegistry).
        self._tags: dict[tuple[int, int], tuple[float, float]] = {}

    @classmethod
    def _from_cache(cls, config: FractalConfig, frame: np.ndarray) -> FrameJob:
        job = cls(config, state="cached")
        job._fill(frame)
        job.finished_at = job.started_at
        return job

    def _fill(self, frame: np.ndarray) -> None:
        # A finished frame from a cache: every tile at once, in the order tasks would run.
        tiles = split(self.config.width, self.config.height, self._grid)
        self._value = frame
        self._results = [TileResult(t, frame[t.slices]) for t in tiles]
        started = self.started_at or time.time()
        self.param.update(parts_done=self.parts_total, started_at=started)

    def _finish(self, state: str, error: str | None = None) -> None:
        if state == "done" and not self.done:
            self._value.setflags(write=False)
        super()._finish(state, error)

    def _config(self) -> dict:
        return self.config.to_dict()

    @property
    def grid(self) -> tuple[int, int]:
        """``(rows, cols)`` of the frame's tiles."""
        tiles = split(self.config.width, self.config.height, self._grid)
        return max(t.row for t in tiles) + 1, max(t.col for t in tiles) + 1

    @property
    def frame(self) -> np.ndarray:
        """The frame as assembled so far (tiles not yet received hold garbage)."""
        return self._value

    @property
    def finished_tiles(self) -> list[TileResult]:
        """The tiles received so far, in the order they arrived."""
        return self.parts

    async def result(self) -> np.ndarray:
        """The finished frame, read-only: shape ``(height, width)``, NaN inside the set.

        Raises
        ------
        JobFailed
            With the worker's error message.
        JobCancelled
            If the job was cancelled before it finished.
        """
        return await super().result()


class TaskJob(Job):
    """A function call (one part) or a graph of ``dask.delayed`` leaves (a part each)."""

    noun = ("leaf", "leaves")

    def __init__(self, key: str, *, kind: str, leaves: list, single: bool, **params):
        super().__init__(key, kind=kind, parts_total=len(leaves), **params)
        if kind == "call":
            self.noun = ("call", "calls")
        #: Dask key of each leaf -> its index in the result.
        self._leaves = {leaf: i for i, leaf in enumerate(leaves)}
        self._single = single

    def _fill(self, value) -> None:
        values = [value] if self._single else list(value)
        self._value = value
        self._results = [Part(i, v) for i, v in enumerate(values)]
        self.param.update(parts_done=self.parts_total, started_at=self.started_at or time.time())


# -- what can be asked for ----------------------------------------------------------------
class Work:
    """Something a registry can run as a job: a key, a fresh job, and its driver.

    Frames, calls and graphs are turned into work by :func:`as_work`; a movie
    (:class:`~compute.movie.MovieSpec`) is work itself.
    """

    key: str
    #: Pixel-iterations charged to the consumer who starts it (see compute.limits); work
    #: of unknown cost (a call, a graph) is capped by its count only.
    cost: float = 0.0

    def job(self) -> Job:  # pragma: no cover (interface)
        raise NotImplementedError

    def driver(self, job: Job, registry: JobRegistry) -> Driver:  # pragma: no cover
        raise NotImplementedError

    def cached(self, registry: JobRegistry) -> Job | None:
        """A finished job from the registry's memory cache, if it holds the result."""
        found = registry.cache.get(self.key, MISSING)
        if found is MISSING:
            return None
        job = self.job()
        job.state = "cached"
        job._fill(found)
        job.finished_at = job.started_at
        return job


@dataclass
class FrameWork(Work):
    """A frame of ``config`` (see :meth:`JobRegistry.acquire` for the options)."""

    config: FractalConfig
    iterations: float | None = None
    preview: bool = False
    local: bool = False
    owner: Any = None

    def __post_init__(self):
        self.config.validate()
        self.key = self.config.key
        # A preview computed in this process costs the cluster nothing; a frame costs its
        # estimate, or every pixel to max_iter without one.
        if self.local:
            self.cost = 0.0
        elif self.iterations is not None:
            self.cost = float(self.iterations)
        else:
            self.cost = float(self.config.pixel_iterations)

    def job(self) -> FrameJob:
        grid = None if self.local else plan(self.config, self.iterations)
        return FrameJob(self.config, grid=grid)

    def cached(self, registry: JobRegistry) -> Job | None:
        frame = registry.cache.get(self.key)
        return None if frame is None else FrameJob._from_cache(self.config, frame)

    def driver(self, job: FrameJob, registry: JobRegistry) -> Driver:
        if self.local:
            job._persist = False
            return _LocalFrameDriver(job, registry)
        spans = registry._spans(self.config, job._grid, self.iterations, self.preview, self.owner)
        return _FrameDriver(job, registry, spans)


def _name(fn) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "", getattr(fn, "__name__", "") or "")[:40]
    return name or "call"


def call_key(fn: Callable, *args, **kwargs) -> str:
    """The deterministic key of ``fn(*args, **kwargs)``: equal in every process.

    From Dask's ``tokenize`` with ``tokenize.ensure-deterministic`` on, so that an
    argument Dask can only name at random (an arbitrary object without
    ``__dask_tokenize__``) is refused instead of silently never sharing.

    Raises
    ------
    ValueError
        If the call cannot be named deterministically: pass ``key=`` yourself.
    """
    try:
        with dask.config.set({"tokenize.ensure-deterministic": True}):
            token = tokenize(fn, args, kwargs)
    except Exception as exc:
        raise ValueError(
            f"{_name(fn)}(...) cannot be given a deterministic key ({exc}); "
            "pass key='...' naming the work instead."
        ) from None
    return f"call-{_name(fn)}-{token}"


def _checked(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise ValueError(
            f"A job key is 1-128 letters, digits, '_' or '-' starting with a letter or "
            f"digit, not {key!r}."
        )
    return key


def _apply(payload: bytes):
    # The task Dask runs. The call travels pickled, from the moment it was asked for:
    # Dask pickles a task's arguments only when it sends them, so an array changed by
    # the caller after submit() would have been computed, and stored under the key of
    # the values asked for. And the function's keyword arguments never meet
    # Client.submit's own (retries=, priority=, workers= would be Dask's, not passed on).
    fn, args, kwargs = cloudpickle.loads(payload)
    return fn(*args, **kwargs)


class CallWork(Work):
    """A pure function call, computed once per key."""

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, key: str | None = None):
        if not callable(fn):
            raise TypeError(f"{fn!r} is not callable")
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.key = _checked(key) if key is not None else call_key(fn, *args, **kwargs)

    def job(self) -> TaskJob:
        return TaskJob(
            self.key, kind="call", summary=f"{_name(self.fn)}(...)", leaves=[self.key], single=True
        )

    def driver(self, job: TaskJob, registry: JobRegistry) -> Driver:
        payload = cloudpickle.dumps((self.fn, self.args, self.kwargs))

        def submit(client):
            return [client.submit(_apply, payload, key=self.key)]

        return _TaskDriver(job, registry, submit)


class GraphWork(Work):
    """A ``dask.delayed`` object, or a list of them: its leaves' values."""

    def __init__(self, leaves, key: str | None = None):
        single = isinstance(leaves, Delayed)
        leaves = [leaves] if single else list(leaves)
        if not leaves or not all(isinstance(d, Delayed) for d in leaves):
            raise TypeError("A graph job is a dask.delayed object or a non-empty list of them.")
        self.leaves, self.single = leaves, single
        # Dask's delayed keys are random unless pure=True or dask_key_name: such a graph
        # never meets its twin, and its stored result would never be read again.
        self.named = key is not None
        self.key = (
            _checked(key) if key is not None else f"graph-{tokenize([d.key for d in leaves])}"
        )

    def job(self) -> TaskJob:
        names = sorted({str(d.key).split("-")[0] for d in self.leaves})
        return TaskJob(
            self.key,
            kind="graph",
            summary=f"graph of {len(self.leaves)} leaves ({', '.join(names)[:60]})",
            leaves=[d.key for d in self.leaves],
            single=self.single,
        )

    def driver(self, job: TaskJob, registry: JobRegistry) -> Driver:
        job._persist = self.named
        return _TaskDriver(job, registry, lambda client: client.compute(self.leaves))


def as_work(work, args: tuple = (), kwargs: dict | None = None, key: str | None = None) -> Work:
    """``work`` (a config, a movie, delayed objects or a function and its arguments) as
    :class:`Work`."""
    kwargs = kwargs or {}
    if isinstance(work, Work):
        extra = args or kwargs or key is not None
    elif isinstance(work, FractalConfig):
        work, extra = FrameWork(work, **kwargs), args or key is not None
    elif isinstance(work, Delayed) or (
        isinstance(work, list | tuple) and work and all(isinstance(d, Delayed) for d in work)
    ):
        work, extra = GraphWork(work, key), args or kwargs
    elif callable(work):
        return CallWork(work, args, kwargs, key)
    else:
        raise TypeError(
            "A job is a FractalConfig, a MovieSpec, a dask.delayed object (or a list of "
            f"them) or a function, not {type(work).__name__}."
        )
    if extra:
        raise TypeError(f"{type(work).__name__} takes no further arguments here")
    return work


# -- drivers: all the talking to Dask ---------------------------------------------------------
def _dropped(gather: asyncio.Future) -> None:
    # A gather nobody waits for any more (see Driver._received): its outcome is not wanted,
    # and must not be reported as an exception never retrieved.
    if not gather.cancelled():
        gather.exception()


class Driver:
    """Runs one job: submits its tasks, collects its parts, releases what it holds.

    The job is the record; the driver is the only code that touches its futures.
    """

    def __init__(self, job: Job, registry: JobRegistry):
        self.job, self.registry = job, registry
        self._futures: dict = {}
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._guarded())

    async def _guarded(self) -> None:
        try:
            await self.run()
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():  # stop(): the job is being cancelled
                raise
            # Not ours: other code on the client cancelled a gather this job had joined
            # (see _received). Failed, not "running" forever, nor joined by the next request.
            self.job._finish("failed", "Receiving the result was cancelled; ask again.")
        except FutureCancelledError as exc:
            self.job._finish("failed", f"The Dask cluster dropped the work ({exc}).")
        except Exception as exc:
            self.job._finish("failed", f"{type(exc).__name__}: {exc}")
        finally:
            self._release()

    async def run(self) -> None:  # pragma: no cover (interface)
        raise NotImplementedError

    def save(self, store: FrameStore) -> None:
        """Write the finished result to ``store`` (runs in a thread)."""

    def stop(self) -> None:
        """Stop: cancel the driving coroutine and release every future."""
        if self._task is not None:
            self._task.cancel()
        self._release()

    @staticmethod
    async def _received(future):
        """``await future``, except that cancelling the wait never cancels the gather.

        A client batches the gathers asked for at one moment into one request that all
        of them await (``Client._gather``): cancelling any one waiter cancels that request
        for all, whose awaits raise CancelledError (another job's driver ended with its
        job "running" forever), and a request cancelled before it started stays the
        client's pending one for good, so every later gather on it fails at once. A
        stopped driver only stops waiting: the gather ends by itself (promptly: it fails
        once the future is released), and its value is dropped.
        """
        gather = asyncio.ensure_future(future.result())
        gather.add_done_callback(_dropped)
        return await asyncio.shield(gather)

    def _release(self) -> None:
        # Releasing our last reference tells the scheduler we no longer want the keys;
        # tasks nobody else wants are forgotten, and queued ones never run.
        futures, self._futures = self._futures, {}
        for future in futures.values():
            future.release()

    async def _gather_all(self, collect, parts) -> None:
        collectors = [asyncio.ensure_future(collect(p)) for p in parts]
        try:
            await asyncio.gather(*collectors)
        finally:
            # After a failure the other parts are not wanted: stop waiting for them.
            for collector in collectors:
                collector.cancel()


class _FrameDriver(Driver):
    job: FrameJob

    def __init__(self, job: FrameJob, registry: JobRegistry, spans: list[tuple[float, float]]):
        super().__init__(job, registry)
        self._spans = spans
        registry._charge(job)

    async def run(self) -> None:
        store = self.registry.store
        if store is not None and await self._load(store):
            return
        self._submit_tiles()
        await self._gather_all(self._collect, list(self._futures))
        self.job._finish("done")

    async def _load(self, store: FrameStore) -> bool:
        """Finish as ``cached`` from the persistent store, if it holds this frame."""
        job = self.job
        shape = (job.config.height, job.config.width)
        try:
            frame = await asyncio.to_thread(store.get, job.key, shape)
        except Exception:  # an unreachable store is a miss: the frame is computed
            logger.warning("reading frame %s from %r failed", job.key, store, exc_info=True)
            return False
        if frame is None:
            return False
        job._fill(frame)
        job._finish("cached")
        return True

    def _submit_tiles(self) -> None:
        job = self.job
        tasks: list[TileTask] = tile_tasks(job.config, job_key=job.key, grid=job._grid)
        rows, cols = job.grid
        tiles = []
        for task, (tag, finish) in zip(tasks, self._spans, strict=True):
            tile = task.tile
            job._tags[tile.row, tile.col] = (tag, finish)
            # Dask runs higher priorities first: lower start tags first.
            with dask.annotate(priority=-tag, retries=0):
                tiles.append(
                    dask.delayed(compute_tile)(
                        task,
                        # Nothing of this process in the key (no attempt counter): every
                        # process names a frame's tiles alike, so Dask shares them. The
                        # grid is in it because tile (row, col) means another rectangle
                        # on another grid.
                        dask_key_name=(
                            f"fractal-tile-{job.key}",
                            f"{rows}x{cols}",
                            tile.row,
                            tile.col,
                        ),
                    )
                )
        # One graph for all tiles, not a submit each: the scheduler then sees the whole
        # group at once and queues all of it by priority (root-ish tasks), where tiles
        # submitted one by one had their first two sent straight to a worker, ahead of
        # tiles of other jobs with lower tags waiting in the scheduler's queue.
        futures = self.registry.client.compute(tiles, optimize_graph=False)
        for task, future in zip(tasks, futures, strict=True):
            self._futures[task.tile] = future

    async def _collect(self, tile: Tile) -> None:
        values = await self._received(self._futures[tile])
        future = self._futures.pop(tile, None)
        if future is None:  # released meanwhile: the job ended
            return
        future.release()
        job = self.job
        job._value[tile.slices] = values
        job._part_done(TileResult(tile, job._value[tile.slices]), (tile.row, tile.col))

    def save(self, store: FrameStore) -> None:
        store.put(self.job.key, self.job.frame)


class _LocalFrameDriver(Driver):
    """In this process, in a thread (the kernel releases the GIL): the event loop never
    computes. A thread cannot be stopped either: a cancelled local job's result is
    dropped when it arrives."""

    job: FrameJob

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        job = self.job

        def compute() -> np.ndarray:
            loop.call_soon_threadsafe(job._part_started, (0, 0))
            return render(job.config, threads=1)

        frame = await loop.run_in_executor(self.registry._local_executor(), compute)
        if not job.done:
            job._fill(frame)
            job._finish("done")


class _TaskDriver(Driver):
    """A call's one task, or a graph's leaves: each leaf a part, streamed as it finishes."""

    job: TaskJob

    def __init__(self, job: TaskJob, registry: JobRegistry, submit: Callable):
        super().__init__(job, registry)
        self._submit = submit
        self._values: list = [None] * job.parts_total

    async def run(self) -> None:
        job, registry = self.job, self.registry
        if registry.store is not None and job._persist:
            found = await registry._stored_result(job.key)
            if found is not MISSING:
                job._fill(found)
                job._finish("cached")
                return
        registry._reporting_soon()
        # The annotation travels with every task to its worker, where StartReporter
        # reports the task's start under the job's key: "running" is the worker's word.
        with dask.annotate(**{JOB_ANNOTATION: job.key}, priority=BACKGROUND_PRIORITY):
            futures = self._submit(registry.client)
        self._futures = dict(enumerate(futures))
        await self._gather_all(self._collect, list(self._futures))
        value = self._values[0] if job._single else list(self._values)
        job._value = value
        job._finish("done")

    async def _collect(self, index: int) -> None:
        value = await self._received(self._futures[index])
        future = self._futures.pop(index, None)
        if future is None:  # released meanwhile: the job ended
            return
        future.release()
        self._values[index] = value
        self.job._part_done(Part(index, value), index)

    def save(self, store: FrameStore) -> None:
        store.put_result(self.job.key, self.job._value)


class JobRegistry:
    """Jobs shared by all managers of one client: in flight, cached, detached, reported.

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
        Finished results by key; defaults to an in-memory LRU of 512 MiB
        (``FRACTAL_CACHE_MAX_BYTES``, see :meth:`FrameCache.from_env`).
    store : FrameStore, optional
        Where finished results and job records persist, across restarts and processes.
        A job first looks there (off the event loop) and, if found, finishes as
        ``cached`` with no task. Without a store nothing is written to disk.
    """

    # Kept on the client itself, not in a table: a registry lives exactly as long as its
    # client (the two are garbage together once the client is closed and dropped), and
    # managers created independently on one client must find the same one. A table
    # weakly keyed by the client would never let go: its value holds the client.
    _ATTRIBUTE: ClassVar[str] = "_fractal_job_registry"

    #: How far ahead of every tile a preview's tag is placed, in seconds.
    PREVIEW_LEAD = 3600.0
    #: Seconds a new job's tags lie after the tags it would tie with.
    TIE = 1e-6
    #: Recent jobs whose tiles' starts are still charged to their owners.
    CHARGES_KEPT = 256
    #: Seconds between rewrites of a detached job's record while it runs: its heartbeat.
    HEARTBEAT = 5.0

    def __init__(self, client, cache: FrameCache | None = None, store: FrameStore | None = None):
        if getattr(client, self._ATTRIBUTE, None) is not None:
            raise ValueError(
                "This client already has a JobRegistry; use JobRegistry.for_client(client)."
            )
        setattr(client, self._ATTRIBUTE, self)
        self.client = client
        self.cache = cache if cache is not None else FrameCache.from_env()
        self.store = store
        #: Each consumer's caps and what it has in flight and has spent (compute.limits).
        self.ledger = Ledger()
        #: Jobs in flight by key (every kind).
        self.jobs: dict[str, Job] = {}
        #: Detached jobs in flight, held here until they end.
        self.detached: dict[str, Job] = {}
        self._writes: set[asyncio.Future] = set()
        self._beats: set[asyncio.Future] = set()
        self._record_lock = threading.Lock()
        self._virtual = 0.0
        #: Each owner's finish tag: where its next job's tiles start, at the earliest.
        self._finish: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        #: job key -> (tile tags, owners) of recent frame jobs, ended or not.
        self._charges: collections.OrderedDict = collections.OrderedDict()
        self._local: ThreadPoolExecutor | None = None
        self._reporter: asyncio.Future | None = None
        self._listeners: list = []
        self._subscribe()
        on_reconnect(client, self._reconnected)

    @classmethod
    def for_client(
        cls, client, cache: FrameCache | None = None, store: FrameStore | None = None
    ) -> JobRegistry:
        """The registry of ``client``, created on first use (with ``cache`` and ``store``)."""
        registry = getattr(client, cls._ATTRIBUTE, None)
        return registry if registry is not None else cls(client, cache, store)

    # -- workers' reports --------------------------------------------------------------------
    def _subscribe(self) -> None:
        self.client.subscribe_topic(TILE_STARTED_TOPIC, self._on_tile_started)
        self.client.subscribe_topic(JOB_STARTED_TOPIC, self._on_job_started)

    def _reconnected(self, client, new_scheduler: bool) -> None:
        """Restore the reports after the client reconnected (see
        :func:`~compute.cluster.on_reconnect`): without them, jobs read "queued" until
        their first part arrives."""
        # Subscriptions travel on the client's stream, ahead of any work sent after them.
        # Sent to every new connection: subscribing twice is harmless.
        self._subscribe()
        if new_scheduler and self._reporter is not None:
            # The restarted scheduler's workers have no StartReporter.
            self._reporter = None
            self._reporting_soon()

    def _on_tile_started(self, event) -> None:
        _, msg = event
        key = msg.get("job")
        job = self.jobs.get(key)
        # A tile of a job superseded a moment ago may still start (the worker had it in
        # hand): it costs its owners their turn all the same.
        charge = self._charges.get((key, msg.get("grid")))
        if charge is not None:
            tags, payers = charge
            span = tags.get((msg["row"], msg["col"]))
            if span is not None:
                start, finish = span
                self._virtual = max(self._virtual, start)
                for owner in payers:
                    self._finish[owner] = max(self._finish.get(owner, finish), finish)
        # A tile of an earlier job for this frame on another grid is not one of this job's.
        if job is not None and f"{job.grid[0]}x{job.grid[1]}" == msg.get("grid"):
            job._part_started((msg["row"], msg["col"]))

    def _on_job_started(self, event) -> None:
        _, msg = event
        job = self.jobs.get(msg.get("job"))
        if job is None:
            return
        key = msg.get("key")
        key = tuple(key) if isinstance(key, list) else key  # tuple keys travel as lists
        if "part" in msg:
            job._part_started(msg["part"])
        elif key in getattr(job, "_leaves", ()):
            job._part_started(job._leaves[key])
        else:
            job._running()

    def _reporting_soon(self) -> None:
        """Have every worker report the start of annotated tasks (once per scheduler).

        Not awaited: a task that starts before the plugin is in place reads "running"
        when its first part arrives instead.
        """
        # May register again, through _reconnected, on a restarted scheduler.
        check_reconnected(self.client)
        if self._reporter is None:
            self._reporter = asyncio.ensure_future(self.client.register_plugin(StartReporter()))
            self._reporter.add_done_callback(self._reported)

    def _reported(self, future: asyncio.Future) -> None:
        if not future.cancelled() and future.exception() is not None:
            logger.warning("registering the start reporter failed: %s", future.exception())
            if self._reporter is future:  # not one started since, on a new scheduler
                self._reporter = None

    # -- fair queuing of tiles ---------------------------------------------------------------
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
        if not any(getattr(job, "_tags", None) and not job.done for job in self.jobs.values()):
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

    def _charge(self, job: FrameJob) -> None:
        key = (job.key, "{}x{}".format(*job.grid))
        self._charges[key] = (job._tags, weakref.WeakSet())
        self._charges.move_to_end(key)
        while len(self._charges) > self.CHARGES_KEPT:
            self._charges.popitem(last=False)

    # -- owners ------------------------------------------------------------------------------
    def acquire(
        self,
        config,
        owner,
        *,
        iterations: float | None = None,
        preview: bool = False,
        local: bool = False,
        consumer: str | None = None,
    ) -> Job:
        """The job for ``config`` (or any :class:`Work`) on behalf of ``owner``: joined,
        cached or started.

        For a frame, ``iterations`` (an estimate from a preview, see
        :func:`~compute.tiles.expected_iterations`) chooses the tiling and the tiles'
        place in the queue; ``preview`` puts the job ahead of frames; ``local`` computes
        it in this process, in a thread, instead of on the cluster (for cheap previews,
        where a Dask round trip costs more than the frame; not persisted).
        ``consumer`` names who pays if it starts new work (see :mod:`compute.limits`).

        Raises
        ------
        LimitExceeded
            If new work would take ``consumer`` over one of its caps.
        """
        if isinstance(config, FractalConfig):
            work = FrameWork(config, iterations, preview, local, owner)
        else:
            work = as_work(config)
        return self._acquire(work, owner, consumer=consumer)

    def _acquire(
        self, work: Work, owner, *, consumer=None, background=False, replacing=None
    ) -> Job:
        key = work.key
        job = self.jobs.get(key)
        if job is None:
            job = work.cached(self)
            # (A preview computed here is never stored: nothing to touch, on a hot path.)
            local = isinstance(work, FrameWork) and work.local
            if job is not None and self.store is not None and not local:
                # Served from this process's memory: the store's copy is as hot, and must
                # not be evicted by another process meanwhile.
                self.in_background(self.store.touch, key)
            if job is None:
                # Only new work is charged: joining or a cache hit costs the cluster nothing.
                if consumer is not None:
                    self.ledger.admit(
                        consumer, cost=work.cost, background=background, replacing=replacing
                    )
                job = work.job()
                job._on_final = self._on_final
                self.jobs[key] = job
                job._driver = work.driver(job, self)
                job._driver.start()
                if consumer is not None:
                    self.ledger.charge(consumer, job, cost=work.cost, background=background)
        if owner is not None:
            job._owners.add(owner)
            if isinstance(job, FrameJob):
                charge = self._charges.get((key, "{}x{}".format(*job.grid)))
                if charge is not None and charge[0] is job._tags:
                    charge[1].add(owner)
        return job

    def release(self, job: Job, owner) -> bool:
        """``owner`` no longer wants ``job``; cancel it if nobody else does.

        A detached job is never cancelled here: it runs on without owners.

        Returns
        -------
        bool
            True if the job was cancelled.
        """
        job._owners.discard(owner)
        if job._owners or job.done or job.detached:
            return False
        job._cancel()
        return True

    def detach(self, work, *args, key: str | None = None, **kwargs) -> Job:
        """Run ``work`` to completion whoever watches; the registry holds it until it ends.

        ``work`` is anything :meth:`JobManager.submit` takes (a config, a movie, delayed
        objects, or a function with ``*args`` and ``**kwargs``). Identical work shares
        one job, in flight or finished (then ``cached``). The job is never superseded;
        :meth:`cancel` ends it. With a store, its record is in the history from the
        start and rewritten every :attr:`HEARTBEAT` seconds, so that a record whose
        process stopped reads as ``interrupted`` (see :meth:`FrameStore.history`).
        """
        return self.detach_for(as_work(work, args, kwargs, key))

    def detach_for(self, work, *, consumer: str | None = None, user: str | None = None) -> Job:
        """:meth:`detach` on behalf of ``consumer`` (who pays, see :mod:`compute.limits`)
        and ``user`` (whose history holds its record, see :attr:`JobRecord.owner`).

        ``work``: a :class:`Work`, a config or anything :func:`as_work` takes without
        arguments.

        Raises
        ------
        LimitExceeded
            If it would start new work over one of ``consumer``'s caps.
        """
        work = as_work(work)
        # A frame is bounded by its pixel budget, and counts among the jobs in flight;
        # long work (a movie, a call, a graph) is a background job too.
        background = not isinstance(work, FrameWork)
        job = self._acquire(work, None, consumer=consumer, background=background)
        if user not in job._users:
            job._users.add(user)
            if job.detached and self.store is not None:
                self._write_record(job, user)  # a second user's history gets it now
        if not job.done and not job.detached:
            job.detached = True
            self.detached[job.key] = job
            self._announce(job)
            if self.store is not None:
                beat = asyncio.ensure_future(self._heartbeat(job))
                self._beats.add(beat)
                beat.add_done_callback(self._beats.discard)
        return job

    def cancel(self, job: Job) -> bool:
        """Cancel ``job`` now, whoever wants it (a person's explicit Cancel).

        Returns
        -------
        bool
            True if it was cancelled (False if it had ended).
        """
        if job.done:
            return False
        job._cancel()
        return True

    def subscribe(self, callback: Callable[[Job], None]) -> Callable[[], None]:
        """Call ``callback(job)`` when a detached job starts and when it ends.

        A bound method is held weakly (a closed session's explorer is not kept alive).
        Returns a function that unsubscribes.
        """
        ref = (
            weakref.WeakMethod(callback)
            if hasattr(callback, "__self__") and hasattr(callback, "__func__")
            else None
        )
        entry = ref if ref is not None else callback
        self._listeners.append(entry)

        def unsubscribe():
            if entry in self._listeners:
                self._listeners.remove(entry)

        return unsubscribe

    def _announce(self, job: Job) -> None:
        for entry in list(self._listeners):
            callback = entry() if isinstance(entry, weakref.WeakMethod) else entry
            if callback is None:
                self._listeners.remove(entry)
                continue
            try:
                callback(job)
            except Exception:  # one listener's failure must not stop the others'
                logger.exception("a listener of detached jobs failed")

    def _write_record(self, job: Job, user: str | None) -> None:
        """Write ``job``'s record for ``user`` (in a thread): one at a time, so that a
        heartbeat's "running" can never land after the record of its end."""
        record = job.record().replace(owner=user)
        writer = "detached" if user is None else f"detached:{user}"

        def write():
            with self._record_lock:
                if record.ended or not job.done:
                    self.store.add_record(record, writer=writer)

        self.in_background(write)

    def _write_records(self, job: Job) -> None:
        for user in job._users or {None}:
            self._write_record(job, user)

    async def _heartbeat(self, job: Job) -> None:
        while not job.done:
            self._write_records(job)
            ending = asyncio.ensure_future(job.wait())
            try:
                await asyncio.wait({ending}, timeout=self.HEARTBEAT)
            finally:
                ending.cancel()

    # -- results -----------------------------------------------------------------------------
    def _on_final(self, job: Job) -> None:
        if self.jobs.get(job.key) is job:
            del self.jobs[job.key]
        if job.state in ("done", "cached"):
            self.cache.put(job.key, job._value)
        if job.state == "cached":
            self.ledger.refund(job)
        if job.state == "done" and self.store is not None and job._persist:
            self.in_background(job._driver.save, self.store)
        if job.detached:
            self.detached.pop(job.key, None)
            if self.store is not None:
                self._write_records(job)
            self._announce(job)

    async def _stored_result(self, key: str):
        try:
            return await asyncio.to_thread(self.store.get_result, key)
        except Exception:  # an unreachable store is a miss: the work is computed
            logger.warning("reading result %s from %r failed", key, self.store, exc_info=True)
            return MISSING

    def _local_executor(self) -> ThreadPoolExecutor:
        if self._local is None:
            # One thread: local work is small and must not crowd out the loop.
            self._local = ThreadPoolExecutor(1, thread_name_prefix="fractal-local")
        return self._local

    def in_background(self, write, *args) -> None:
        """Run a store ``write`` in a thread, so that disk or network never block the loop.

        A failed write is logged, never raised: persistence must not cost a result.
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
    """Submit work for one consumer; a new request supersedes the previous one.

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
    consumer : str, optional
        Who pays for the new work it starts (see :mod:`compute.limits`); None: uncapped
        (a notebook's own cluster).
    user : str, optional
        Whose history its records go to (:attr:`JobRecord.owner`); None: anonymous.

    Examples
    --------
    >>> manager = JobManager(client)                       # doctest: +SKIP
    >>> job = manager.submit(FractalConfig(max_iter=200))  # doctest: +SKIP
    >>> frame = await job.result()                         # doctest: +SKIP
    >>> total = await manager.submit(sum, [1, 2, 3]).result()  # doctest: +SKIP
    """

    def __init__(
        self,
        client,
        *,
        registry: JobRegistry | None = None,
        history: bool = True,
        consumer: str | None = None,
        user: str | None = None,
    ):
        self.registry = registry if registry is not None else JobRegistry.for_client(client)
        self.history = history
        self.consumer = consumer
        self.user = user
        self.job: Job | None = None
        # Its own records: two consumers of one job each keep theirs (one may have let it
        # go as cancelled while the other saw it done).
        self._writer = uuid.uuid4().hex[:12]

    def submit(self, work, /, *args, key: str | None = None, **kwargs) -> Job:
        """Request work; returns its job at once.

        ``work`` is one of:

        * a :class:`~compute.FractalConfig`: its frame; keyword options ``iterations``,
          ``preview`` and ``local`` as in :meth:`JobRegistry.acquire`;
        * a :class:`~compute.movie.MovieSpec`: a zoom movie;
        * a ``dask.delayed`` object or a list of them: their values;
        * a pure function, called as ``work(*args, **kwargs)`` on a worker. Its key comes
          from Dask's ``tokenize`` (see :func:`call_key`); ``key=`` names it yourself
          where that cannot be deterministic, as in ``Client.submit``.

        The same work as the current job returns that job. Any other supersedes the
        current job, which is cancelled unless another manager still wants it or it is
        detached. Work already running for another owner is joined; a finished result is
        served from the cache.

        Raises
        ------
        ValueError
            If a config violates its constraints (see :meth:`FractalConfig.validate`), or
            a call has no deterministic key.
        LimitExceeded
            (A ValueError.) If it would start new work over the consumer's caps; the
            current job is kept then.
        TypeError
            If ``work`` is none of the above.
        """
        if isinstance(work, FractalConfig):
            unknown = set(kwargs) - {"iterations", "preview", "local"}
            if args or key is not None or unknown:
                raise TypeError(f"a frame takes only iterations, preview and local: {unknown}")
            work = FrameWork(work, owner=self, **kwargs)
        else:
            work = as_work(work, args, kwargs, key)
        current = self.job
        if current is not None and current.key == work.key and current.state in LIVE_STATES:
            return current
        job = self.registry._acquire(work, self, consumer=self.consumer, replacing=current)
        self.job = job
        if current is not None and current is not job:
            self._let_go(current)
        self._log_when_final(job)
        return job

    def detach(self, work, /, *args, key: str | None = None, **kwargs) -> Job:
        """:meth:`JobRegistry.detach` on this manager's registry, for its consumer and
        user: the job is not this manager's and never superseded by its requests."""
        return self.registry.detach_for(
            as_work(work, args, kwargs, key), consumer=self.consumer, user=self.user
        )

    def cancel(self) -> bool:
        """Stop wanting the current job; cancel it unless another owner wants it.

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
        if not job.done and not job.detached:
            self._log(job, state="cancelled")
        return self.registry.release(job, self)

    def _log_when_final(self, job: Job) -> None:
        # A detached job keeps its own record (JobRegistry.detach).
        if not self._logging or job.detached:
            return
        if job.done:
            self._log(job)
            return

        def ended(event):
            if event.new in FINAL_STATES:
                job.param.unwatch(watcher)
                if self.job is job and not job.detached:  # one let go was logged then
                    self._log(job)

        watcher = job.param.watch(ended, "state")

    @property
    def _logging(self) -> bool:
        return self.history and self.registry.store is not None

    def _log(self, job: Job, state: str | None = None) -> None:
        if self._logging:
            self.registry.in_background(
                functools.partial(self.registry.store.add_record, writer=self._writer),
                job.record(state).replace(owner=self.user),
            )
