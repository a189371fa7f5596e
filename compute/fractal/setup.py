"""The fractal on the engine: its kinds, its cost unit, its store's defaults, its engine.

Everything the generic engine needs from this domain, in one place:

* the kinds of work: a frame (:class:`~compute.fractal.frame.FrameWork`), a zoom
  movie (:class:`~compute.fractal.movie.MovieSpec`) and a deep frame
  (:class:`~compute.fractal.deep.DeepFrameWork`);
* the cost unit of the caps: pixel-iterations (:data:`PIXEL_ITERATIONS`);
* a worker plugin that compiles the kernels on every worker
  (:class:`~compute.fractal.plugins.KernelWarmup`);
* the environment's names (``FRACTAL_STORE``, ``FRACTAL_CACHE_MAX_BYTES``,
  ``FRACTAL_MAX_JOBS``, ...) and the store's default place (the user's cache directory's
  ``fractal-explorer/store``).

Examples
--------
>>> engine = fractal_engine()                 # doctest: +SKIP
>>> manager = await engine.manager()          # doctest: +SKIP
>>> frame = await manager.submit(FractalConfig()).result()  # doctest: +SKIP
"""

from __future__ import annotations

from ..engine.cache import ResultCache
from ..engine.calls import with_builtins
from ..engine.cluster import ClusterConnection
from ..engine.engine import Engine
from ..engine.limits import CostUnit, Ledger, Limits, env_names
from ..engine.registry import JobRegistry
from ..engine.store import ResultStore
from .config import PIXEL_BUDGET
from .frame import FrameWork
from .movie import MovieSpec
from .plugins import KernelWarmup

#: The fractal's environment variables start with this.
ENV_PREFIX = "FRACTAL_"
#: The kinds of work of the fractal, registered with its engine.
KINDS = (FrameWork, MovieSpec)

#: What the caps count: pixel-iterations. Sixteen worst-case frames a minute: one user
#: exploring never meets it; a script asking for heavy frames in a loop does, within a
#: minute.
PIXEL_ITERATIONS = CostUnit(
    name="pixel_iterations",
    words="pixel-iterations",
    per_minute=16 * PIXEL_BUDGET,
    hint="Lower max_iter or the resolution.",
    sooner="a lower max_iter or resolution",
    scale=1e9,
    scale_word="billion",
)
_CAPS = env_names(ENV_PREFIX, PIXEL_ITERATIONS)
#: Environment variables of the caps (``0`` or ``off``: no such cap).
JOBS_ENV, BACKGROUND_ENV, PIXEL_ITERATIONS_ENV = _CAPS["jobs"], _CAPS["background"], _CAPS["cost"]


class FrameStore(ResultStore):
    """The fractal's store: ``FRACTAL_STORE``, in ``fractal-explorer``'s cache directory.

    Examples
    --------
    >>> store = FrameStore("/tmp/fractals", max_bytes=2**30)   # doctest: +SKIP
    >>> store.put(config.key, frame)                          # doctest: +SKIP
    >>> store.get(config.key, shape=frame.shape)              # doctest: +SKIP
    """

    ENV_PREFIX = ENV_PREFIX
    APP_NAME = "fractal-explorer"
    NOT_SAVING = "Frames and history are not being saved"
    INTERRUPTED = (
        "The server stopped while it ran. Ask for it again (a movie resumes from the "
        "frames it had finished)."
    )


class FrameCache(ResultCache):
    """The fractal's memory cache: bounded by ``FRACTAL_CACHE_MAX_BYTES``."""

    ENV_PREFIX = ENV_PREFIX


def fractal_limits(environ=None) -> Limits:
    """The caps from ``FRACTAL_MAX_JOBS``, ``FRACTAL_MAX_BACKGROUND_JOBS`` and
    ``FRACTAL_MAX_PIXEL_ITERATIONS_PER_MINUTE`` (see :meth:`Limits.from_env`)."""
    return Limits.from_env(environ, prefix=ENV_PREFIX, unit=PIXEL_ITERATIONS)


def fractal_registry(
    client,
    *,
    store: ResultStore | None = None,
    cache: ResultCache | None = None,
    limits: Limits | None = None,
) -> JobRegistry:
    """A job registry for the fractal's kinds on a client of your own (a test's, a
    benchmark's): what an engine makes for its client, without the engine's connection.
    Close it (``registry.close()``) before the client."""
    return JobRegistry(
        client,
        cache if cache is not None else FrameCache.from_env(),
        store,
        ledger=Ledger(limits if limits is not None else fractal_limits()),
        kinds=with_builtins(*KINDS),
    )


def fractal_connection(address: str | None = None, **options) -> ClusterConnection:
    """A cluster connection whose workers compile the kernels as they start (see
    :class:`~compute.engine.cluster.ClusterConnection` for ``options``)."""
    options.setdefault("plugins", [KernelWarmup()])
    return ClusterConnection(address, **options)


def fractal_engine(
    connection: ClusterConnection | None = None,
    *,
    store: ResultStore | None = None,
    cache: ResultCache | None = None,
    limits: Limits | None = None,
) -> Engine:
    """An engine for the fractal's kinds (a notebook's, a script's, a test's).

    Parameters
    ----------
    connection : ClusterConnection, optional
        Defaults to :func:`fractal_connection` (``DASK_SCHEDULER_ADDRESS`` or an
        embedded local cluster).
    store : ResultStore, optional
        Where frames and the history persist; None: in memory only.
    cache : ResultCache, optional
        Defaults to a :class:`FrameCache` from the environment.
    limits : Limits, optional
        Defaults to :func:`fractal_limits` (the environment's caps).
    """
    return Engine(
        connection if connection is not None else fractal_connection(),
        store=store,
        cache=cache if cache is not None else FrameCache.from_env(),
        limits=limits if limits is not None else fractal_limits(),
        kinds=KINDS,
    )


def fractal_engine_from_env() -> Engine:
    """The engine of a server process, every setting from the environment (see
    :meth:`Engine.from_env`, with the prefix ``FRACTAL_``)."""
    return Engine.from_env(
        prefix=ENV_PREFIX,
        kinds=KINDS,
        plugins=[KernelWarmup()],
        unit=PIXEL_ITERATIONS,
        store=FrameStore,
        cache=FrameCache,
    )
