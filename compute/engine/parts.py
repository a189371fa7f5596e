"""A kind of work made of independent tasks: the shortest way to put a computation behind
the engine.

Subclass :class:`PartsWork`, say what its tasks are (:meth:`PartsWork.tasks`: a pure
function of a module the workers can import, and its arguments, for each part) and how
their values make the result (:meth:`PartsWork.combine`); the engine does the rest: one
Dask graph with deterministic keys (identical requests share their tasks), the workers'
reports of each start, parts streamed as they finish, the result kept by a codec.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, ClassVar

import dask

from .codecs import Codec, PickleCodec
from .driver import BACKGROUND_PRIORITY, Driver
from .job import Job, Part
from .reports import JOB_ANNOTATION
from .store import MISSING
from .work import Work


class PartsJob(Job):
    """A job whose parts are its tasks' values (``Part(index, value)``)."""

    def split(self, value) -> list:
        # A finished result is the parts combined: they are not kept with it.
        return []


class _PartsDriver(Driver):
    work: PartsWork

    async def compute(self) -> Any:
        work, job = self.work, self.job
        self.registry.reports.ensure_plugin()
        tasks = work.tasks()
        keys = {i: (f"{work.kind}-{job.key}", i) for i in range(len(tasks))}
        # The annotation travels with each task to its worker, whose StartReporter says
        # when it starts; behind interactive work, as any long background job.
        with dask.annotate(**{JOB_ANNOTATION: job.key}, priority=work.priority):
            graph = [
                dask.delayed(fn, pure=True)(*args, dask_key_name=keys[i])
                for i, (fn, args) in enumerate(tasks)
            ]
        futures = self.registry.client.compute(graph, optimize_graph=False)
        self.track(dict(enumerate(futures)), keys)
        values: list = [None] * len(tasks)

        async def collect(i: int) -> None:
            value = await self.collect(i)
            if value is not MISSING:
                values[i] = value
                job.part_done(Part(i, value), i)

        await self.gather_all(collect, range(len(tasks)))
        return work.combine(values)


class PartsWork(Work):
    """Work of independent tasks, a part each, whose values :meth:`combine` into the result.

    A subclass sets :attr:`kind` and implements :meth:`tasks` and :meth:`combine`. Make
    it a ``param.Parameterized`` too: its parameters are then its description
    (``to_dict``, ``from_dict``: a history restores it), its key (a digest of them) and,
    with ``http = True``, the schema clients of the HTTP API ask for it by. Its cost is
    its number of tasks unless it says otherwise.
    """

    #: What a part is called, singular and plural.
    noun: ClassVar[tuple[str, str]] = ("part", "parts")
    #: Dask priority of its tasks (background by default: behind interactive work).
    priority: ClassVar[float] = BACKGROUND_PRIORITY

    def tasks(self) -> list[tuple[Callable, tuple]]:  # pragma: no cover (interface)
        """Each part's ``(function, arguments)``: a pure function that workers can import."""
        raise NotImplementedError

    def combine(self, values: list) -> Any:  # pragma: no cover (interface)
        """The result from the parts' values, in the order of :meth:`tasks`."""
        raise NotImplementedError

    @property
    def key(self) -> str:
        """A digest of its description (:meth:`to_dict`): equal requests, equal keys."""
        described = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return f"{self.kind}-{hashlib.sha256(described.encode()).hexdigest()[:24]}"

    @property
    def cost(self) -> float:
        """What starting it costs its payer: its number of tasks, by default."""
        return float(len(self.tasks()))

    def summary(self) -> str:
        """One line for people (a history's row)."""
        return f"{self.kind} {self.key}"

    @property
    def codec(self) -> Codec | None:
        return PickleCodec()

    def job(self) -> PartsJob:
        job = PartsJob(
            self.key,
            kind=self.kind,
            summary=self.summary(),
            parts_total=len(self.tasks()),
            request=self.to_dict(),
        )
        job.noun = self.noun
        return job

    def driver(self, job: PartsJob, registry, holder=None) -> Driver:
        return _PartsDriver(job, self, registry)
