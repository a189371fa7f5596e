"""Drivers: the only code that talks to Dask about a job.

A driver submits a job's tasks, collects its parts as they finish, writes them to the
job (its public "written by its driver" methods) and releases every future it holds
when the job ends, however it ends. A kind of work subclasses :class:`Driver` and
implements :meth:`Driver.compute`; the rest is shared.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from distributed.client import FutureCancelledError

from .store import MISSING

if TYPE_CHECKING:
    from .job import Job
    from .registry import JobRegistry
    from .work import Work

logger = logging.getLogger(__name__)

#: Dask priority of background work (calls, graphs, long jobs): below every interactive
#: task, whose priorities are minus a wall-clock-anchored tag (about -2e9, see
#: compute.engine.fairness), so that interactive work stays responsive while background
#: work fills the gaps.
BACKGROUND_PRIORITY = -1e12


def _dropped(gather: asyncio.Future) -> None:
    # A gather nobody waits for any more (see Driver.received): its outcome is not wanted,
    # and must not be reported as an exception never retrieved.
    if not gather.cancelled():
        gather.exception()


class Driver:
    """Runs one job: looks for its result in the store, else computes it on the cluster.

    Parameters
    ----------
    job : Job
        The record it writes.
    work : Work
        What it runs.
    registry : JobRegistry
        Whose client, results and reports it uses.
    """

    def __init__(self, job: Job, work: Work, registry: JobRegistry):
        self.job, self.work, self.registry = job, work, registry
        self._futures: dict = {}
        #: Dask task key -> the job's part it computes (see :meth:`started`).
        self._parts: dict[Hashable, Any] = {}
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start driving, on the running loop."""
        self._task = asyncio.ensure_future(self._guarded())

    @property
    def running(self) -> bool:
        """Whether it is still driving its job."""
        return self._task is not None and not self._task.done()

    @property
    def futures(self) -> dict:
        """The futures it holds now (released as parts arrive, and at its end)."""
        return dict(self._futures)

    async def _guarded(self) -> None:
        try:
            await self.run()
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():  # stop(): the job is being cancelled
                raise
            # Not ours: other code on the client cancelled a gather this job had joined
            # (see received). Failed, not "running" forever, nor joined by the next request.
            self.job.finish("failed", "Receiving the result was cancelled; ask again.")
        except FutureCancelledError as exc:
            self.job.finish("failed", f"The Dask cluster dropped the work ({exc}).")
        except Exception as exc:
            self.job.finish("failed", f"{type(exc).__name__}: {exc}")
        finally:
            self._release()

    async def run(self) -> None:
        """Finish the job: ``cached`` from the store if it holds the result, else computed."""
        codec = self.work.codec
        if codec is not None and self.registry.store is not None:
            found = await self.registry.results.stored(self.job.key, codec)
            if found is not MISSING:
                self.job.fill(found)
                self.job.finish("cached")
                return
        value = await self.compute()
        self.job.finish("done", value=value)

    async def compute(self) -> Any:  # pragma: no cover (interface)
        """Compute the job's result on the cluster, writing its parts as they arrive."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop: cancel the driving coroutine and release every future."""
        if self._task is not None:
            self._task.cancel()
        self._release()

    # -- reports and owners ------------------------------------------------------------------
    def joined(self, holder) -> None:
        """``holder`` wants the job too (its first holder included)."""

    def started(self, key: Hashable) -> None:
        """A worker reported that task ``key`` of this job started."""
        part = self._parts.get(key)
        if part is not None:
            self.job.part_started(part)
        else:
            self.job.running()

    # -- helpers for compute() ---------------------------------------------------------------
    def track(self, futures: dict[Any, Any], keys: dict[Any, Hashable] | None = None) -> None:
        """Hold ``futures`` by part; ``keys`` names each part's Dask task (for reports)."""
        self._futures.update(futures)
        for part, key in (keys or {}).items():
            self._parts[key] = part

    async def collect(self, part) -> Any:
        """The value of ``part``'s future once it arrives, its future released;
        :data:`~compute.engine.store.MISSING` if the job ended meanwhile (then stop)."""
        value = await self.received(self._futures[part])
        future = self._futures.pop(part, None)
        if future is None:  # released meanwhile: the job ended
            return MISSING
        future.release()
        return value

    @staticmethod
    async def received(future):
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

    async def gather_all(self, collect: Callable, parts) -> None:
        """Run ``collect(part)`` for every part at once; the first failure stops the rest."""
        collectors = [asyncio.ensure_future(collect(p)) for p in parts]
        try:
            await asyncio.gather(*collectors)
        finally:
            # After a failure the other parts are not wanted: stop waiting for them.
            for collector in collectors:
                collector.cancel()

    def _release(self) -> None:
        # Releasing our last reference tells the scheduler we no longer want the keys;
        # tasks nobody else wants are forgotten, and queued ones never run.
        futures, self._futures = self._futures, {}
        for future in futures.values():
            future.release()
