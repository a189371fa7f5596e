"""The one place that knows how to reach Dask.

``DASK_SCHEDULER_ADDRESS`` (Dask's own convention, also read as the dask config key
``scheduler-address``) points at an existing scheduler: the dask CLI, Coiled,
dask-jobqueue, Kubernetes. Without it, an embedded local cluster starts: its scheduler
in a subprocess, its workers in worker processes, all bound to 127.0.0.1 (see
:func:`local_cluster`), restarted on the same ports if its scheduler or all its workers
die (see :mod:`compute.engine.supervisor`). Either way the process gets one asynchronous
client, created lazily on the event loop that asks for it, and replaced if the cluster
is lost. A
``tls://`` scheduler is reached with the credentials of Dask's TLS config
(``distributed.comm.tls.*``), as distributed's own ``Client`` is.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
import sys
import weakref
from collections.abc import Callable
from urllib.parse import urlsplit

import dask
from distributed import Client, LocalCluster, Nanny, Security, SpecCluster
from distributed.deploy.subprocess import SubprocessScheduler
from tornado.ioloop import PeriodicCallback

from .supervisor import EmbeddedCluster, RestartPolicy, dispose

logger = logging.getLogger(__name__)

#: Connection states, as a front end should present them.
STATES = ("idle", "connecting", "connected", "reconnecting", "lost", "closed")


class _Scheduler(SubprocessScheduler):
    """distributed's subprocess scheduler, with its log forwarded to ours.

    It starts the scheduler with its standard error on a pipe that nothing reads: a
    long-running scheduler would fill the pipe and block on its next log line.
    """

    async def _start(self) -> None:
        await super()._start()
        self._forward = asyncio.ensure_future(self._drain(self.process.stderr))

    async def close(self) -> None:
        forward = getattr(self, "_forward", None)
        if forward is not None:
            forward.cancel()  # close() reads what is left of the pipe itself
        await super().close()

    @staticmethod
    async def _drain(stream) -> None:
        while line := await stream.readline():
            sys.stderr.write(line.decode(errors="replace"))


#: Where the embedded cluster's scheduler may run: in a process of its own (the default)
#: or on a thread of this one (a ``LocalCluster``'s).
SCHEDULER_PLACES = ("process", "thread")


def scheduler_place(place: str | None = None) -> str:
    """``place`` checked, or the default: ``"process"``, but ``"thread"`` on Windows, where
    distributed's subprocess scheduler does not run.

    Raises
    ------
    ValueError
        If ``place`` is neither ``"process"`` nor ``"thread"``.
    """
    if not place:
        return "thread" if sys.platform == "win32" else "process"
    if place not in SCHEDULER_PLACES:
        raise ValueError(f"The scheduler runs in a 'process' or a 'thread', not {place!r}.")
    return place


#: Dask's own bookkeeping, slowed down for a cluster that shares a small machine with the
#: web server and its browsers. Measured idle on 2 cores, with Dask's defaults every
#: event loop's 20 ms tick (the server's nannies, the workers) and each worker's 10 ms
#: profiler sample cost 15% of a core together, taken from frames; with these, 6%. The
#: dashboard's profile page is coarser for it, and a blocked event loop is noticed to
#: within 200 ms rather than 20. The scheduler subprocess reads its config from its
#: environment, not from here, and keeps Dask's defaults.
EMBEDDED_CONFIG = {
    "distributed.admin.tick.interval": "200ms",
    "distributed.worker.profile.interval": "100ms",
}


def local_cluster(
    n_workers: int | None = None,
    threads_per_worker: int = 1,
    scheduler: str | None = None,
    *,
    port: int = 0,
    dashboard_port: int = 0,
    timeout: float | None = None,
):
    """An embedded cluster whose scheduler runs in its own process.

    A ``LocalCluster`` runs its scheduler (and the scheduler's dashboard, a Bokeh server)
    on a thread of the calling process. In a Panel server that thread shares the
    interpreter lock with every session's Bokeh document: measured, the app's round
    trips then cost several times the tiles' compute. Here the scheduler is a
    subprocess (``dask spec``, which exits if this process dies: see
    :mod:`compute.engine.lifeline`) and the workers are ``Nanny``-managed processes, as
    ``LocalCluster``'s are, all on 127.0.0.1.

    ``scheduler="thread"`` gives a plain ``LocalCluster`` instead, scheduler and
    dashboard in this process (see :func:`scheduler_place`).

    ``port`` and ``dashboard_port`` (0: any free one) are where the scheduler and its
    dashboard listen: a restarted cluster listens where the lost one did, so that
    clients reconnect to it by themselves. With ``timeout``, a cluster whose workers have
    not all joined within that many seconds is closed, and ``TimeoutError`` raised.

    Synchronous: it starts its own event loop in a thread, so it outlives any caller's
    loop. Call it off the event loop (it takes seconds).
    """
    n_workers = n_workers or os.cpu_count() or 1
    where = scheduler_place(scheduler)
    # Nannies copy this process's config into their workers when they start them.
    with dask.config.set(EMBEDDED_CONFIG):
        return _start_cluster(where, n_workers, threads_per_worker, port, dashboard_port, timeout)


def _start_cluster(
    where: str,
    n_workers: int,
    threads_per_worker: int,
    port: int = 0,
    dashboard_port: int = 0,
    timeout: float | None = None,
):
    dashboard = f"127.0.0.1:{dashboard_port}"
    if where == "thread":
        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            host="127.0.0.1",
            scheduler_port=port,
            dashboard_address=dashboard,
        )
    else:
        spec = {
            "cls": _Scheduler,
            "options": {
                "scheduler_kwargs": {
                    "host": "127.0.0.1",
                    "port": port,
                    "dashboard_address": dashboard,
                    "preload": ["compute.engine.lifeline"],
                }
            },
        }
        worker = {
            "cls": Nanny,
            "options": {"nthreads": threads_per_worker, "host": "127.0.0.1", "dashboard": False},
        }
        cluster = SpecCluster(
            scheduler=spec, workers={i: worker for i in range(n_workers)}, worker=worker
        )
    try:
        cluster.wait_for_workers(n_workers, timeout=timeout)
    except BaseException:
        # Half a cluster is no use: nothing of it may be left running.
        dispose(cluster)
        raise
    return cluster


def configured_address() -> str | None:
    """The scheduler address from ``DASK_SCHEDULER_ADDRESS`` or dask config, if any.

    The environment is read at call time, as well as the config Dask loaded at import, so
    that a variable set after ``import dask`` still counts.
    """
    # An empty value (``DASK_SCHEDULER_ADDRESS=``) means unset, as it does to a shell user.
    address = os.environ.get("DASK_SCHEDULER_ADDRESS")
    return address or dask.config.get("scheduler-address", None) or None


#: Dask's config keys for a client's TLS credentials, as environment variables.
TLS_ENV = (
    "DASK_DISTRIBUTED__COMM__TLS__CA_FILE",
    "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT",
    "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY",
)


def check_security(address: str) -> None:
    """Refuse, with a message that says what to set, a ``tls://`` address without a client
    certificate in Dask's config.

    distributed's ``Client`` takes its ``Security`` from config (as here, where none is
    passed); without a certificate it fails with "TLS expects a `ssl_context` argument",
    which names neither the setting nor the variable, and leaves a half-made client.

    Raises
    ------
    ValueError
        If ``address`` is ``tls://`` and no CA file and client certificate are configured.
    """
    if not address.startswith("tls://"):
        return
    if dask.config.get("distributed.client.security-loader", None):
        return  # the loader (e.g. a deployment's) provides the credentials
    if Security().get_connection_args("client")["ssl_context"] is None:
        raise ValueError(
            f"{address} needs TLS credentials, and Dask's config has none for a client: "
            "set distributed.comm.tls.ca-file, distributed.comm.tls.client.cert and "
            f"distributed.comm.tls.client.key (or {', '.join(TLS_ENV)})."
        )


#: Seconds between looks at a client's connection for a reconnection (see ReconnectWatch).
RECONNECT_POLL = 0.25


class ReconnectWatch:
    """Calls back each time a client reconnects, telling whether to a new scheduler.

    distributed's ``Client`` reconnects by itself when its scheduler comes back within
    its timeout, but only as a client: topic subscriptions (``subscribe_topic``) and
    worker plugins (``register_plugin``) are not sent again, and a restarted scheduler
    has none of them. Nor does it say that it reconnected: each connection has its own
    ``scheduler_comm``, each scheduler its own id, and a look at both tells. A watch
    looks every :data:`RECONNECT_POLL` seconds, and at once on :meth:`check`.

    Whoever needs to restore something after a reconnection owns a watch of its own: a
    watch is never kept on the client.

    Parameters
    ----------
    client : distributed.Client
        An asynchronous client; held weakly (a watch never keeps a closed client alive).
    """

    def __init__(self, client: Client):
        self._client = weakref.ref(client)
        self._callbacks: list = []
        self._comm = client.scheduler_comm
        self._scheduler = _scheduler_id(client)
        self._poll = PeriodicCallback(self._tick, RECONNECT_POLL * 1000)
        client.loop.add_callback(self._poll.start)

    def add(self, callback: Callable[[Client, bool], None]) -> None:
        """Call ``callback(client, new_scheduler)`` on each reconnection, on the client's
        loop. A bound method is held weakly (its object is not kept alive for it)."""
        held = weakref.WeakMethod(callback) if hasattr(callback, "__self__") else callback
        self._callbacks.append(held)

    def stop(self) -> None:
        """Stop looking."""
        self._poll.stop()

    def _tick(self) -> None:
        client = self._client()
        if client is None or client.status == "closed" or not self._callbacks:
            self._poll.stop()
            return
        self.check()

    def check(self) -> None:
        """Run the callbacks now if the client reconnected since the last look: before
        sending work, so that what they restore precedes it."""
        client = self._client()
        if client is None or client.status != "running":
            return
        comm, scheduler = client.scheduler_comm, _scheduler_id(client)
        if comm is self._comm and scheduler == self._scheduler:
            return
        new_scheduler = scheduler != self._scheduler
        self._comm, self._scheduler = comm, scheduler
        logger.info("reconnected to the Dask scheduler%s", " (restarted)" * new_scheduler)
        alive = []
        for held in self._callbacks:
            callback = held() if isinstance(held, weakref.WeakMethod) else held
            if callback is None:
                continue
            alive.append(held)
            try:
                callback(client, new_scheduler)
            except Exception:  # one listener's failure must not cost the others theirs
                logger.exception("a reconnection callback failed")
        self._callbacks = alive


def _scheduler_id(client: Client) -> str | None:
    return (client.scheduler_info() or {}).get("id")


class ClusterConnection:
    """A lazily created Dask client (and, if needed, local cluster) for one process.

    Parameters
    ----------
    address : str, optional
        Scheduler to connect to. Defaults to :func:`configured_address`; if that is unset
        too, a :func:`local_cluster` is started.
    n_workers : int, optional
        Worker processes of the local cluster (default: one per CPU).
    threads_per_worker : int
        Threads per local worker. One: CPU-bound single-threaded tasks (a numba kernel), so
        processes, not threads, share the cores.
    scheduler : str, optional
        Where a local cluster's scheduler runs: ``"process"`` or ``"thread"`` (see
        :func:`scheduler_place`).
    timeout : float
        Seconds to wait when connecting, and for a lost scheduler to come back before the
        client gives up (after which the next :meth:`client` call makes a new one).
    plugins : sequence of WorkerPlugin, optional
        Registered on every worker, including workers that join later, and again on a
        scheduler that restarted under the same client (see :class:`ReconnectWatch`): a
        domain's warm-up, for instance.
    restart_policy : RestartPolicy, optional
        When a local cluster is restarted (see :mod:`compute.engine.supervisor`); None:
        the policy's defaults. An external scheduler is never restarted.

    Examples
    --------
    >>> connection = ClusterConnection()          # doctest: +SKIP
    >>> client = await connection.client()        # doctest: +SKIP
    >>> await connection.close()                  # doctest: +SKIP
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        n_workers: int | None = None,
        threads_per_worker: int = 1,
        scheduler: str | None = None,
        timeout: float = 20.0,
        plugins=None,
        restart_policy: RestartPolicy | None = None,
    ):
        self.address = address
        self.scheduler = scheduler_place(scheduler)
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.timeout = timeout
        self.plugins = list(plugins or ())
        #: The local cluster, started if no scheduler address is given, and restarted.
        self.embedded = EmbeddedCluster(
            functools.partial(local_cluster, n_workers, threads_per_worker, self.scheduler),
            policy=restart_policy,
            restarted=self._revive,
        )
        self._listeners: list[Callable[[], None]] = []
        self._client: Client | None = None
        # Whether the scheduler of the client last asked serves the dashboard pages.
        self._pages_for: Client | None = None
        self._pages = False
        self._lock: asyncio.Lock | None = None
        # Plugin registrations and reconnections after a restart, held until they end.
        self._tasks: set[asyncio.Future] = set()
        self._watch: ReconnectWatch | None = None
        self._closed = False
        self._error: str | None = None

    @property
    def target(self) -> str | None:
        """The external scheduler address in use, or None for a local cluster."""
        return self.address or configured_address()

    @property
    def cluster(self) -> SpecCluster | LocalCluster | None:
        """The local cluster now running (a new one after each restart), if any."""
        return self.embedded.cluster

    @property
    def unavailable(self) -> str | None:
        """Why no work can be sent now, known without asking the cluster: the local
        cluster is lost, being restarted or waiting for its next try; None otherwise."""
        return self.embedded.unavailable

    @property
    def error(self) -> str | None:
        """Why the cluster cannot be used (None while it can, or nothing is known)."""
        return self.unavailable or self._error

    @error.setter
    def error(self, value: str | None) -> None:
        self._error = value

    @property
    def status(self) -> str:
        """One of :data:`STATES`. A client that reconnected to a local cluster whose
        restart has not finished (its workers not all back) is still ``reconnecting``."""
        if self._closed:
            return "closed"
        down = self.unavailable is not None
        if self._client is None:
            return "lost" if self.error else ("connecting" if self._lock else "idle")
        status = self._client.status
        if status == "running":
            return "reconnecting" if down else "connected"
        if status in ("connecting", "newly-created"):
            return "reconnecting"
        return "lost"

    def on_connected(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` on the client's loop each time the cluster can be used
        again: a new client, the same one reconnected, a local cluster restarted."""
        self._listeners.append(callback)

    def _tell_connected(self) -> None:
        for callback in list(self._listeners):
            try:
                callback()
            except Exception:  # one listener's failure must not cost the others theirs
                logger.exception("a listener of the connection failed")

    @property
    def dashboard_link(self) -> str | None:
        """The dashboard URL, honouring ``distributed.dashboard.link`` for proxied setups."""
        if self._client is None:
            return None
        try:
            return self._client.dashboard_link
        except Exception:  # the scheduler runs without a dashboard
            return None

    @property
    def dashboard_upstream(self) -> str | None:
        """``http://host:port`` of the scheduler's dashboard as this process reaches it
        (the scheduler's own host, the dashboard's port), or None without a dashboard.

        What a proxy in the server forwards to: unlike :attr:`dashboard_link`, which is
        for browsers, and which a browser elsewhere cannot reach.
        """
        if self._client is None:
            return None
        try:
            info = self._client.scheduler_info()
            port = info.get("services", {}).get("dashboard")
            address = self._client.scheduler.address  # e.g. tcp://10.0.0.5:8786
            host = urlsplit("//" + address.split("://", 1)[-1])
        except Exception:
            return None
        if not port or not host.hostname:
            return None
        hostname = f"[{host.hostname}]" if ":" in host.hostname else host.hostname
        return f"http://{hostname}:{port}"

    async def dashboard_pages(self) -> bool:
        """Whether the scheduler serves the dashboard's pages.

        A scheduler started without its dashboard (``dask scheduler --no-dashboard``)
        still answers HTTP on the dashboard's port, for its health and metrics: its
        ``dashboard_link`` would embed pages that are not there. Asked once per client
        (``/individual-plots.json``, which lists the pages); a dashboard this process
        cannot reach (proxied elsewhere) counts as there.
        """
        client, upstream = self._client, self.dashboard_upstream
        if upstream is None:
            return False
        if self._pages_for is client:
            return self._pages
        from tornado.httpclient import AsyncHTTPClient

        try:
            answer = await AsyncHTTPClient().fetch(
                f"{upstream}/individual-plots.json", raise_error=False, request_timeout=10
            )
            # Without the dashboard the list is empty ({}), or the route is missing.
            pages = answer.code != 404 and not (
                answer.code == 200 and answer.body.strip() == b"{}"
            )
        except OSError:
            pages = True
        self._pages_for, self._pages = client, pages
        return pages

    def prestart(self, *warm_ups: Callable[[], None]) -> None:
        """Start the local cluster (if one is needed), in a thread, now rather than when
        the first request needs it; ``warm_ups`` run first in the same thread (a
        domain's kernels compiled for work done in this process).

        Without a running event loop (a server warming up before it accepts connections,
        a script) it waits until both are ready; on an event loop it returns at once and
        :meth:`client` waits for the start to finish. Idempotent.
        """
        starting = self.embedded.prestart(*warm_ups, start=self.target is None)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if starting is not None:
                starting.exception()  # wait; a failure is raised again by client()

    async def client(self) -> Client:
        """The connected asynchronous client, creating or replacing it if needed.

        Raises
        ------
        OSError
            If the scheduler cannot be reached within ``timeout`` (the message names it).
        RuntimeError
            If the connection was closed.
        """
        if self._closed:
            raise RuntimeError("The cluster connection is closed.")
        if self.embedded.loop is None:
            self.embedded.loop = asyncio.get_running_loop()
        if self._client is not None and self._client.status in ("running", "connecting"):
            self._watch.check()
            return self._client
        if self.unavailable is not None:
            # Known lost: at once, not after a connection attempt's timeout.
            raise OSError(self.unavailable)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._client is not None and self._client.status in ("running", "connecting"):
                return self._client
            await self._discard_client()
            try:
                # In a context of its own: the client's tasks (its connection's, for as
                # long as it lives) would otherwise keep the caller's context variables,
                # in a served app the Document of whichever session asked first.
                self._client = await asyncio.get_running_loop().create_task(
                    self._connect(), context=contextvars.Context()
                )
            except Exception as exc:
                self.error = f"Cannot reach the Dask scheduler: {exc}"
                raise OSError(self.error) from exc
            self.error = None
            return self._client

    @property
    def _local_address(self) -> str | None:
        return None if self.cluster is None else self.cluster.scheduler_address

    async def _connect(self) -> Client:
        await self.embedded.prestarted()
        address = self.target
        if address is None:
            if self.unavailable is not None:
                raise OSError(self.unavailable)  # its supervisor restarts it
            # Started off-loop so as not to block it (it runs its own loop thread).
            cluster = await asyncio.to_thread(self.embedded.start)
            address = cluster.scheduler_address
        check_security(address)
        logger.info("connecting to the Dask scheduler at %s", address)
        client = await Client(
            address,
            asynchronous=True,
            timeout=self.timeout,
            set_as_default=False,
            # Our own workers are reachable: results come straight from them instead of
            # through the scheduler's process. An external cluster keeps Dask's setting
            # (its workers may be behind a network the scheduler bridges).
            direct_to_workers=True if address == self._local_address else None,
        )
        for plugin in self.plugins:
            await client.register_plugin(plugin)
        if self._watch is not None:
            self._watch.stop()
        self._watch = ReconnectWatch(client)
        self._watch.add(self._reconnected)
        # Told next: listeners that ask for the client wait for it on the lock.
        asyncio.get_running_loop().call_soon(self._tell_connected)
        return client

    def _reconnected(self, client: Client, new_scheduler: bool) -> None:
        # A restarted scheduler knows none of our plugins: without them again, workers
        # that join it are never warmed.
        if new_scheduler and self.plugins:
            self._hold(self._register_plugins(client))
        self._tell_connected()

    def _hold(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the local cluster's restarts ---------------------------------------------------------
    def _revive(self) -> None:
        """The local cluster restarted: a client still reconnecting finds it by itself; one
        that gave up (the restart took longer than its timeout) is made again now,
        whoever asks next."""
        if self._closed:
            return
        if self._client is not None and self._client.status == "running":
            self._watch.check()
            self._tell_connected()  # reconnected before the restart had finished
        elif self._client is None or self._client.status != "connecting":
            self._hold(self._connect_quietly())

    async def _connect_quietly(self) -> None:
        try:
            await self.client()
        except Exception as exc:  # whoever asks next tries again, and is told
            logger.warning("reconnecting to the restarted cluster failed: %s", exc)

    async def _register_plugins(self, client: Client) -> None:
        for plugin in self.plugins:
            try:
                await client.register_plugin(plugin)
            except Exception as exc:  # lost again: the next reconnection tries again
                logger.warning("registering %s again failed: %s", type(plugin).__name__, exc)

    async def _discard_client(self) -> None:
        client, self._client = self._client, None
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        if client is not None:
            try:
                await client.close()
            except Exception:  # already broken: nothing more to release
                logger.debug("closing a lost client failed", exc_info=True)

    async def close(self) -> None:
        """Close the client and the local cluster, if this connection started one."""
        self._closed = True
        await self._discard_client()
        # A cluster still starting would be left running: it is waited for, then closed.
        await asyncio.to_thread(self.embedded.close)
