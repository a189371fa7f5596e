"""The one place that knows how to reach Dask.

``DASK_SCHEDULER_ADDRESS`` (Dask's own convention, also read as the dask config key
``scheduler-address``) points at an existing scheduler: the dask CLI, Coiled,
dask-jobqueue, Kubernetes. Without it, a ``LocalCluster`` of worker processes bound to
127.0.0.1 starts on first use. Either way the process gets one asynchronous client,
created lazily on the event loop that asks for it, and replaced if the cluster is lost.
"""

from __future__ import annotations

import asyncio
import logging
import os

import dask
from distributed import Client, LocalCluster

from .diagnostics import KernelWarmup

logger = logging.getLogger(__name__)

#: Connection states, as a front end should present them.
STATES = ("idle", "connecting", "connected", "reconnecting", "lost", "closed")


def configured_address() -> str | None:
    """The scheduler address from ``DASK_SCHEDULER_ADDRESS`` or dask config, if any.

    The environment is read at call time, as well as the config Dask loaded at import, so
    that a variable set after ``import dask`` still counts.
    """
    # An empty value (``DASK_SCHEDULER_ADDRESS=``) means unset, as it does to a shell user.
    address = os.environ.get("DASK_SCHEDULER_ADDRESS")
    return address or dask.config.get("scheduler-address", None) or None


class ClusterConnection:
    """A lazily created Dask client (and, if needed, local cluster) for one process.

    Parameters
    ----------
    address : str, optional
        Scheduler to connect to. Defaults to :func:`configured_address`; if that is unset
        too, a ``LocalCluster`` is started.
    n_workers : int, optional
        Worker processes of the local cluster (default: one per CPU).
    threads_per_worker : int
        Threads per local worker. One: the kernel is single-threaded and CPU bound, so
        processes, not threads, share the cores.
    timeout : float
        Seconds to wait when connecting, and for a lost scheduler to come back before the
        client gives up (after which the next :meth:`client` call makes a new one).
    plugins : sequence of WorkerPlugin, optional
        Registered on every worker, including workers that join later. Defaults to
        :class:`~compute.diagnostics.KernelWarmup`.

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
        timeout: float = 20.0,
        plugins=None,
    ):
        self.address = address
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.timeout = timeout
        self.plugins = list(plugins) if plugins is not None else [KernelWarmup()]
        self.cluster: LocalCluster | None = None
        self._client: Client | None = None
        self._lock: asyncio.Lock | None = None
        self._closed = False
        self.error: str | None = None

    @property
    def target(self) -> str | None:
        """The external scheduler address in use, or None for a local cluster."""
        return self.address or configured_address()

    @property
    def status(self) -> str:
        """One of :data:`STATES`."""
        if self._closed:
            return "closed"
        if self._client is None:
            return "lost" if self.error else ("connecting" if self._lock else "idle")
        status = self._client.status
        if status == "running":
            return "connected"
        if status in ("connecting", "newly-created"):
            return "reconnecting"
        return "lost"

    @property
    def dashboard_link(self) -> str | None:
        """The dashboard URL, honouring ``distributed.dashboard.link`` for proxied setups."""
        if self._client is None:
            return None
        try:
            return self._client.dashboard_link
        except Exception:  # the scheduler runs without a dashboard
            return None

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
        if self._client is not None and self._client.status in ("running", "connecting"):
            return self._client
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._client is not None and self._client.status in ("running", "connecting"):
                return self._client
            await self._discard_client()
            try:
                self._client = await self._connect()
            except Exception as exc:
                self.error = f"Cannot reach the Dask scheduler: {exc}"
                raise OSError(self.error) from exc
            self.error = None
            return self._client

    async def _connect(self) -> Client:
        address = self.target
        if address is None:
            if self.cluster is None or self.cluster.status.name in ("closed", "failed"):
                # A synchronous LocalCluster runs its own event loop in a thread, so it
                # outlives any one caller's loop; started off-loop so as not to block it.
                self.cluster = await asyncio.to_thread(
                    LocalCluster,
                    n_workers=self.n_workers,
                    threads_per_worker=self.threads_per_worker,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",
                )
            address = self.cluster.scheduler_address
        logger.info("connecting to the Dask scheduler at %s", address)
        client = await Client(
            address, asynchronous=True, timeout=self.timeout, set_as_default=False
        )
        for plugin in self.plugins:
            await client.register_plugin(plugin)
        return client

    async def _discard_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.close()
            except Exception:  # already broken: nothing more to release
                logger.debug("closing a lost client failed", exc_info=True)

    async def close(self) -> None:
        """Close the client and the local cluster, if this connection started one."""
        self._closed = True
        await self._discard_client()
        cluster, self.cluster = self.cluster, None
        if cluster is not None:
            await asyncio.to_thread(cluster.close)
