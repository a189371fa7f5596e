"""The jobs of one client: de-duplicated, held by whoever wants them, detached, cancelled.

A :class:`JobRegistry` is where every request for work on one Dask client meets:

* **de-duplication**: identical work (equal keys) is one job, in flight or finished
  (then served from the memory cache or the store as ``cached``), for every holder;
* **holders**: a job runs while at least one holder (a
  :class:`~compute.engine.manager.JobManager`) wants it; when the last one lets go its
  futures are released and Dask drops its queued tasks;
* **detached** jobs (:meth:`JobRegistry.detach`) run to completion whoever watches:
  what Dask's ``fire_and_forget`` gives, plus a state, a record in the history and a
  result in the store; they end by themselves or by an explicit :meth:`cancel`;
* **subscribers** hear of detached jobs as they start and end.

It delegates the rest, each to a module of its own: the order of tasks between holders
(:mod:`~compute.engine.fairness`), the workers' start reports
(:mod:`~compute.engine.reports`), results (:mod:`~compute.engine.results`), history
records (:mod:`~compute.engine.history`) and caps (:mod:`~compute.engine.limits`).
Everything here runs on the event loop of the asynchronous client.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Hashable

from .cache import ResultCache
from .calls import with_builtins
from .driver import Driver
from .fairness import FairQueue
from .history import History
from .job import Job
from .limits import Ledger
from .reports import StartReports
from .results import Results
from .store import MISSING, ResultStore
from .work import Kinds, Work

logger = logging.getLogger(__name__)


class JobRegistry:
    """Jobs shared by all holders on one client: in flight, cached, detached, reported.

    One registry per client: a client delivers each event topic to a single handler.
    An :class:`~compute.engine.engine.Engine` keeps one for its current client.

    Parameters
    ----------
    client : distributed.Client
        An asynchronous client.
    cache : ResultCache, optional
        Finished results by key; defaults to an in-memory LRU of 512 MiB.
    store : ResultStore, optional
        Where finished results and job records persist, across restarts and processes.
        A job first looks there (off the event loop) and, if found, finishes as
        ``cached`` with no task. Without a store nothing is written to disk.
    ledger : Ledger, optional
        Each payer's caps and spending (shared by the registries of one engine).
    kinds : Kinds, optional
        The kinds of work it accepts; defaults to calls and graphs.
    """

    def __init__(
        self,
        client,
        cache: ResultCache | None = None,
        store: ResultStore | None = None,
        *,
        ledger: Ledger | None = None,
        kinds: Kinds | None = None,
    ):
        self.client = client
        self.results = Results(cache if cache is not None else ResultCache.from_env(), store)
        self.ledger = ledger if ledger is not None else Ledger()
        self.kinds = kinds if kinds is not None else with_builtins()
        self.queue = FairQueue()
        self.history = History(self.results)
        self.reports = StartReports(client, self._on_started)
        #: Jobs in flight by key (every kind).
        self.jobs: dict[str, Job] = {}
        #: Detached jobs in flight, held here until they end.
        self.detached: dict[str, Job] = {}
        self._drivers: dict[str, Driver] = {}
        self._work: dict[str, Work] = {}
        self._holders: dict[str, weakref.WeakSet] = {}
        self._users: dict[str, set[str | None]] = {}
        self._listeners: list = []

    @property
    def cache(self) -> ResultCache:
        """The memory cache of finished results."""
        return self.results.cache

    @property
    def store(self) -> ResultStore | None:
        """The persistent store, if any."""
        return self.results.store

    # -- asking for work ---------------------------------------------------------------------
    def work(self, work, args: tuple = (), kwargs: dict | None = None, key: str | None = None):
        """``work`` (with a call's arguments) as :class:`~compute.engine.work.Work` of one of
        its kinds (see :meth:`Kinds.work`)."""
        return self.kinds.work(work, args, kwargs, key)

    def acquire(self, work, holder, *, payer: str | None = None, replacing=None, **options) -> Job:
        """The job for ``work`` on behalf of ``holder``: joined, cached or started.

        ``work``: :class:`Work`, or anything a registered kind accepts (with that kind's
        keyword ``options``). ``payer`` names who pays if it starts new work (see
        :mod:`compute.engine.limits`); ``replacing``: the payer's job that this request
        supersedes (not counted in flight).

        Raises
        ------
        LimitExceeded
            If new work would take ``payer`` over one of its caps.
        """
        work = self.kinds.work(work, (), options)
        return self._acquire(work, holder, payer=payer, replacing=replacing)

    def _acquire(self, work: Work, holder, *, payer=None, background=False, replacing=None) -> Job:
        key = work.key
        job = self.jobs.get(key)
        if job is None:
            found = self.results.cached(key)
            if found is not MISSING:
                job = work.job()
                job.fill(found)
                job.finish("cached")
                if work.codec is not None:
                    self.results.touch(key, work.codec)
        if job is None:
            # Only new work is charged: joining or a cache hit costs the cluster nothing.
            if payer is not None:
                self.ledger.admit(
                    payer, cost=work.cost, background=background, replacing=replacing
                )
            job = work.job()
            driver = work.driver(job, self, holder)
            self.jobs[key], self._drivers[key], self._work[key] = job, driver, work
            self._holders[key] = weakref.WeakSet()
            job.when_final(self._on_final)
            driver.start()
            if payer is not None:
                self.ledger.charge(payer, job, cost=work.cost, background=background)
        if holder is not None and not job.done:
            self._holders[key].add(holder)
            self._drivers[key].joined(holder)
        return job

    def release(self, job: Job, holder) -> bool:
        """``holder`` no longer wants ``job``; cancel it if nobody else does.

        A detached job is never cancelled here: it runs on without holders.

        Returns
        -------
        bool
            True if the job was cancelled.
        """
        holders = self._holders.get(job.key)
        if holders is None or self.jobs.get(job.key) is not job:
            return False
        holders.discard(holder)
        if holders or job.done or job.detached:
            return False
        self._cancel(job)
        return True

    def holders(self, job: Job) -> int:
        """How many holders (sessions, notebooks) want ``job`` now."""
        holders = self._holders.get(job.key)
        return len(holders) if holders is not None and self.jobs.get(job.key) is job else 0

    def detach(self, work, /, *args, key: str | None = None, **kwargs) -> Job:
        """Run ``work`` to completion whoever watches; the registry holds it until it ends.

        ``work`` is anything :meth:`JobManager.submit` takes (work of a registered kind,
        or a function with ``*args`` and ``**kwargs``). Identical work shares one job, in
        flight or finished (then ``cached``). The job is never superseded; :meth:`cancel`
        ends it. With a store, its record is in the history from the start and rewritten
        every ``History.HEARTBEAT`` seconds, so that a record whose process stopped reads
        as ``interrupted``. :meth:`detach_for` does the same for an owner and a payer.
        """
        return self.detach_for(self.kinds.work(work, args, kwargs, key))

    def detach_for(self, work, *, owner: str | None = None, payer: str | None = None) -> Job:
        """:meth:`detach` on behalf of ``owner`` (whose history holds its record: a user's
        name; None: anonymous) and ``payer`` (whose caps it counts against).

        ``work``: :class:`Work`, or anything a registered kind accepts without arguments.

        Raises
        ------
        LimitExceeded
            If it would start new work over one of ``payer``'s caps.
        """
        work = self.kinds.work(work)
        job = self._acquire(work, None, payer=payer, background=work.background)
        if job.done:  # served from memory: nothing runs, nothing to hold
            return job
        users = self._users.setdefault(job.key, set())
        if owner not in users:
            users.add(owner)
            if job.detached:
                self.history.write(job, owner)  # a second user's history gets it now
        if not job.detached:
            job.detached = True
            self.detached[job.key] = job
            self._announce(job)
            self.history.beat(job, lambda: self._users.get(job.key) or {None})
        return job

    def users(self, job: Job) -> frozenset:
        """The users (None: anonymous) who asked for detached ``job``."""
        return frozenset(self._users.get(job.key, ()))

    def cancel(self, job: Job) -> bool:
        """Cancel ``job`` now, whoever wants it (a person's explicit Cancel).

        Returns
        -------
        bool
            True if it was cancelled (False if it had ended).
        """
        if job.done:
            return False
        self._cancel(job)
        return True

    def _cancel(self, job: Job) -> None:
        driver = self._drivers.get(job.key)
        if driver is not None and self.jobs.get(job.key) is job:
            driver.stop()
        job.finish("cancelled")

    def driver(self, job: Job) -> Driver | None:
        """The driver of ``job`` while it is in flight (for diagnostics and tests)."""
        return self._drivers.get(job.key) if self.jobs.get(job.key) is job else None

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

    # -- workers' reports and ends -----------------------------------------------------------
    def _on_started(self, job_key: str, task: Hashable) -> None:
        self.queue.started(task)
        driver = self._drivers.get(job_key)
        if driver is not None:
            driver.started(task)

    def _on_final(self, job: Job) -> None:
        key = job.key
        work = None
        if self.jobs.get(key) is job:
            del self.jobs[key]
            del self._drivers[key]
            self._holders.pop(key, None)
            work = self._work.pop(key)
        if job.state in ("done", "cached"):
            self.results.keep(key, job.value)
        if job.state == "cached":
            self.ledger.refund(job)
        if job.state == "done" and work is not None and work.codec is not None:
            self.results.save(key, job.value, work.codec)
        if job.detached:
            self.detached.pop(key, None)
            for user in self._users.get(key) or {None}:
                self.history.write(job, user)
            self._announce(job)
            self._users.pop(key, None)

    # -- results -----------------------------------------------------------------------------
    def in_background(self, write, *args) -> None:
        """Run a store ``write`` in a thread (see :meth:`Results.in_background`)."""
        self.results.in_background(write, *args)

    async def flush(self) -> None:
        """Wait until every write to the store started so far has finished."""
        await self.results.flush()

    def close(self) -> None:
        """Stop listening to the client's reconnections (the client is going away)."""
        self.reports.close()
