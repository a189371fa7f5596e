"""An independent count of the tasks workers executed: a worker plugin, and its readers."""

from __future__ import annotations

import time
from collections import defaultdict

from distributed import WorkerPlugin
from distributed.utils import key_split


class ExecutionCounter(WorkerPlugin):
    """Count tasks that a worker actually executed, by key prefix.

    The count comes from the worker's own state machine (a task entering ``executing``),
    independently of the engine's reporting, so tests and benchmarks can prove what
    cancellation and de-duplication saved. Read it with :func:`executed_tasks`.
    """

    name = "compute-engine-execution-counter"

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


async def executed_tasks(client, prefix: str = "") -> list[tuple[str, float]]:
    """Tasks whose key name starts with ``prefix`` (default: any) that finished executing
    on any worker.

    Returns ``(key, seconds)`` pairs. Needs :class:`ExecutionCounter` registered
    (``await client.register_plugin(ExecutionCounter())``) before the tasks ran.
    """
    per_worker = await client.run(_executed_on_worker, prefix=prefix)
    return [item for items in per_worker.values() for item in items]
