"""The embedded cluster's supervisor: restarted when its scheduler or all its workers die.

An embedded cluster (see :func:`~compute.engine.cluster.local_cluster`) is this
process's own to manage; an external scheduler (``DASK_SCHEDULER_ADDRESS``) is not, and
is never supervised. Two parts, in the manner of distributed's ``AdaptiveCore`` and
``Adaptive``:

* :class:`RestartPolicy` decides, from a :class:`Health` and a clock alone, whether the
  cluster must be restarted now, and how long to wait after restarts that keep failing;
  it knows nothing of Dask, and is tested with a manual clock;
* :class:`ClusterSupervisor` looks at the cluster on a thread of its own, asks the
  policy, and acts: the old cluster is disposed of and a new one started by a function
  it is given (whose scheduler listens on the same port, so that the client's own
  reconnection carries on: see :class:`~compute.engine.cluster.ReconnectWatch`).

A ``SpecCluster`` cannot replace its scheduler, hence a whole new cluster.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

#: Seconds a restarted cluster's workers have to join before the restart counts as failed.
RESTART_TIMEOUT = 60.0

#: What a supervisor is doing: its cluster runs, is being restarted, waits before the
#: next try (restarts keep failing), or the supervisor was stopped.
SUPERVISOR_STATES = ("running", "restarting", "waiting", "stopped")


@dataclass(frozen=True)
class Health:
    """What a look at an embedded cluster saw.

    Attributes
    ----------
    scheduler : bool
        Whether its scheduler still runs (its process has not exited).
    workers : int
        Workers the scheduler knows now.
    keepers : int
        Worker keepers (nannies) still running: each brings its worker back if that one
        dies. None left, no worker will ever come back.
    """

    scheduler: bool
    workers: int
    keepers: int


class RestartPolicy:
    """When an embedded cluster must be restarted, and how long to wait between tries.

    A fault must be seen on ``confirm`` looks in a row (a look that races a nanny's
    restart of a worker, or a shutdown of the whole process, is not enough). A scheduler
    that exited, or no worker keeper left, is a fault at once; no worker joined while
    keepers run (a worker that never comes back) only after ``worker_grace`` seconds.

    After a restart that failed, or one whose cluster died again within ``stable``
    seconds, the next waits ``backoff`` seconds, doubled each time up to ``max_backoff``.

    Parameters
    ----------
    confirm : int
        Looks in a row that must see a fault.
    worker_grace : float
        Seconds with keepers but no worker before that is a fault.
    backoff, max_backoff : float
        The first wait after a failure, and the longest.
    stable : float
        Seconds a restarted cluster must live for its restart to count as a success.
    clock : callable
        Seconds, monotonic (:func:`time.monotonic`; a manual clock in tests).
    """

    def __init__(
        self,
        *,
        confirm: int = 2,
        worker_grace: float = 30.0,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        stable: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.confirm = confirm
        self.worker_grace = worker_grace
        self.backoff, self.max_backoff = backoff, max_backoff
        self.stable = stable
        self.clock = clock
        #: Failed restarts in a row (a restarted cluster that died early counts).
        self.failures = 0
        #: ``(time, event)`` of the latest decisions, for diagnostics.
        self.log: collections.deque = collections.deque(maxlen=100)
        self._seen = 0
        self._no_worker_since: float | None = None
        self._up_since: float | None = None
        self._not_before = 0.0

    def fault(self, health: Health) -> str | None:
        """What is wrong with a cluster in this ``health`` (None: nothing), ignoring how
        often it was seen."""
        now = self.clock()
        if health.workers or not health.scheduler:
            self._no_worker_since = None
        elif self._no_worker_since is None:
            self._no_worker_since = now
        if not health.scheduler:
            return "its scheduler exited"
        if not health.keepers:
            return "no worker is left"
        if self._no_worker_since is not None and now - self._no_worker_since >= (
            self.worker_grace
        ):
            return f"no worker joined for {self.worker_grace:g} s"
        return None

    def recommendation(self, health: Health) -> tuple[str, str | None]:
        """``("healthy", None)``, ``("restart", why)`` or ``("wait", why)``.

        ``wait``: a fault to be confirmed by the next look, or restarts failing, the next
        try not due yet (the reason says when).
        """
        now = self.clock()
        fault = self.fault(health)
        if fault is None:
            self._seen = 0
            if self._up_since is not None and now - self._up_since >= self.stable:
                self.failures, self._up_since = 0, None  # it lived: restarts work again
            return "healthy", None
        self._seen += 1
        if self._seen == 1 and self._up_since is not None:
            # Died again soon after a restart: as good as a failed one.
            if now - self._up_since < self.stable:
                self._failed(now)
            self._up_since = None
        if self._seen < self.confirm:
            return "wait", fault
        if now < self._not_before:
            return "wait", f"{fault}; the next try in {self._not_before - now:.0f} s"
        self.log.append((now, f"restart: {fault}"))
        return "restart", fault

    def restarted(self, ok: bool) -> None:
        """A restart recommended by :meth:`recommendation` ended, well or not."""
        now = self.clock()
        self.log.append((now, "restarted" if ok else "restart failed"))
        if ok:
            self._seen, self._up_since = 0, now  # a new cluster: its faults are new
        else:
            self._failed(now)

    def _failed(self, now: float) -> None:
        self.failures += 1
        delay = min(self.backoff * 2 ** (self.failures - 1), self.max_backoff)
        self._not_before = now + delay

    @property
    def wait(self) -> float:
        """Seconds before a restart may start (0: now)."""
        return max(self._not_before - self.clock(), 0.0)


def embedded_health(cluster) -> Health:
    """A look at an embedded ``SpecCluster`` or ``LocalCluster`` from any thread, without
    asking its scheduler anything (it may be dead)."""
    scheduler = cluster.scheduler
    process = getattr(scheduler, "process", None)  # a subprocess scheduler's
    if cluster.status.name in ("closing", "closed", "failed") or scheduler is None:
        alive = False
    elif process is not None:
        alive = process.returncode is None
    else:
        alive = scheduler.status.name in ("init", "starting", "running")
    workers = len((cluster.scheduler_info or {}).get("workers", ()))
    keepers = sum(
        w.status.name in ("init", "starting", "running") for w in list(cluster.workers.values())
    )
    return Health(scheduler=alive, workers=workers, keepers=keepers)


def dispose(cluster, timeout: float = 30.0) -> None:
    """Close an embedded cluster, its scheduler dead or alive, without waiting for a dead
    one.

    ``SpecCluster.close`` asks the scheduler to retire the workers and to terminate:
    with the scheduler dead, each request waits for Dask's connect timeout (30 s) and
    fails. A dead scheduler is closed first (what is left of it), and the cluster told
    not to shut it down: the workers are then closed directly. A live one is closed as
    Dask does.
    """
    if cluster.status.name == "closed":
        return
    if not embedded_health(cluster).scheduler:
        try:
            if cluster.scheduler is not None:
                cluster.sync(cluster.scheduler.close)
            cluster.shutdown_scheduler = False
        except Exception as exc:  # closed below all the same
            logger.warning("closing the lost scheduler failed: %s", exc)
    cluster.close(timeout=timeout)


class ClusterSupervisor:
    """Restarts an embedded cluster when its scheduler or all its workers die.

    Looks every ``interval`` seconds, on a daemon thread of its own (started by
    :meth:`start`), and follows its :class:`RestartPolicy`. A restart is logged, and so
    is a failed one; meanwhile :attr:`reason` says what happens, for a banner or a
    readiness probe.

    Parameters
    ----------
    cluster : SpecCluster or LocalCluster
        The running cluster.
    restart : callable
        ``restart()`` returns a new running cluster (on the same ports); it raises if it
        cannot. Called on the supervisor's thread.
    policy : RestartPolicy, optional
        When to restart (default: :class:`RestartPolicy`'s defaults).
    interval : float
        Seconds between looks.
    alive : callable, optional
        ``alive()`` is False once the process no longer serves (its event loop stopped,
        a shutdown): a cluster lost then is not restarted.
    look, close : callable, optional
        How the cluster is looked at and disposed of (:func:`embedded_health`,
        :func:`dispose`).
    """

    def __init__(
        self,
        cluster,
        restart: Callable[[], object],
        *,
        policy: RestartPolicy | None = None,
        interval: float = 0.5,
        alive: Callable[[], bool] | None = None,
        look: Callable[[object], Health] = embedded_health,
        close: Callable[[object], None] = dispose,
    ):
        self.cluster = cluster
        self.policy = policy if policy is not None else RestartPolicy()
        self.interval = interval
        #: One of :data:`SUPERVISOR_STATES`.
        self.state = "running"
        #: Why the cluster cannot be used now (None while it runs).
        self.reason: str | None = None
        #: Restarts that succeeded.
        self.restarts = 0
        self._restart, self._alive, self._look, self._close = restart, alive, look, close
        self._listeners: list[Callable[[object], None]] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def down(self) -> bool:
        """Whether the cluster is known lost: being restarted, or waiting for a try."""
        return self.state in ("restarting", "waiting")

    def add(self, callback: Callable[[object], None]) -> None:
        """Call ``callback(cluster)`` on the supervisor's thread after each restart."""
        self._listeners.append(callback)

    def start(self) -> None:
        """Look every :attr:`interval` seconds from now on, on a thread of its own."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="engine-cluster-supervisor", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self.check()
            except Exception:  # the next look tries again; a supervisor must not die
                logger.exception("supervising the embedded Dask cluster failed")

    def check(self) -> None:
        """Look at the cluster once, and restart it if the policy says so."""
        with self._lock:
            if self._stopping.is_set() or (self._alive is not None and not self._alive()):
                return
            action, why = self.policy.recommendation(self._look(self.cluster))
            if action == "healthy":
                self.state, self.reason = "running", None
            elif action == "wait":
                if self.down or self.policy.failures:
                    self.state = "waiting"
                    self.reason = f"The embedded Dask cluster is lost ({why})."
            else:
                self._restart_now(why)

    def _restart_now(self, why: str) -> None:
        self.state = "restarting"
        self.reason = f"The embedded Dask cluster is restarting: {why}."
        logger.warning("the embedded Dask cluster is restarting: %s", why)
        try:
            self._close(self.cluster)
        except Exception as exc:  # the old one is left to its own finalizers
            logger.warning("closing the lost cluster failed: %s", exc)
        try:
            cluster = self._restart()
        except Exception as exc:
            self.policy.restarted(False)
            self.state = "waiting"
            self.reason = f"The embedded Dask cluster could not be restarted: {exc}"
            logger.error(
                "restarting the embedded Dask cluster failed (%d in a row, next in %.0f s): %s",
                self.policy.failures,
                self.policy.wait,
                exc,
            )
            logger.debug("the restart's failure", exc_info=True)
            return
        self.policy.restarted(True)
        self.cluster, self.restarts = cluster, self.restarts + 1
        self.state, self.reason = "running", None
        logger.warning("the embedded Dask cluster restarted at %s", cluster.scheduler_address)
        for callback in list(self._listeners):
            try:
                callback(cluster)
            except Exception:  # one listener's failure must not cost the others theirs
                logger.exception("a listener of the cluster's restart failed")

    def stop(self) -> object:
        """Stop looking (a restart under way finishes first); return the cluster now
        current, for its owner to close. Blocks: call it off the event loop."""
        self._stopping.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        with self._lock:
            self.state = "stopped"
            return self.cluster


def cluster_ports(cluster) -> tuple[int, int]:
    """``(scheduler port, dashboard port)`` of a running local ``cluster`` (0: none)."""
    port = urlsplit(cluster.scheduler_address).port or 0
    dashboard = (cluster.scheduler_info or {}).get("services", {}).get("dashboard") or 0
    return port, dashboard


class EmbeddedCluster:
    """A connection's local cluster: started once, then kept running by a
    :class:`ClusterSupervisor` that restarts it where it listened.

    Parameters
    ----------
    start : callable
        ``start(port=..., dashboard_port=..., timeout=...)`` returns a running cluster
        whose scheduler and dashboard listen on those ports (0: any free one), its
        workers all joined within ``timeout`` seconds (None: no limit); synchronous
        (see :func:`~compute.engine.cluster.local_cluster`).
    policy : RestartPolicy, optional
        When to restart it.
    restarted : callable, optional
        Called with no argument on :attr:`loop` (once a client has set it) after each
        restart.
    """

    def __init__(
        self,
        start: Callable[..., object],
        *,
        policy: RestartPolicy | None = None,
        restarted: Callable[[], None] | None = None,
    ):
        self._start, self._policy, self._restarted = start, policy, restarted
        #: The event loop of the cluster's client: where :attr:`restarted` is called,
        #: and while it runs, the process serves (a cluster lost after is not restarted).
        self.loop: asyncio.AbstractEventLoop | None = None
        #: What restarts the cluster, once it was started.
        self.supervisor: ClusterSupervisor | None = None
        self._starting: concurrent.futures.Future | None = None
        self._closed = False

    @property
    def cluster(self):
        """The cluster now running (a new one after each restart), or None."""
        return self.supervisor.cluster if self.supervisor is not None else None

    @property
    def unavailable(self) -> str | None:
        """Why the cluster cannot be used now (lost, restarting, waiting for its next
        try); None while it runs or before it started."""
        supervisor = self.supervisor
        return supervisor.reason if supervisor is not None and supervisor.down else None

    def start(self):
        """Start the cluster and its supervision, unless started already; return it.

        Synchronous (seconds): call it off the event loop.

        Raises
        ------
        RuntimeError
            If :meth:`close` was called meanwhile (what was started is closed).
        """
        if self.supervisor is not None:
            return self.cluster
        cluster = self._start()
        if self._closed:  # closed while it started: nobody else would close it
            dispose(cluster)
            raise RuntimeError("The cluster connection is closed.")
        port, dashboard = cluster_ports(cluster)
        logger.info("local cluster started at %s", cluster.scheduler_address)
        restart = functools.partial(
            self._start, port=port, dashboard_port=dashboard, timeout=RESTART_TIMEOUT
        )
        supervisor = ClusterSupervisor(cluster, restart, policy=self._policy, alive=self._serving)
        supervisor.add(self._tell)
        self.supervisor = supervisor
        supervisor.start()
        return cluster

    def prestart(self, *warm_ups: Callable[[], None], start: bool = True):
        """Run ``warm_ups``, then :meth:`start` (if ``start``), on a thread of their own;
        return the future of both (None once closed). Idempotent."""
        if self._starting is None and not self._closed:
            self._starting = concurrent.futures.Future()
            threading.Thread(
                target=self._prestart, args=(warm_ups, start), name="engine-prestart", daemon=True
            ).start()
        return self._starting

    def _prestart(self, warm_ups, start: bool) -> None:
        try:
            for warm_up in warm_ups:
                warm_up()
            if start:
                self.start()
        except Exception as exc:
            logger.exception("starting the local cluster failed")
            if not self._starting.done():
                self._starting.set_exception(exc)
        else:
            if not self._starting.done():
                self._starting.set_result(None)

    async def prestarted(self) -> None:
        """Wait for a :meth:`prestart` under way; raise what it raised."""
        if self._starting is not None and not self._starting.done():
            # Shielded: a waiter cancelled (a closed session) would otherwise cancel the
            # shared future, which every later waiter then finds cancelled.
            await asyncio.shield(asyncio.wrap_future(self._starting))

    def _serving(self) -> bool:
        # A cluster lost while this process shuts down (its loop stopped: a SIGTERM to
        # the whole process group) must not be started again.
        loop = self.loop
        return not self._closed and (loop is None or loop.is_running())

    def _tell(self, cluster) -> None:
        loop = self.loop
        if self._restarted is not None and loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._restarted)

    def close(self) -> None:
        """Stop supervising (a start or a restart under way ends first) and close the
        cluster. Synchronous: call it off the event loop."""
        self._closed = True
        if self._starting is not None:
            self._starting.exception()  # waits; a failed start left nothing to close
        supervisor, self.supervisor = self.supervisor, None
        if supervisor is not None:
            dispose(supervisor.stop())
