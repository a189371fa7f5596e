"""The job API, generic over kinds of work.

Any kind registered with the process's engine that opts in to HTTP (``Work.http``: a
frame, a movie, an app's own computation) is asked for, polled, listed, fetched and
cancelled here, with no edit to this module. Function calls and delayed graphs never
opt in: that would run a client's code on the cluster.

* ``GET /api/kinds``: each kind's name, the JSON Schema of its parameters, its formats
* ``POST /api/jobs`` ``{"kind": ..., "params": {...}}`` -> ``202``
* ``GET /api/jobs``, ``GET /api/jobs/{id}``, ``DELETE /api/jobs/{id}``
* ``GET /api/jobs/{id}/result?format=...`` (the kind's formats, its default first; its
  display options in the query): ``202`` while the job runs, or after ``wait`` seconds
  (default 0)

A job asked for over HTTP is detached: it runs to completion unless it is deleted. The
API remembers a job that ended by its description (:class:`Ended`), not its result:
results stay in memory only in the engine's bounded cache. One is read again from the
cache or the store, or computed again, when a client asks for it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass

import panel as pn

from components.wiring import process_engine
from compute.engine import Job, JobRecord
from compute.engine.schema import OverBudget

from .base import MAX_WAIT, ApiError, ApiHandler, registry

logger = logging.getLogger(__name__)

#: Jobs the API remembers by id, newest last (an ended one by its description only).
KEPT = 1000

_INDEX_KEY = "fractal-explorer:api-jobs"


@dataclass
class Ended:
    """What the API remembers of a job that ended: how it ended, not its result.

    A finished job holds its result (a 1024x1024 frame is 8 MiB, a movie its videos):
    a thousand of them held by id would keep gigabytes beyond the result cache's bound,
    which is the one place results stay in memory. Its result is asked of the engine
    again when a client wants it: from the cache or the store at once, else computed anew.
    """

    description: dict
    record: JobRecord

    @property
    def key(self) -> str:
        return self.record.key

    @property
    def kind(self) -> str:
        return self.record.kind

    @property
    def state(self) -> str:
        return self.record.state

    @property
    def done(self) -> bool:
        return True

    @property
    def error(self) -> str | None:
        return self.record.error


def links(job_id: str) -> dict:
    return {"self": f"/api/jobs/{job_id}", "result": f"/api/jobs/{job_id}/result"}


def describe(job: Job | Ended) -> dict:
    """A job as ``GET /api/jobs/{id}`` shows it."""
    if isinstance(job, Ended):
        return job.description
    return {
        **job.record().to_dict(),
        "id": job.key,
        "progress": job.progress,
        "description": job.describe(),
        "links": links(job.key),
    }


class ApiJobs:
    """The jobs asked for over HTTP in this process, by id (newest last), and which
    clients asked for each; one per process, in Panel's cache (:func:`index`)."""

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


def index() -> ApiJobs:
    """The process's jobs asked for over HTTP: Panel's cache, not module state."""
    return pn.state.as_cached(_INDEX_KEY, ApiJobs)


def _history(store, owner: str | None) -> list:
    try:
        return store.history(owner=owner)
    except Exception as exc:  # an unreachable store: only this process's jobs are known
        logger.warning("reading the job history from %r failed: %s", store, exc)
        return []


def public_kind(name):
    """The kind named ``name`` that clients may ask for; a 400 naming those there are."""
    kinds = process_engine().kinds
    kind = kinds.get(name)
    if kind is None or not kind.http:
        known = ", ".join(json.dumps(k.kind) for k in kinds.public)
        raise ApiError(400, f"kind must be one of {known}, not {json.dumps(name)}.")
    return kind


def requested(kind, params):
    """``kind``'s work from a client's JSON ``params`` (400, or 413 over a budget)."""
    try:
        return kind.from_params(params)
    except OverBudget as exc:
        raise ApiError(413, str(exc)) from None
    except (ValueError, TypeError) as exc:
        raise ApiError(400, str(exc)) from None


class JobApi(ApiHandler):
    """Finding, asking for and serving jobs, for every route of the job API."""

    async def find(self, job_id: str) -> Job | Ended:
        """The job ``job_id``: asked for in this process, or one the store's history holds
        (after a restart, or from another server process), served from the store."""
        job = index().get(job_id)
        if job is not None:
            return job
        engine = process_engine()
        store = engine.store
        records = [] if store is None else await asyncio.to_thread(_history, store, self.user)
        for record in reversed(records):
            kind = engine.kinds.get(record.kind)
            # Only kinds open to clients; calls and graphs are never asked for again.
            if record.key == job_id and kind is not None and kind.http:
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

    async def submit(self, work) -> Job:
        """Ask for ``work``, detached, for this client."""
        job = self.detach_job(await registry(), work)
        index().remember(job, self.client_id())
        return job

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
        """``job``'s result in the asked format (the kind's default without one)."""
        kind = process_engine().kinds[job.kind]
        fmt = self.get_query_argument("format", None) or kind.formats[0]
        if fmt not in kind.formats:
            raise ApiError(400, f"format must be one of {', '.join(kind.formats)}, not {fmt!r}.")
        options = {
            name: self.get_query_argument(name)
            for name in self.request.arguments
            if name not in ("format", "wait")
        }
        try:
            media, data = await asyncio.to_thread(kind.encode, job, fmt, options)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        self.set_header("Content-Type", media)
        self.finish(data)


class KindsHandler(JobApi):
    async def get(self) -> None:
        kinds = [
            {
                "kind": kind.kind,
                "summary": (kind.__doc__ or "").strip().split("\n")[0],
                "parameters": kind.parameters(),
                "formats": list(kind.formats),
            }
            for kind in process_engine().kinds.public
        ]
        self.send_json(200, {"kinds": kinds})


class JobsHandler(JobApi):
    async def get(self) -> None:
        # With authentication, a user's own jobs; without, every client's.
        mine = self.client_id() if self.user is not None else None
        jobs = [describe(job) for job in index().listed(mine)]
        self.send_json(200, {"jobs": jobs[:100]})

    async def post(self) -> None:
        body = self.json_body()
        if not isinstance(body, dict):
            raise ApiError(400, 'The body must be an object: {"kind": ..., "params": {...}}.')
        unknown = sorted(set(body) - {"kind", "params"})
        if unknown:
            raise ApiError(400, f"Unknown field(s): {', '.join(unknown)}.")
        kind = public_kind(body.get("kind"))
        job = await self.submit(requested(kind, body.get("params", {})))
        self.send_json(202, {"id": job.key, "state": job.state, "links": links(job.key)})


class JobHandler(JobApi):
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
        if index().let_go(job.key, self.client_id()):
            # Another client asked for it too: this one no longer does; it goes on.
            raise ApiError(409, "Another client still wants this job: it goes on.")
        (await registry()).cancel(job)
        self.send_json(200, describe(job))


class ResultHandler(JobApi):
    async def get(self, job_id: str) -> None:
        wait = self.wait(default=0.0)
        job = await self.find(job_id)
        if isinstance(job, Ended) and job.state in ("done", "cached"):
            # Read again from the cache or the store at once, or computed again: then
            # it is this request's to wait for (the next one might miss the cache too).
            job, wait = await self.again(job), MAX_WAIT
        await self.send_when_done(job, wait)


ROUTES = [
    (r"/api/kinds", KindsHandler),
    (r"/api/jobs", JobsHandler),
    (r"/api/jobs/([A-Za-z0-9_-]{1,128})", JobHandler),
    (r"/api/jobs/([A-Za-z0-9_-]{1,128})/result", ResultHandler),
]
