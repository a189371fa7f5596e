"""The engine's own kinds of work: a function call, and a graph of ``dask.delayed`` objects.

* a **call** of a pure function, ``manager.submit(fn, *args, **kwargs)``, keyed by
  Dask's ``tokenize`` of the function and its arguments (one part);
* a **graph**: a ``dask.delayed`` object or a list of them (a part per leaf).

Both run at background priority and report their tasks' starts through the
:class:`~compute.engine.reports.StartReporter` annotation. Neither can be asked for
again from a description (their code is not data), and neither is ever offered to
clients over HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import cloudpickle
import dask
from dask.base import tokenize
from dask.delayed import Delayed

from .codecs import Codec, PickleCodec
from .driver import BACKGROUND_PRIORITY, Driver
from .job import Job, Part
from .reports import JOB_ANNOTATION
from .store import MISSING
from .work import Kinds, Work, checked_key


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


def apply_call(payload: bytes):
    """The task Dask runs for a call.

    The call travels pickled, from the moment it was asked for: Dask pickles a task's
    arguments only when it sends them, so an array changed by the caller after submit()
    would have been computed, and stored under the key of the values asked for. And the
    function's keyword arguments never meet Client.submit's own (retries=, priority=,
    workers= would be Dask's, not passed on).
    """
    fn, args, kwargs = cloudpickle.loads(payload)
    return fn(*args, **kwargs)


class TaskJob(Job):
    """A function call (one part) or a graph of ``dask.delayed`` leaves (a part each)."""

    noun = ("leaf", "leaves")

    def __init__(self, key: str, *, kind: str, leaves: int, single: bool, **params):
        super().__init__(key, kind=kind, parts_total=leaves, **params)
        if kind == "call":
            self.noun = ("call", "calls")
        self.single = single

    def split(self, value) -> list:
        values = [value] if self.single else list(value)
        return [Part(i, v) for i, v in enumerate(values)]


class _TaskDriver(Driver):
    """A call's one task, or a graph's leaves: each leaf a part, streamed as it finishes."""

    job: TaskJob

    def __init__(self, job: TaskJob, work: Work, registry, submit: Callable, keys: list):
        super().__init__(job, work, registry)
        self._submit = submit
        self._keys = keys
        self._values: list = [None] * job.parts_total

    async def compute(self) -> Any:
        job, registry = self.job, self.registry
        registry.reports.ensure_plugin()
        # The annotation travels with every task to its worker, where StartReporter
        # reports the task's start under the job's key: "running" is the worker's word.
        with dask.annotate(**{JOB_ANNOTATION: job.key}, priority=BACKGROUND_PRIORITY):
            futures = self._submit(registry.client)
        self.track(dict(enumerate(futures)), dict(enumerate(self._keys)))
        await self.gather_all(self._collect, range(len(futures)))
        return self._values[0] if job.single else list(self._values)

    async def _collect(self, index: int) -> None:
        value = await self.collect(index)
        if value is MISSING:
            return
        self._values[index] = value
        self.job.part_done(Part(index, value), index)


class CallWork(Work):
    """A pure function call, computed once per key."""

    kind = "call"

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, key: str | None = None):
        if not callable(fn):
            raise TypeError(f"{fn!r} is not callable")
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.key = checked_key(key) if key is not None else call_key(fn, *args, **kwargs)

    @classmethod
    def accepts(cls, obj) -> bool:
        return callable(obj)

    @classmethod
    def of(cls, obj, args: tuple, kwargs: dict, key: str | None) -> CallWork:
        return cls(obj, args, kwargs, key)

    @property
    def codec(self) -> Codec:
        return PickleCodec()

    def job(self) -> TaskJob:
        return TaskJob(
            self.key, kind=self.kind, summary=f"{_name(self.fn)}(...)", leaves=1, single=True
        )

    def driver(self, job: TaskJob, registry, holder=None) -> Driver:
        payload = cloudpickle.dumps((self.fn, self.args, self.kwargs))

        def submit(client):
            return [client.submit(apply_call, payload, key=self.key)]

        return _TaskDriver(job, self, registry, submit, [self.key])


class GraphWork(Work):
    """A ``dask.delayed`` object, or a list of them: its leaves' values."""

    kind = "graph"

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
            checked_key(key) if key is not None else f"graph-{tokenize([d.key for d in leaves])}"
        )

    @classmethod
    def accepts(cls, obj) -> bool:
        return isinstance(obj, Delayed) or (
            isinstance(obj, list | tuple)
            and bool(obj)
            and all(isinstance(d, Delayed) for d in obj)
        )

    @classmethod
    def of(cls, obj, args: tuple, kwargs: dict, key: str | None) -> GraphWork:
        if args or kwargs:
            raise TypeError("GraphWork takes no further arguments here")
        return cls(obj, key)

    @property
    def codec(self) -> Codec | None:
        return PickleCodec() if self.named else None

    def job(self) -> TaskJob:
        names = sorted({str(d.key).split("-")[0] for d in self.leaves})
        return TaskJob(
            self.key,
            kind=self.kind,
            summary=f"graph of {len(self.leaves)} leaves ({', '.join(names)[:60]})",
            leaves=len(self.leaves),
            single=self.single,
        )

    def driver(self, job: TaskJob, registry, holder=None) -> Driver:
        keys = [d.key for d in self.leaves]
        return _TaskDriver(job, self, registry, lambda client: client.compute(self.leaves), keys)


def with_builtins(*kinds: type[Work]) -> Kinds:
    """The engine's own kinds (calls, graphs), then ``kinds`` (a domain's)."""
    return Kinds([CallWork, GraphWork, *kinds])
