"""One consumer's requests: a new one supersedes the previous one."""

from __future__ import annotations

import uuid

from .job import FINAL_STATES, LIVE_STATES, Job
from .registry import JobRegistry


class JobManager:
    """Submit work for one consumer; a new request supersedes the previous one.

    A manager is one consumer that must stay connected (a browser session, a notebook):
    it wants at most one job at a time, a new request supersedes its previous one, and
    a job runs while at least one manager wants it (see :class:`JobRegistry`).

    Parameters
    ----------
    registry : JobRegistry
        Where its jobs are shared with every other consumer of the same client
        (:meth:`~compute.engine.engine.Engine.manager` makes managers on the engine's).
    owner : str, optional
        Whose work it is: the user whose history holds its records
        (:attr:`~compute.engine.records.JobRecord.owner`); None: anonymous.
    payer : str, optional
        Whose allowance the new work it starts uses (see :mod:`compute.engine.limits`);
        None: uncapped (a notebook's own cluster).
    history : bool
        Add a record of each of its jobs to the registry's store, if it has one: when the
        job ends, or as ``cancelled`` when this manager stops wanting it unfinished. Off
        for helper requests such as previews.

    Examples
    --------
    >>> manager = await engine.manager()                   # doctest: +SKIP
    >>> job = manager.submit(MyKind(...))                  # doctest: +SKIP
    >>> value = await job.result()                         # doctest: +SKIP
    >>> total = await manager.submit(sum, [1, 2, 3]).result()  # doctest: +SKIP
    """

    def __init__(
        self,
        registry: JobRegistry,
        *,
        owner: str | None = None,
        payer: str | None = None,
        history: bool = True,
    ):
        if not isinstance(registry, JobRegistry):
            raise TypeError(
                "A JobManager is made on a JobRegistry, not a "
                f"{type(registry).__name__}: ask an Engine for one (await engine.manager())."
            )
        self.registry = registry
        self.owner = owner
        self.payer = payer
        self.history = history
        self.job: Job | None = None
        # Its own records: two consumers of one job each keep theirs (one may have let it
        # go as cancelled while the other saw it done).
        self._writer = uuid.uuid4().hex[:12]

    def submit(self, work, /, *args, key: str | None = None, **kwargs) -> Job:
        """Request work; returns its job at once.

        ``work`` is work of a kind the registry knows: a
        :class:`~compute.engine.work.Work`, an object a registered kind accepts (a
        domain's request, with that kind's keyword options), a ``dask.delayed`` object or
        a list of them, or a pure function, called as ``work(*args, **kwargs)`` on a
        worker. A call's key comes from Dask's ``tokenize`` (see
        :func:`~compute.engine.calls.call_key`); ``key=`` names it yourself where that
        cannot be deterministic, as in ``Client.submit``.

        The same work as the current job returns that job. Any other supersedes the
        current job, which is cancelled unless another manager still wants it or it is
        detached. Work already running for another holder is joined; a finished result
        is served from the cache.

        Raises
        ------
        ValueError
            If the request violates its kind's constraints, or a call has no
            deterministic key.
        LimitExceeded
            (A ValueError.) If it would start new work over the payer's caps; the current
            job is kept then.
        TypeError
            If no registered kind takes ``work``.
        """
        work = self.registry.work(work, args, kwargs, key)
        current = self.job
        if current is not None and current.key == work.key and current.state in LIVE_STATES:
            return current
        job = self.registry.acquire(work, self, payer=self.payer, replacing=current)
        self.job = job
        if current is not None and current is not job:
            self._let_go(current)
        self._log_when_final(job)
        return job

    def detach(self, work, /, *args, key: str | None = None, **kwargs) -> Job:
        """:meth:`JobRegistry.detach` on this manager's registry, for its owner and payer:
        the job is not this manager's and never superseded by its requests."""
        return self.registry.detach_for(
            self.registry.work(work, args, kwargs, key), owner=self.owner, payer=self.payer
        )

    def cancel(self) -> bool:
        """Stop wanting the current job; cancel it unless another holder wants it.

        Returns
        -------
        bool
            True if the job was cancelled (False if it had finished or is still wanted).
        """
        job, self.job = self.job, None
        return job is not None and self._let_go(job)

    close = cancel

    # -- history ----------------------------------------------------------------------------
    def _let_go(self, job: Job) -> bool:
        if not job.done and not job.detached:
            self._log(job, state="cancelled")
        return self.registry.release(job, self)

    def _log_when_final(self, job: Job) -> None:
        # A detached job keeps its own record (JobRegistry.detach).
        if not self._logging or job.detached:
            return
        if job.done:
            self._log(job)
            return

        def ended(event):
            if event.new in FINAL_STATES:
                job.param.unwatch(watcher)
                if self.job is job and not job.detached:  # one let go was logged then
                    self._log(job)

        watcher = job.param.watch(ended, "state")

    @property
    def _logging(self) -> bool:
        return self.history and self.registry.history.on

    def _log(self, job: Job, state: str | None = None) -> None:
        if self._logging:
            self.registry.history.add(job.record(state).replace(owner=self.owner), self._writer)
