"""Workers' own word that a task started, on one topic, whatever the kind of work.

A future says "processing" while its task still waits in a worker's queue, so a job's
``running`` state comes from the worker instead: a message ``{"job": job key, "key":
task key}`` on :data:`PART_STARTED_TOPIC` for each task of a job that starts. A task
reports itself from inside with :func:`report_started` (no plugin needed), or carries
the :data:`JOB_ANNOTATION` annotation (``dask.annotate``), which travels with it to its
worker, where :class:`StartReporter` reports it. A worker without the plugin simply
reports nothing: the job reads "running" once its first part arrives.

:class:`StartReports` is the client's side: it subscribes to the topic, hands each
report to the registry, puts the plugin on the workers, and does both again after the
client reconnected (a restarted scheduler knows neither).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from distributed import WorkerPlugin

from .cluster import ReconnectWatch

logger = logging.getLogger(__name__)

#: Topic of the reports: ``{"job": job key, "key": task key}``.
PART_STARTED_TOPIC = "compute-engine-part-started"
#: Annotation naming the job a task belongs to.
JOB_ANNOTATION = "compute_engine_job"


class StartReporter(WorkerPlugin):
    """Report on :data:`PART_STARTED_TOPIC` each task annotated with a job as it starts."""

    name = "compute-engine-start-reporter"

    def setup(self, worker) -> None:
        self.worker = worker

    def transition(self, key, start, finish, **kwargs) -> None:
        if finish != "executing":
            return
        ts = self.worker.state.tasks.get(key)
        job = (ts.annotations or {}).get(JOB_ANNOTATION) if ts is not None else None
        if job is not None:
            self.worker.log_event(PART_STARTED_TOPIC, {"job": job, "key": key})


def report_started(job: str) -> None:
    """From inside a task of ``job``: tell the client that this task started.

    Does nothing outside a Dask worker (in-process rendering, tests).
    """
    from distributed import get_worker

    try:
        worker = get_worker()
    except ValueError:
        return
    worker.log_event(PART_STARTED_TOPIC, {"job": job, "key": worker.get_current_task()})


def task_key(key):
    """A task key as a report carries it back: tuple keys travel as lists."""
    return tuple(key) if isinstance(key, list) else key


class StartReports:
    """The client's side of the reports: one subscription, one plugin, both kept.

    Parameters
    ----------
    client : distributed.Client
        An asynchronous client.
    handler : callable
        Called with ``(job key, task key)`` for each report, on the client's loop.
    """

    def __init__(self, client, handler: Callable[[str, object], None]):
        self.client = client
        self._handler = handler
        self._plugin: asyncio.Future | None = None
        self._watch = ReconnectWatch(client)
        self._watch.add(self._reconnected)
        self._subscribe()

    def _subscribe(self) -> None:
        self.client.subscribe_topic(PART_STARTED_TOPIC, self._received)

    def _received(self, event) -> None:
        _, msg = event
        self._handler(msg.get("job"), task_key(msg.get("key")))

    def ensure_plugin(self) -> None:
        """Have every worker report the start of annotated tasks (once per scheduler).

        Not awaited: a task that starts before the plugin is in place reads "running"
        when its first part arrives instead.
        """
        # A reconnection restores the subscription and the plugin before work is sent.
        self._watch.check()
        if self._plugin is None:
            self._plugin = asyncio.ensure_future(self.client.register_plugin(StartReporter()))
            self._plugin.add_done_callback(self._registered)

    @property
    def plugin(self) -> asyncio.Future | None:
        """The plugin's registration, once asked for (await it to be sure it is there)."""
        return self._plugin

    def _registered(self, future: asyncio.Future) -> None:
        if not future.cancelled() and future.exception() is not None:
            logger.warning("registering the start reporter failed: %s", future.exception())
            if self._plugin is future:  # not one started since, on a new scheduler
                self._plugin = None

    def _reconnected(self, client, new_scheduler: bool) -> None:
        # Subscriptions travel on the client's stream, ahead of any work sent after them.
        # Sent to every new connection: subscribing twice is harmless.
        self._subscribe()
        if new_scheduler and self._plugin is not None:
            # The restarted scheduler's workers have no StartReporter.
            self._plugin = None
            self.ensure_plugin()

    def close(self) -> None:
        """Stop watching the client's connection."""
        self._watch.stop()
