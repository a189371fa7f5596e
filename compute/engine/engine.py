"""The engine: one object per process that holds everything the offload pattern needs.

An :class:`Engine` holds the cluster connection, the persistent store, the memory
cache, the caps, the kinds of work it runs and the job registry of its current client.
A web app keeps one per server process (in Panel's ``pn.state.cache``, never in a module
global); a notebook or a script makes its own. Every consumer asks it for a manager
with its owner (whose work it is) and its payer (whose allowance it uses) given apart.

Examples
--------
>>> engine = Engine.from_env(kinds=[MyKind])          # doctest: +SKIP
>>> manager = await engine.manager(owner="alice", payer="user:alice")  # doctest: +SKIP
>>> job = manager.submit(MyKind(...))                  # doctest: +SKIP
>>> await job.result()                                 # doctest: +SKIP
>>> await engine.close()                               # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
import os
from collections.abc import Callable, Iterable

from distributed import Client

from .cache import ResultCache
from .calls import with_builtins
from .cluster import ClusterConnection
from .job import Job
from .limits import COST, CostUnit, Ledger, Limits
from .manager import JobManager
from .registry import JobRegistry
from .results import Results
from .store import MISSING, ResultStore
from .work import Work

logger = logging.getLogger(__name__)


class EngineUnavailable(OSError):
    """The cluster cannot be reached now (the message says why); try again later.

    Attributes
    ----------
    lost : bool
        True if the client exists but is not connected (its scheduler stopped
        answering); False if it could not connect at all.
    error : str or None
        The connection's own words, if it has any.
    """

    def __init__(self, error: str | None, *, lost: bool):
        super().__init__(error or "The scheduler stopped answering.")
        self.error, self.lost = error, lost


#: What :meth:`Engine.readiness` says of a connection that is not connected, without a
#: reason of its own.
_NOT_READY = {
    "idle": "Not connected to the Dask cluster yet.",
    "connecting": "Connecting to the Dask cluster.",
    "reconnecting": "The Dask scheduler stopped answering; reconnecting.",
    "lost": "The Dask cluster cannot be reached.",
    "closed": "The engine is closed.",
}


class Engine:
    """The cluster connection, store, cache, caps, kinds and registry of one process.

    Parameters
    ----------
    connection : ClusterConnection, optional
        How the cluster is reached; defaults to ``DASK_SCHEDULER_ADDRESS`` or an embedded
        local cluster (see :class:`~compute.engine.cluster.ClusterConnection`).
    store : ResultStore, optional
        Where results and the history persist; None: in memory only.
    cache : ResultCache, optional
        This process's memory of finished results (default: 512 MiB).
    limits : Limits, optional
        The caps per payer (default: :meth:`Limits.from_env`).
    kinds : iterable of Work subclasses
        The domain's kinds of work, registered after the engine's own (calls, graphs).
    """

    def __init__(
        self,
        connection: ClusterConnection | None = None,
        *,
        store: ResultStore | None = None,
        cache: ResultCache | None = None,
        limits: Limits | None = None,
        kinds: Iterable[type[Work]] = (),
    ):
        self.connection = connection if connection is not None else ClusterConnection()
        self.store = store
        self.cache = cache if cache is not None else ResultCache()
        self.ledger = Ledger(limits)
        self.kinds = with_builtins(*kinds)
        self._registry: JobRegistry | None = None
        # Detached jobs in flight (their work, to ask again), and those lost with the
        # cluster, with their users, until it is back.
        self._flying: dict[str, Work] = {}
        self._lost: dict[str, tuple[Work, frozenset]] = {}
        self._asking: set[asyncio.Future] = set()
        self.connection.on_connected(self._connected)

    @classmethod
    def from_env(
        cls,
        *,
        prefix: str = "ENGINE_",
        kinds: Iterable[type[Work]] = (),
        plugins: Iterable = (),
        unit: CostUnit = COST,
        store: type[ResultStore] = ResultStore,
        cache: type[ResultCache] = ResultCache,
    ) -> Engine:
        """An engine configured by the environment.

        * ``DASK_SCHEDULER_ADDRESS`` (Dask's own): the scheduler; unset, an embedded
          local cluster, its scheduler in a ``<prefix>SCHEDULER`` (``process`` or
          ``thread``);
        * ``<prefix>STORE``, ``<prefix>STORE_MAX_BYTES``: the store (see
          :meth:`ResultStore.from_env`); one that cannot be opened is logged, and the
          engine runs without persistence;
        * ``<prefix>CACHE_MAX_BYTES``: the memory cache;
        * ``<prefix>MAX_JOBS``, ``<prefix>MAX_BACKGROUND_JOBS``,
          ``<prefix>MAX_<UNIT>_PER_MINUTE``: the caps (see :meth:`Limits.from_env`);
        * ``<prefix>KINDS``: more kinds of work, as ``module:Class`` separated by commas
          (an app's own computation, served by its API with no edit to the app).

        Parameters
        ----------
        prefix : str
            Of every variable but Dask's.
        kinds : iterable of Work subclasses
            The domain's kinds of work.
        plugins : iterable of WorkerPlugin
            Put on every worker, again after a scheduler restarts (a kernel warm-up).
        unit : CostUnit
            What the caps count costs in.
        store, cache : classes
            The store's and the cache's classes (a domain's own defaults).

        Raises
        ------
        ValueError
            If a cap, the scheduler's place or a kind is not a valid value.
        """
        place = os.environ.get(f"{prefix}SCHEDULER", "").strip() or None
        try:
            connection = ClusterConnection(scheduler=place, plugins=plugins)
        except ValueError as exc:
            raise ValueError(f"{prefix}SCHEDULER={place!r}: {exc}") from None
        return cls(
            connection,
            store=_store_from_env(store, prefix),
            cache=cache.from_env(prefix),
            limits=Limits.from_env(prefix=prefix, unit=unit),
            kinds=[*kinds, *kinds_from_env(f"{prefix}KINDS")],
        )

    # -- the cluster -------------------------------------------------------------------------
    async def client(self) -> Client:
        """The connected asynchronous client (see :meth:`ClusterConnection.client`)."""
        return await self.connection.client()

    async def registry(self) -> JobRegistry:
        """The job registry of the current client: a new one after the client was replaced
        (a lost cluster), sharing the engine's store, cache, caps and kinds.

        Raises
        ------
        EngineUnavailable
            If the scheduler cannot be reached, or its client is reconnecting (work sent
            now would be queued where a restarted scheduler never sees it); at once,
            without asking the cluster, while the embedded cluster is known lost or
            restarting.
        """
        known = self.connection.unavailable
        if known is not None:
            raise EngineUnavailable(known, lost=True)
        try:
            client = await self.connection.client()
        except Exception as exc:
            raise EngineUnavailable(str(exc), lost=False) from exc
        if self.connection.status != "connected":
            raise EngineUnavailable(self.connection.error, lost=True)
        registry = self._registry
        if registry is None or registry.client is not client:
            if registry is not None:
                registry.close()
            registry = self._registry = JobRegistry(
                client, self.cache, self.store, ledger=self.ledger, kinds=self.kinds
            )
            # Held strongly by the registry, which the engine holds: no cycle outlives both.
            registry.subscribe(functools.partial(self._detached_changed, registry))
        return registry

    def readiness(self) -> dict:
        """Whether work can be sent to the cluster now, from what is known already (no
        request to the cluster, no waiting): ``{"ready": bool, "status": <the
        connection's status>, "error": <why not, or None>}``."""
        status = self.connection.status
        ready = status == "connected"
        error = None if ready else (self.connection.error or _NOT_READY.get(status))
        return {"ready": ready, "status": status, "error": error}

    async def stored_result(self, work) -> Job | None:
        """A finished job for ``work`` from this process's memory or the store (read in a
        thread), without the cluster: ``cached``, its result filled; None if neither
        holds it. What a server still serves while the cluster is lost.

        ``work``: :class:`Work`, or anything a registered kind accepts without arguments.
        """
        work = self.kinds.work(work)
        results = Results(self.cache, self.store)
        found = results.cached(work.key)
        if found is MISSING and work.codec is not None:
            found = await results.stored(work.key, work.codec)
            if found is not MISSING:
                results.keep(work.key, found)
        if found is MISSING:
            return None
        job = work.job()
        job.fill(found)
        job.finish("cached")
        return job

    # -- detached jobs lost with the cluster ---------------------------------------------------
    def _detached_changed(self, registry: JobRegistry, job: Job) -> None:
        # The client cancels every future when it loses its scheduler, and a detached
        # job fails with them: its work is kept from its start, to ask for it again.
        if not job.done:
            driver = registry.driver(job)
            if driver is not None:
                self._flying[job.key] = driver.work
            return
        work = self._flying.pop(job.key, None)
        if work is None or job.state != "failed" or self.connection.status == "connected":
            return
        users = registry.users(job) or frozenset({None})
        self._lost[job.key] = (work, users)
        logger.warning(
            "detached job %s was lost with the cluster; it is asked for again once it is back",
            job.key,
        )

    def _connected(self) -> None:
        if self._lost:
            task = asyncio.ensure_future(self._ask_again())
            self._asking.add(task)
            task.add_done_callback(self._asking.discard)

    async def _ask_again(self) -> None:
        """Ask again, by key, for the detached jobs lost with the cluster (each for each
        of its users); uncharged: their payers paid when they first asked."""
        try:
            registry = await self.registry()
        except EngineUnavailable:
            return  # not back after all: the next connection asks
        lost, self._lost = self._lost, {}
        for key, (work, users) in lost.items():
            for user in users:
                try:
                    registry.detach_for(work, owner=user)
                except Exception as exc:
                    logger.warning("asking again for detached job %s failed: %s", key, exc)
        if lost:
            logger.info("asked again for %d detached job(s) lost with the cluster", len(lost))

    @property
    def current(self) -> JobRegistry | None:
        """The registry made last, if any, without connecting (what is in flight now)."""
        return self._registry

    async def manager(
        self, *, owner: str | None = None, payer: str | None = None, history: bool = True
    ) -> JobManager:
        """A new consumer on the current registry (see :class:`JobManager`)."""
        return JobManager(await self.registry(), owner=owner, payer=payer, history=history)

    async def detach(self, work, *, owner: str | None = None, payer: str | None = None) -> Job:
        """Run ``work`` to completion whoever watches (see :meth:`JobRegistry.detach_for`)."""
        return (await self.registry()).detach_for(work, owner=owner, payer=payer)

    def prestart(self, *warm_ups: Callable[[], None]) -> None:
        """Start the embedded cluster now, in a thread (see
        :meth:`ClusterConnection.prestart`); ``warm_ups`` run first in that thread."""
        self.connection.prestart(*warm_ups)

    async def close(self) -> None:
        """Close the connection (and the embedded cluster, if it started one)."""
        if self._registry is not None:
            self._registry.close()
        await self.connection.close()


def kinds_from_env(name: str) -> list[type[Work]]:
    """The kinds of work the variable ``name`` names (``"module:Class,module:Class"``).

    Raises
    ------
    ValueError
        Naming the variable and the entry that is no importable kind of work.
    """
    kinds = []
    for entry in filter(None, (e.strip() for e in os.environ.get(name, "").split(","))):
        module, _, attribute = entry.partition(":")
        try:
            kind = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ValueError(f"{name}: {entry!r} is no importable kind of work ({exc}).") from None
        if not (isinstance(kind, type) and issubclass(kind, Work)):
            raise ValueError(f"{name}: {entry!r} is not a kind of work (a Work subclass).")
        kinds.append(kind)
    return kinds


def _store_from_env(kind: type[ResultStore], prefix: str) -> ResultStore | None:
    try:
        return kind.from_env(prefix)
    except (ValueError, OSError) as exc:
        # A deployment mistake must not take the app down: it runs, without persistence.
        logger.error("Results and history will not persist: %s", exc)
        return None
