"""The HTTP API, served by the app's own server: ``panel serve app.py --plugins api``.

Panel imports this module before the server's event loop runs and adds its ``ROUTES``
to the Tornado application, so nothing here connects or computes at import: the engine
(its cluster connection, store and job registry) is the app's own
(:func:`components.wiring.process_engine`), found on the first request. The API never
computes a frame or a movie in the server's process: it asks the engine for jobs
(detached: a job asked for over HTTP runs to completion unless it is deleted) and
serves what they produce.

Every handler is Bokeh's ``AuthRequestHandler``: with Panel's authentication on
(``--basic-auth``, OAuth), a request without a user gets ``401``, as the app's pages do.

Routes (all JSON, errors included: ``{"error": ..., "status": ...}``, never a traceback):

* ``POST /api/jobs`` ``{"kind": "frame"|"movie", "params": {...}}`` -> ``202``
* ``GET /api/jobs``, ``GET /api/jobs/{id}``, ``DELETE /api/jobs/{id}``
* ``GET /api/jobs/{id}/result`` (a frame as PNG, ``?format=npy`` for values, display
  parameters ``colormap`` and ``normalization`` in the query; a movie as MP4,
  ``?format=gif|webp``): ``202`` while the job runs, or after ``wait`` seconds (default
  0, at most :data:`MAX_WAIT`)
* ``GET /api/frame.png?<the app's URL query>``: waits up to ``wait`` seconds (default
  10, at most :data:`MAX_WAIT`), then ``202`` with the job's links.

Results stay in the server's memory only in the engine's result cache (bounded by
``FRACTAL_CACHE_MAX_BYTES``): the API remembers a job that ended by its description
(:class:`Ended`). Its result is read again from the cache or the store; one evicted
from both is computed again, and that request waits up to :data:`MAX_WAIT` for it.

And the scheduler's dashboard through the app's own origin, ``/dask-dashboard/...``
(HTTP and WebSocket, as jupyter-server-proxy does for Jupyter): the embedded dashboard
then works for every browser that can open the app, also when the scheduler's port
cannot be reached from it (a remote scheduler, a container).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
from collections import OrderedDict
from dataclasses import dataclass
from http import HTTPStatus

import numpy as np
import panel as pn
import param
import tornado.httpclient
import tornado.websocket
from bokeh.server.views.auth_request_handler import AuthRequestHandler

from components.dashboard import PROXY_KEY
from components.wiring import process_engine, user_name
from compute.engine import EngineUnavailable, Job, JobRecord, JobRegistry, LimitExceeded, consumer
from compute.fractal import COLORMAPS, NORMALIZATIONS, FractalConfig, MovieSpec, to_png
from compute.fractal.video import FORMATS, MEDIA_TYPES

logger = logging.getLogger(__name__)

#: The longest ``GET /api/frame.png`` waits for a frame before answering 202.
MAX_WAIT = 30.0
#: Jobs the API remembers by id, newest last (an ended one by its description only).
KEPT = 1000
#: The largest request body read, in bytes.
MAX_BODY = 64 * 1024

_INDEX_KEY = "fractal-explorer:api-jobs"


class ApiError(Exception):
    """An answer other than success: its HTTP status and a message for the client."""

    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


@dataclass
class Ended:
    """What the API remembers of a job that ended: how it ended, not its result.

    A finished job holds its result (a 1024x1024 frame is 8 MiB, a movie its videos):
    a thousand of them held by id would keep gigabytes beyond the result cache's bound
    (:class:`~compute.FrameCache`), which is the one place results stay in memory. Its
    result is asked of the engine again when a client wants it (:meth:`again`): from the
    cache or the store at once, else computed anew.
    """

    description: dict
    record: JobRecord

    @property
    def key(self) -> str:
        return self.record.key

    @property
    def state(self) -> str:
        return self.record.state

    @property
    def done(self) -> bool:
        return True

    @property
    def error(self) -> str | None:
        return self.record.error


class ApiJobs:
    """The jobs asked for over HTTP in this process, by id (newest last), and which
    clients asked for each; one per process, in Panel's cache (:func:`_jobs`)."""

    def __init__(self):
        self._jobs: OrderedDict[str, Job | Ended] = OrderedDict()
        self._clients: dict[str, set[str]] = {}

    def get(self, job_id: str) -> Job | Ended | None:
        return self._jobs.get(job_id)

    def clients(self, job_id: str) -> set[str]:
        """The clients (see :meth:`ApiHandler.client_id`) that asked for ``job_id``."""
        return set(self._clients.get(job_id, ()))

    def remember(self, job: Job, client: str) -> None:
        """``client`` asked for ``job``."""
        self._clients.setdefault(job.key, set()).add(client)
        known = self._jobs.get(job.key)
        self._jobs[job.key] = job
        self._jobs.move_to_end(job.key)
        if job.done:
            self._ended(job)
        elif known is not job:
            job.when_final(self._ended)
        while len(self._jobs) > KEPT:
            key, _ = self._jobs.popitem(last=False)
            self._clients.pop(key, None)

    def _ended(self, job: Job) -> None:
        # Swapped in for the job as it ends, if the API still remembers it.
        if self._jobs.get(job.key) is job:
            self._jobs[job.key] = Ended(describe(job), job.record())

    def let_go(self, job_id: str, client: str) -> set[str]:
        """``client`` no longer wants ``job_id``: the other clients that still do."""
        others = self.clients(job_id) - {client}
        if others:
            self._clients[job_id] = others
        return others

    def listed(self, client: str | None = None) -> list:
        """Every job newest first (``client``'s only, if given)."""
        return [
            job
            for key, job in reversed(self._jobs.items())
            if client is None or client in self._clients.get(key, ())
        ]


def _jobs() -> ApiJobs:
    # The process's jobs asked for over HTTP, by id: Panel's cache, not module state.
    return pn.state.as_cached(_INDEX_KEY, ApiJobs)


def links(job_id: str) -> dict:
    return {"self": f"/api/jobs/{job_id}", "result": f"/api/jobs/{job_id}/result"}


def describe(job: Job | Ended) -> dict:
    """A job as ``GET /api/jobs/{id}`` shows it."""
    if isinstance(job, Ended):
        return job.description
    record = job.record().to_dict()
    return {
        **record,
        "id": job.key,
        "progress": job.progress,
        "description": job.describe(),
        "links": links(job.key),
    }


async def _registry() -> JobRegistry:
    try:
        return await process_engine().registry()
    except EngineUnavailable as exc:
        if exc.lost:
            raise ApiError(503, exc.error or "The Dask cluster is not connected.") from None
        raise ApiError(503, f"The Dask cluster cannot be reached: {exc}") from None


def _history(store, owner: str | None) -> list:
    try:
        return store.history(owner=owner)
    except Exception as exc:  # an unreachable store: only this process's jobs are known
        logger.warning("reading the job history from %r failed: %s", store, exc)
        return []


def _finite(value, name: str):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(400, f"{name} must be a number, not {json.dumps(value)}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise ApiError(400, f"{name} must be finite, not {value}.")
    return value


def _config(params) -> FractalConfig:
    """A validated config from JSON values; every failure is a 400 (413 over budget)."""
    if not isinstance(params, dict):
        raise ApiError(400, "params must be an object of the config's parameters.")
    unknown = sorted(set(params) - set(FractalConfig.param) | ({"name"} & set(params)))
    if unknown:
        raise ApiError(400, f"Unknown parameter(s): {', '.join(map(str, unknown))}.")
    values = {}
    for name, value in params.items():
        # By kind, not by class name: the config's parameters are its own subclasses.
        declared = FractalConfig.param[name]
        if isinstance(declared, param.Number):
            value = _finite(value, name)
            integer = isinstance(declared, param.Integer)
            if integer and not (isinstance(value, int) or float(value).is_integer()):
                raise ApiError(400, f"{name} must be an integer, not {value}.")
            value = int(value) if integer else value
        elif isinstance(declared, param.Range):
            if not isinstance(value, list | tuple) or len(value) != 2:
                raise ApiError(400, f"{name} must be a pair [lo, hi], not {json.dumps(value)}.")
            value = tuple(_finite(v, name) for v in value)
        elif not isinstance(value, str):
            raise ApiError(400, f"{name} must be a string, not {json.dumps(value)}.")
        values[name] = value
    try:
        return FractalConfig(**values)
    except (ValueError, TypeError) as exc:
        # Each value valid but all of them over the pixel budget: too large, not wrong.
        raise ApiError(413 if "over the budget" in str(exc) else 400, str(exc)) from None


def _movie(params) -> MovieSpec:
    if not isinstance(params, dict):
        raise ApiError(400, "params must be an object of the movie's parameters.")
    values = dict(params)
    for view in ("start", "end"):
        if view in values:
            values[view] = _config(values[view])
    unknown = sorted(set(values) - set(MovieSpec.param) | ({"name"} & set(values)))
    if unknown:
        raise ApiError(400, f"Unknown movie parameter(s): {', '.join(map(str, unknown))}.")
    for name in ("frames", "fps", "width", "height"):
        if name in values:
            value = _finite(values[name], name)
            if not float(value).is_integer():
                raise ApiError(400, f"{name} must be an integer, not {value}.")
            values[name] = int(value)
    try:
        return MovieSpec(**values)
    except (ValueError, TypeError) as exc:
        status = 413 if "budget" in str(exc) or "Mpx" in str(exc) else 400
        raise ApiError(status, str(exc)) from None


def _query_config(arguments: dict) -> FractalConfig:
    """The config of an app URL query (values as JSON, selector names as text)."""
    params = {}
    for name, raw in arguments.items():
        if name in ("wait", "format"):
            continue
        text = raw[-1].decode(errors="replace")
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        params[name] = value
    return _config(params)


class ApiHandler(AuthRequestHandler):
    """JSON in and out, errors included; the app's authentication."""

    def check_xsrf_cookie(self) -> None:  # an API for programs: no browser form posts
        pass

    async def prepare(self) -> None:
        await super().prepare()
        if not self.current_user:
            raise ApiError(401, "Authentication required.")

    @property
    def user(self) -> str | None:
        """The authenticated user's name; None without authentication."""
        return user_name(self.current_user)

    def client_id(self) -> str:
        """Who pays for what this request starts (compute.limits): a user's requests and
        sessions share one allowance; an anonymous client is its address."""
        return consumer(user=self.user, address=self.request.remote_ip)

    def send_json(self, status: int, body) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))

    def _handle_request_exception(self, exc: BaseException) -> None:
        if isinstance(exc, ApiError):
            self.send_json(exc.status, {"error": exc.message, "status": exc.status, **exc.extra})
            return
        super()._handle_request_exception(exc)

    def write_error(self, status_code: int, **kwargs) -> None:
        # Anything that is not an ApiError (a bug): logged by Tornado, never shown.
        reason = (
            HTTPStatus(status_code).phrase if status_code in HTTPStatus._value2member_map_ else ""
        )
        self.send_json(status_code, {"error": reason or "Error", "status": status_code})

    async def find(self, job_id: str) -> Job | Ended:
        """The job ``job_id``: asked for in this process, or one the store's history holds
        (after a restart, or from another server process), served from the store."""
        job = _jobs().get(job_id)
        if job is not None:
            return job
        engine = process_engine()
        store = engine.store
        records = [] if store is None else await asyncio.to_thread(_history, store, self.user)
        for record in reversed(records):
            # Calls and graphs have no description to ask for again: never restored.
            if record.key == job_id and record.config is not None and record.kind in engine.kinds:
                try:
                    work = engine.kinds.restore(record)
                except ValueError:
                    break
                return await self.submit(work)
        raise ApiError(404, f"No job {job_id!r}.")

    async def again(self, ended: Ended) -> Job:
        """The job of an ended job's work again: its result from the cache or the store,
        else computing it anew (charged as new work)."""
        try:
            work = process_engine().kinds.restore(ended.record)
        except ValueError:
            raise ApiError(410, f"The result of job {ended.key!r} is no longer kept.") from None
        return await self.submit(work)

    def detach_job(self, registry: JobRegistry, work) -> Job:
        # (Not "detach": Tornado's RequestHandler.detach hands the stream over.)
        try:
            return registry.detach_for(work, owner=self.user, payer=self.client_id())
        except LimitExceeded as exc:
            extra = {"cap": exc.cap, "retry_after": exc.retry_after}
            if exc.retry_after is not None:
                self.set_header("Retry-After", str(math.ceil(exc.retry_after)))
            raise ApiError(429, str(exc), **extra) from None

    async def submit(self, work) -> Job:
        registry = await self._registry()
        job = self.detach_job(registry, work)
        _jobs().remember(job, self.client_id())
        return job

    async def _registry(self) -> JobRegistry:
        return await _registry()


class JobsHandler(ApiHandler):
    async def get(self) -> None:
        # With authentication, a user's own jobs; without, every client's.
        mine = self.client_id() if self.user is not None else None
        jobs = [describe(job) for job in _jobs().listed(mine)]
        self.send_json(200, {"jobs": jobs[:100]})

    async def post(self) -> None:
        if len(self.request.body) > MAX_BODY:
            raise ApiError(413, f"The request body is over {MAX_BODY} bytes.")
        try:
            body = json.loads(self.request.body or b"null", parse_constant=_no_constant)
        except ValueError as exc:
            raise ApiError(400, f"The body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(400, 'The body must be an object: {"kind": ..., "params": {...}}.')
        unknown = sorted(set(body) - {"kind", "params"})
        if unknown:
            raise ApiError(400, f"Unknown field(s): {', '.join(unknown)}.")
        kind, params = body.get("kind"), body.get("params", {})
        if kind == "frame":
            work = _config(params)
        elif kind == "movie":
            work = _movie(params)
        else:
            raise ApiError(400, f'kind must be "frame" or "movie", not {json.dumps(kind)}.')
        job = await self.submit(work)
        self.send_json(202, {"id": job.key, "state": job.state, "links": links(job.key)})


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


class JobHandler(ApiHandler):
    async def get(self, job_id: str) -> None:
        self.send_json(200, describe(await self.find(job_id)))

    async def delete(self, job_id: str) -> None:
        job = await self.find(job_id)
        if job.done:
            self.send_json(200, describe(job))
            return
        # (The registry that holds it, without connecting: a session's hold is known there.)
        holding = process_engine().current
        if holding is not None and holding.holders(job):
            raise ApiError(409, "A session of the app still wants this job: it goes on.")
        if _jobs().let_go(job.key, self.client_id()):
            # Another client asked for it too: this one no longer does; it goes on.
            raise ApiError(409, "Another client still wants this job: it goes on.")
        registry = await self._registry()
        registry.cancel(job)
        self.send_json(200, describe(job))


class ResultHandler(ApiHandler):
    async def get(self, job_id: str) -> None:
        wait = self.wait(default=0.0)
        job = await self.find(job_id)
        if isinstance(job, Ended) and job.state in ("done", "cached"):
            # Read again from the cache or the store at once, or computed again: then
            # it is this request's to wait for (the next one might miss the cache too).
            job, wait = await self.again(job), MAX_WAIT
        await self.send_when_done(job, wait)

    def wait(self, default: float) -> float:
        """The ``wait`` query argument: seconds, at most :data:`MAX_WAIT`."""
        text = self.get_query_argument("wait", None)
        if text is None:
            return default
        try:
            wait = float(text)
        except ValueError:
            raise ApiError(400, f"wait must be a number of seconds, not {text!r}.") from None
        if not math.isfinite(wait):
            raise ApiError(400, "wait must be finite.")
        return min(max(wait, 0.0), MAX_WAIT)

    async def send_when_done(self, job: Job | Ended, wait: float) -> None:
        """Send ``job``'s result once it ends, or ``202`` and where it stands if ``wait``
        seconds pass first; ``409`` if it ended without one."""
        if not job.done:
            try:
                await asyncio.wait_for(asyncio.shield(job.wait()), wait)
            except TimeoutError:
                self.send_json(202, {**describe(job), "error": None})
                return
        if job.state not in ("done", "cached"):
            raise ApiError(409, f"The job ended {job.state}: {job.error or 'no result'}.")
        await self.send_result(job)

    async def send_result(self, job: Job) -> None:
        fmt = self.get_query_argument("format", None)
        if job.kind == "movie":
            fmt = fmt or "mp4"
            if fmt not in FORMATS:
                raise ApiError(400, f"format must be one of {', '.join(FORMATS)}, not {fmt!r}.")
            self.set_header("Content-Type", MEDIA_TYPES[fmt])
            self.finish(job.movie.data(fmt))
            return
        frame = job.frame
        if fmt == "npy":
            buffer = io.BytesIO()
            await asyncio.to_thread(np.save, buffer, frame, allow_pickle=False)
            self.set_header("Content-Type", "application/octet-stream")
            self.finish(buffer.getvalue())
            return
        if fmt not in (None, "png"):
            raise ApiError(400, f"format must be png or npy, not {fmt!r}.")
        colormap = self.get_query_argument("colormap", job.config.colormap)
        normalization = self.get_query_argument("normalization", job.config.normalization)
        if colormap not in COLORMAPS:
            raise ApiError(400, f"Unknown colormap {colormap!r}.")
        if normalization not in NORMALIZATIONS:
            raise ApiError(400, f"Unknown normalization {normalization!r}.")
        png = await asyncio.to_thread(to_png, frame, colormap, normalization)
        self.set_header("Content-Type", "image/png")
        self.finish(png)


class FramePngHandler(ResultHandler):
    async def get(self) -> None:
        wait = self.wait(default=10.0)
        config = _query_config(
            {k: v for k, v in self.request.arguments.items() if k not in DISPLAY}
        )
        # How it is to be shown is checked before any work: a bad colormap found only
        # when the frame is served would have cost the cluster the frame.
        fmt = self.get_query_argument("format", None)
        if fmt not in (None, "png", "npy"):
            raise ApiError(400, f"format must be png or npy, not {fmt!r}.")
        for name, known in (("colormap", COLORMAPS), ("normalization", NORMALIZATIONS)):
            value = self.get_query_argument(name, None)
            if value is not None and value not in known:
                raise ApiError(400, f"Unknown {name} {value!r}.")
        await self.send_when_done(await self.submit(config), wait)


DISPLAY = ("colormap", "normalization", "wait", "format")


# -- the dashboard, proxied --------------------------------------------------------------------
#: Where the proxy serves the scheduler's dashboard, on the app's own origin.
DASHBOARD_PREFIX = "/dask-dashboard"
#: Response headers passed on from the dashboard (hop-by-hop ones are not).
_PASSED = ("Content-Type", "Cache-Control", "ETag", "Last-Modified", "Location")


async def _upstream() -> str:
    connection = process_engine().connection
    try:
        await connection.client()
    except Exception as exc:
        raise ApiError(503, f"The Dask cluster cannot be reached: {exc}") from None
    upstream = connection.dashboard_upstream
    if upstream is None:
        raise ApiError(404, "The Dask scheduler runs without a dashboard.")
    return upstream


class DashboardPage(ApiHandler):
    """A page (or script, or image) of the scheduler's dashboard, fetched by the server."""

    async def get(self, path: str) -> None:
        upstream = await _upstream()
        query = f"?{self.request.query}" if self.request.query else ""
        try:
            answer = await tornado.httpclient.AsyncHTTPClient().fetch(
                f"{upstream}/{path}{query}",
                raise_error=False,
                follow_redirects=False,
                request_timeout=30,
            )
        except OSError as exc:
            raise ApiError(502, f"The Dask dashboard did not answer: {exc}") from None
        if answer.code == 599:
            raise ApiError(502, f"The Dask dashboard did not answer: {answer.error}")
        self.set_status(answer.code)
        for name in _PASSED:
            if name in answer.headers:
                self.set_header(name, answer.headers[name])
        self.finish(answer.body or b"")


class DashboardSocket(ApiHandler, tornado.websocket.WebSocketHandler):
    """A dashboard page's Bokeh websocket, relayed message by message both ways."""

    _upstream_socket: tornado.websocket.WebSocketClientConnection | None = None
    _protocols: list[str] = []  # noqa: RUF012 (set per connection, in select_subprotocol)

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        # Bokeh sends its session token as a second subprotocol: passed on as asked.
        self._protocols = list(subprotocols)
        return subprotocols[0] if subprotocols else None

    async def open(self, path: str) -> None:
        try:
            upstream = await _upstream()
        except ApiError as exc:
            self.close(1011, exc.message[:120])
            return
        query = f"?{self.request.query}" if self.request.query else ""
        url = f"ws{upstream[len('http') :]}/{path}/ws{query}"
        try:
            self._upstream_socket = await tornado.websocket.websocket_connect(
                url,
                subprotocols=self._protocols or None,
                on_message_callback=self._from_dashboard,
                max_message_size=64 * 2**20,
            )
        except OSError as exc:
            self.close(1011, f"The Dask dashboard did not answer: {exc}"[:120])

    def on_message(self, message) -> None:
        if self._upstream_socket is not None:
            self._upstream_socket.write_message(message, binary=isinstance(message, bytes))

    def _from_dashboard(self, message) -> None:
        if message is None:  # the dashboard closed (a restarted scheduler)
            self.close()
            return
        try:
            self.write_message(message, binary=isinstance(message, bytes))
        except tornado.websocket.WebSocketClosedError:
            self._close_upstream()

    def on_close(self) -> None:
        self._close_upstream()

    def _close_upstream(self) -> None:
        upstream, self._upstream_socket = self._upstream_socket, None
        if upstream is not None:
            upstream.close()


# The app's sessions embed the dashboard through this proxy when it is served (Panel
# imports plugins before any session is built): announced in Panel's cache.
pn.state.cache[PROXY_KEY] = DASHBOARD_PREFIX

ROUTES = [
    (r"/api/jobs", JobsHandler),
    (r"/api/jobs/([A-Za-z0-9_-]{1,128})", JobHandler),
    (r"/api/jobs/([A-Za-z0-9_-]{1,128})/result", ResultHandler),
    (r"/api/frame\.png", FramePngHandler),
    (rf"{DASHBOARD_PREFIX}/(.+)/ws", DashboardSocket),
    (rf"{DASHBOARD_PREFIX}/(.*)", DashboardPage),
]
