"""A kind of work defined outside the engine, as an app would define its own.

``Squares(n, delay)`` squares the numbers ``0..n-1`` on the cluster, one task each (a
part each, streamed as they finish), and keeps the list of squares. It is registered
with an :class:`~compute.engine.Engine` (``Engine(kinds=[Squares])``); nothing in
``compute/engine`` knows it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import dask

from compute.engine import Driver, Job, Part, PickleCodec, Work, report_started
from compute.engine.store import MISSING


def square(i: int, delay: float, job: str) -> int:
    """One part (the function Dask runs): reports its start, sleeps, squares."""
    report_started(job)
    time.sleep(delay)
    return i * i


class SquaresJob(Job):
    """Its parts are squares (``Part(i, i * i)``); its result their list."""

    noun = ("square", "squares")

    def split(self, value: list) -> list:
        return [Part(i, v) for i, v in enumerate(value)]


class _SquaresDriver(Driver):
    job: SquaresJob

    async def compute(self) -> list:
        n, delay, key = self.work.n, self.work.delay, self.job.key
        # Keys named after the work alone: the same request from anywhere shares its tasks.
        keys = {i: (f"square-{key}", i) for i in range(n)}
        tasks = [dask.delayed(square)(i, delay, key, dask_key_name=keys[i]) for i in range(n)]
        futures = self.registry.client.compute(tasks, optimize_graph=False)
        self.track(dict(enumerate(futures)), keys)
        values: list = [None] * n

        async def collect(i: int) -> None:
            value = await self.collect(i)
            if value is not MISSING:
                values[i] = value
                self.job.part_done(Part(i, value), i)

        await self.gather_all(collect, range(n))
        return values


@dataclass
class Squares(Work):
    """The squares of ``0..n-1``, each taking ``delay`` seconds on a worker."""

    kind = "squares"
    background = True

    n: int
    delay: float = 0.0
    key: str = field(init=False)
    cost: float = field(init=False)

    def __post_init__(self):
        if not (isinstance(self.n, int) and 1 <= self.n <= 1000):
            raise ValueError(f"n must be an integer from 1 to 1000, not {self.n!r}")
        self.key = f"squares-{self.n}-{round(self.delay * 1000)}ms"
        self.cost = self.n * self.delay  # worker-seconds, a unit the engine never reads

    @property
    def codec(self) -> PickleCodec:
        return PickleCodec()

    def to_dict(self) -> dict:
        return {"n": self.n, "delay": self.delay}

    @classmethod
    def from_dict(cls, values: dict) -> Squares:
        unknown = set(values) - {"n", "delay"}
        if unknown:
            raise ValueError(f"Unknown parameter(s) {', '.join(sorted(unknown))}.")
        return cls(**values)

    def job(self) -> SquaresJob:
        return SquaresJob(
            self.key,
            kind=self.kind,
            summary=f"squares of 0..{self.n - 1}",
            parts_total=self.n,
            request=self.to_dict(),
        )

    def driver(self, job: SquaresJob, registry, holder=None) -> Driver:
        return _SquaresDriver(job, self, registry)
