"""Worker plugins: kernel warm-up, and an independent count of executed tasks."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

from distributed import WorkerPlugin
from distributed.utils import key_split


class KernelWarmup(WorkerPlugin):
    """Compile the numba kernels when a worker starts (or restarts).

    Without it the first tile on each worker pays 1-2 s of JIT compilation, which the
    user sees as a frozen first frame. ``setup`` runs on every current worker at
    registration and on every worker that joins later.
    """

    name = "fractal-kernel-warmup"

    async def setup(self, worker) -> None:
        from .kernels import warm_up

        # In a thread: compiling takes seconds the worker's event loop (heartbeats,
        # transfers) should not lose.
        await asyncio.to_thread(warm_up)


class ExecutionCounter(WorkerPlugin):
    """Count tasks that a worker actually executed, by key prefix.

    The count comes from the worker's own state machine (a task entering ``executing``),
    independently of the engine's reporting, so tests and benchmarks can prove what
    cancellation and de-duplication saved. Read it with :func:`executed_tasks`.
    """

    name = "fractal-execution-counter"

    def setup(self, worker) -> None:
        self.worker = worker
        self.executed: dict[str, list] = defaultdict(list)
        #: Keys in the order they started executing on this worker.
        self.started: list = []
        #: (key, start, end) of each executed task, in seconds since the epoch: comparable
        #: with other processes' clocks on the same machine (a browser's, a server's).
        self.spans: list = []
        self._started: dict = {}

    def transition(self, key, start, finish, **kwargs) -> None:
        if finish == "executing":
            self._started[key] = (time.perf_counter(), time.time())
            self.started.append(key)
        elif start == "executing":
            began = self._started.pop(key, None)
            if began is not None:
                self.executed[key_split(key)].append((key, time.perf_counter() - began[0]))
                self.spans.append((key, began[1], time.time()))


def _executed_on_worker(dask_worker, prefix):
    plugin = dask_worker.plugins.get(ExecutionCounter.name)
    if plugin is None:
        return []
    return [
        (repr(key), seconds)
        for name, items in plugin.executed.items()
        if name.startswith(prefix)
        for key, seconds in items
    ]


def _started_on_worker(dask_worker):
    plugin = dask_worker.plugins.get(ExecutionCounter.name)
    return [] if plugin is None else [repr(key) for key in plugin.started]


def _spans_on_worker(dask_worker):
    plugin = dask_worker.plugins.get(ExecutionCounter.name)
    return [] if plugin is None else [(repr(k), t0, t1) for k, t0, t1 in plugin.spans]


async def task_spans(client) -> list[tuple[str, float, float]]:
    """``(key, start, end)`` of every task the workers executed (epoch seconds)."""
    per_worker = await client.run(_spans_on_worker)
    return [span for spans in per_worker.values() for span in spans]


async def start_order(client) -> dict[str, list[str]]:
    """Keys each worker started executing, in order, by worker address (see
    :class:`ExecutionCounter`): what ran before what, as the workers saw it."""
    return await client.run(_started_on_worker)


async def executed_tasks(client, prefix: str = "fractal-tile") -> list[tuple[str, float]]:
    """Tasks whose key name starts with ``prefix`` that finished executing on any worker.

    Returns ``(key, seconds)`` pairs. Needs :class:`ExecutionCounter` registered
    (``await client.register_plugin(ExecutionCounter())``) before the tasks ran.
    """
    per_worker = await client.run(_executed_on_worker, prefix=prefix)
    return [item for items in per_worker.values() for item in items]
