"""A job: the observable record of one piece of work with a deterministic key.

A :class:`Job` is what every consumer of the engine reads, whatever the kind of work:
its state, its progress in parts, its parts as they finish and its result. It is
written by exactly one :class:`~compute.engine.driver.Driver`, through the methods
under "written by its driver" below; nothing else changes it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import param

from .records import JobRecord

#: Job states. ``cached`` is a finished result served without running any task.
STATES = ("queued", "running", "done", "cancelled", "failed", "cached")
FINAL_STATES = frozenset({"done", "cancelled", "failed", "cached"})
#: States in which a job is, or will be, a result: a repeated request reuses it.
LIVE_STATES = frozenset({"queued", "running", "done", "cached"})

#: What ``finish`` leaves unchanged when no value is given.
_KEEP = object()


class JobError(Exception):
    """A job did not produce a result."""


class JobFailed(JobError):
    """A task failed; the message is the worker's error."""


class JobCancelled(JobError):
    """Nobody wanted the job any more, or it was cancelled explicitly."""


@dataclass(frozen=True)
class Part:
    """A finished part of a job: its index and its value."""

    index: int
    value: Any


class Job(param.Parameterized):
    """The observable record of one job (of any kind), computed as Dask tasks or cached.

    Observe it with param (``job.param.watch(callback, ["state", "parts_done"])``), await
    it (``await job.result()``), or stream its parts (``async for part in job``). Jobs are
    made by a registry (:meth:`~compute.engine.manager.JobManager.submit`,
    :meth:`~compute.engine.registry.JobRegistry.detach`), never directly.
    """

    key = param.String(constant=True, doc="Deterministic key of the work.")
    kind = param.String(default="", constant=True, doc="The kind of work (its registered name).")
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

    def __init__(self, key: str, *, state: str = "queued", request: dict | None = None, **params):
        super().__init__(key=key, state=state, submitted_at=time.time(), **params)
        #: What restores this job's request, as JSON values (its record's ``config``); None
        #: for work that cannot be asked for again from a description (a call, a graph).
        self.request = request
        self._results: list = []
        self._started_parts: set = set()
        self._changed = asyncio.Event()
        self._final: list[Callable[[Job], None]] = []
        self._value: Any = None
        #: Parts that were already done when it started (resumed): not counted in its pace.
        self.resumed = 0

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
        paced = self.parts_done - self.resumed
        if self.done or paced <= 0 or self.started_at is None:
            return None
        spent = time.time() - self.started_at
        return spent / paced * (self.parts_total - self.parts_done)

    @property
    def parts(self) -> list:
        """The parts received so far, in the order they arrived."""
        return list(self._results)

    @property
    def value(self) -> Any:
        """The result as it stands (see :meth:`result`, which waits and raises)."""
        return self._value

    def _count(self, n: int) -> str:
        one, many = self.noun
        return f"{n} {one if n == 1 else many}"

    def describe(self) -> str:
        """The state in words, e.g. ``"running: 3 of 16 parts done, 2 more started"``."""
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

    def record(self, state: str | None = None) -> JobRecord:
        """A snapshot of the job for a history (see :class:`~compute.engine.records.JobRecord`).

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
            config=self.request,
            detached=self.detached,
        )

    async def wait(self) -> str:
        """Wait until the job reaches a final state; return that state."""
        while not self.done:
            await self._changed.wait()
        return self.state

    async def result(self) -> Any:
        """The job's result, once it has one (what its kind computes).

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

    def when_final(self, callback: Callable[[Job], None]) -> None:
        """Call ``callback(job)`` once the job reaches a final state (at once if it has),
        after its watchers and waiters have seen it."""
        if self.done:
            callback(self)
        else:
            self._final.append(callback)

    # -- written by its driver ---------------------------------------------------------------
    def part_started(self, part) -> None:
        """A worker reported that ``part`` started: the job is running."""
        if self.done or part in self._started_parts:
            return
        self._started_parts.add(part)
        updates = {"parts_started": len(self._started_parts)}
        if self.state == "queued":
            updates.update(state="running", started_at=time.time())
        self.param.update(**updates)
        self._notify()

    def running(self) -> None:
        """A worker reported work of this job started (not one of its counted parts)."""
        if self.state == "queued":
            self.param.update(state="running", started_at=time.time())
            self._notify()

    def part_done(self, result, part) -> None:
        """``part`` arrived: ``result`` is what consumers stream (``async for``)."""
        self._results.append(result)
        self._started_parts.add(part)
        updates = {"parts_done": len(self._results), "parts_started": len(self._started_parts)}
        if self.state == "queued":
            updates.update(state="running", started_at=time.time())
        self.param.update(**updates)
        self._notify()

    def fill(self, value) -> None:
        """The whole result at once (from a cache or a store): every part, in order."""
        self._value = value
        self._results = self.split(value)
        self.param.update(parts_done=self.parts_total, started_at=self.started_at or time.time())

    def split(self, value) -> list:
        """A whole result as the parts a consumer streams (see :meth:`fill`)."""
        return [Part(0, value)]

    def finish(self, state: str, error: str | None = None, *, value=_KEEP) -> None:
        """Reach the final ``state`` (with ``value`` as the result, if given); once."""
        if self.done:
            return
        if value is not _KEEP:
            self._value = value
        self.param.update(state=state, error=error, finished_at=time.time())
        self._notify()
        final, self._final = self._final, []
        for callback in final:
            callback(self)

    def _notify(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()
