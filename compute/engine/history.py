"""Job records written to the store's history: by consumers, and by detached jobs.

A consumer (a :class:`~compute.engine.manager.JobManager` with ``history=True``) writes
a record of each of its jobs when it ends, or as ``cancelled`` when it stops wanting it
unfinished. A detached job writes its own, one for each user who asked for it, from the
start, rewritten every :attr:`History.HEARTBEAT` seconds while it runs: a record whose
process stopped goes quiet, and reads as ``interrupted`` (see
:meth:`~compute.engine.store.ResultStore.history`).
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .job import Job
    from .records import JobRecord
    from .results import Results


class History:
    """Writes job records to the store of ``results`` (nothing without a store)."""

    #: Seconds between rewrites of a detached job's record while it runs: its heartbeat.
    HEARTBEAT = 5.0

    def __init__(self, results: Results):
        self.results = results
        self._beats: set[asyncio.Future] = set()
        self._lock = threading.Lock()

    @property
    def on(self) -> bool:
        """Whether records are kept at all (there is a store)."""
        return self.results.store is not None

    def add(self, record: JobRecord, writer: str) -> None:
        """Write ``record`` as ``writer``'s (replacing its earlier one of the same job)."""
        if self.on:
            self.results.in_background(self._write, record, writer, None)

    def write(self, job: Job, user: str | None) -> None:
        """Write detached ``job``'s record for ``user`` (in a thread): one at a time, so
        that a heartbeat's "running" can never land after the record of its end."""
        if self.on:
            record = job.record().replace(owner=user)
            writer = "detached" if user is None else f"detached:{user}"
            self.results.in_background(self._write, record, writer, job)

    def _write(self, record: JobRecord, writer: str, job: Job | None) -> None:
        with self._lock:
            if job is None or record.ended or not job.done:
                self.results.store.add_record(record, writer=writer)

    def beat(self, job: Job, users) -> None:
        """Rewrite detached ``job``'s records for ``users()`` until it ends."""
        if self.on:
            beat = asyncio.ensure_future(self._heartbeat(job, users))
            self._beats.add(beat)
            beat.add_done_callback(self._beats.discard)

    async def _heartbeat(self, job: Job, users) -> None:
        while not job.done:
            for user in users():
                self.write(job, user)
            ending = asyncio.ensure_future(job.wait())
            try:
                await asyncio.wait({ending}, timeout=self.HEARTBEAT)
            finally:
                ending.cancel()
