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
cache or the store, or computed again, when a client asks for it. Its encodings (a PNG)
are kept apart, within their own bound (:mod:`compute.engine.encoded`).

Who may see a job: with authentication, the users who asked for it (its requesters,
whoever posted the same work: it is computed once for all of them) and nobody else, who
gets the same ``404`` as for an unknown id. Without authentication every client reads
every job, and an anonymous client lets go of a job with the token its ``POST`` returned
(``X-Job-Token``), so that clients behind one address never cancel each other's work.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass

import panel as pn
from tornado.iostream import StreamClosedError

from components.wiring import process_encoded, process_engine
from compute.engine import Job, JobRecord, LimitExceeded
from compute.engine.schema import OverBudget

from .base import MAX_WAIT, TOKEN_HEADER, ApiError, ApiHandler, registry

logger = logging.getLogger(__name__)

#: Jobs the API remembers by id, newest last (an ended one by its description only).
KEPT = 1000
#: Bytes of a result written to a connection at a time.
CHUNK = 2**20

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
    """The jobs asked for over HTTP in this process, by id (newest last): who asked for
    each (its requesters, kept as long as the job is) and who still wants it (its
    holders: users, anonymous clients' tokens); one per process, in Panel's cache
    (:func:`index`)."""

    def __init__(self):
        self._jobs: OrderedDict[str, Job | Ended] = OrderedDict()
        self._requesters: dict[str, set[str]] = {}
        self._holders: dict[str, set[str]] = {}

    def get(self, job_id: str) -> Job | Ended | None:
        return self._jobs.get(job_id)

    def requested_by(self, job_id: str, requester: str | None) -> bool:
        """Whether ``requester`` asked for ``job_id`` (None, an app without users: yes)."""
        return requester is None or requester in self._requesters.get(job_id, ())

    def holders(self, job_id: str) -> set[str]:
        """Who still wants ``job_id`` (see :meth:`ApiHandler.holder`)."""
        return set(self._holders.get(job_id, ()))

    def remember(self, job: Job, requester: str | None, holder: str) -> None:
        """``requester`` (None: anonymous) asked for ``job``, and ``holder`` wants it."""
        if requester is not None:
            self._requesters.setdefault(job.key, set()).add(requester)
        self._holders.setdefault(job.key, set()).add(holder)
        self._put(job)
        self._jobs.move_to_end(job.key)
        while len(self._jobs) > KEPT:
            key, _ = self._jobs.popitem(last=False)
            self._requesters.pop(key, None)
            self._holders.pop(key, None)

    def replace(self, job: Job) -> None:
        """Remember ``job`` for its key in place of the one known (asked for again)."""
        if job.key in self._jobs:
            self._put(job)

    def _put(self, job: Job) -> None:
        known = self._jobs.get(job.key)
        self._jobs[job.key] = job
        if job.done:
            self._ended(job)
        elif known is not job:
            job.when_final(self._ended)

    def _ended(self, job: Job) -> None:
        # Swapped in for the job as it ends, if the API still remembers it.
        if self._jobs.get(job.key) is job:
            self._jobs[job.key] = Ended(describe(job), job.record())

    def let_go(self, job_id: str, holder: str) -> set[str]:
        """``holder`` no longer wants ``job_id``: the others that still do."""
        others = self.holders(job_id) - {holder}
        self._holders[job_id] = others
        return others

    def listed(self, requester: str | None = None) -> list:
        """Every job ``requester`` asked for, newest first (None: every job)."""
        return [
            job for key, job in reversed(self._jobs.items()) if self.requested_by(key, requester)
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
        """The job ``job_id``: asked for in this process by this client (with
        authentication, one of its requesters), or one the store's history holds for it
        (after a restart, or from another server process), served from the store; 404
        otherwise, the same as for an id nobody knows."""
        job = index().get(job_id)
        if job is not None and index().requested_by(job_id, self.requester()):
            # A detached job lost with the cluster fails, and is asked for again by the
            # engine under the same key once the cluster is back: that one is the job now.
            holding = process_engine().current
            again = None if holding is None else holding.detached.get(job_id)
            if again is not None and again is not job and job.state == "failed":
                index().replace(again)
                return again
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

    async def submit(self, work, token: str | None = None) -> Job:
        """Ask for ``work``, detached, for this client (an anonymous one's hold by
        ``token``; without one, by a token nobody is given: it runs to its end)."""
        try:
            running = await registry()
        except ApiError:
            # The cluster is lost: a result kept in memory or in the store is still served.
            job = await process_engine().stored_result(work)
            if job is None:
                raise
        else:
            job = self.detach_job(running, work)
        if token is None and self.user is None:
            token = self.new_token()
        index().remember(job, self.requester(), self.holder(token))
        return job

    async def post_work(self, work) -> tuple[Job, dict]:
        """Ask for ``work`` as a new request: the job, and what its ``202`` says of how
        to find it (an anonymous client's token to let go of it, too)."""
        token = None if self.user is not None else self.new_token()
        job = await self.submit(work, token)
        body = {"id": job.key, "state": job.state, "links": links(job.key)}
        if token is not None:
            body["token"] = token
        return job, body

    async def send_when_done(self, job: Job | Ended, wait: float, extra=None) -> None:
        """Send ``job``'s result once it ends, or ``202`` and where it stands (with
        ``extra``) if ``wait`` seconds pass first; ``409`` if it ended without one."""
        if not job.done:
            try:
                await asyncio.wait_for(asyncio.shield(job.wait()), wait)
            except TimeoutError:
                self.send_json(202, {**describe(job), "error": None, **(extra or {})})
                return
        if job.state not in ("done", "cached"):
            raise ApiError(409, f"The job ended {job.state}: {job.error or 'no result'}.")
        await self.send_result(job)

    def asked_encoding(self, kind) -> tuple[str, dict[str, str]]:
        """The format (the kind's default without one) and display options asked for."""
        fmt = self.get_query_argument("format", None) or kind.formats[0]
        if fmt not in kind.formats:
            raise ApiError(400, f"format must be one of {', '.join(kind.formats)}, not {fmt!r}.")
        options = {
            name: self.get_query_argument(name)
            for name in sorted(self.request.arguments)
            if name not in ("format", "wait")
        }
        return fmt, options

    def kept_result(self, key: str, kind_name: str):
        """The kept encoding of job ``key``'s result as asked (media type, bytes), if any."""
        kind = process_engine().kinds[kind_name]
        fmt, options = self.asked_encoding(kind)
        kept = process_encoded().peek((key, fmt, tuple(options.items())))
        return kept

    async def send_result(self, job: Job) -> None:
        """``job``'s result as asked: its kept encoding, or one made now (once, whoever
        else asks meanwhile), charged to this client."""
        engine = process_engine()
        kind = engine.kinds[job.kind]
        fmt, options = self.asked_encoding(kind)
        payer = self.client_id()

        def charge() -> None:
            if payer is not None:
                engine.ledger.take(payer, kind.encode_cost(job, fmt))

        try:
            encoded = await process_encoded().get(
                (job.key, fmt, tuple(options.items())),
                lambda: kind.encode(job, fmt, options),
                charge=charge,
            )
        except LimitExceeded as exc:
            raise self.too_much(exc) from None
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        await self.send_bytes(*encoded)

    async def send_bytes(self, media: str, data: bytes) -> None:
        """``data`` as the answer, a slice at a time: each connection holds one slice in
        its buffers, not a copy of the whole (six clients of a 128 MiB ``.npy`` would
        hold six)."""
        self.set_header("Content-Type", media)
        self.set_header("Content-Length", str(len(data)))
        view = memoryview(data)
        try:
            for start in range(0, len(data), CHUNK):
                self.write(bytes(view[start : start + CHUNK]))
                await self.flush()
        except StreamClosedError:
            return  # the client went away: nothing more to send it
        self.finish()


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
        # With authentication, the jobs the user asked for; without, every client's.
        jobs = [describe(job) for job in index().listed(self.requester())]
        self.send_json(200, {"jobs": jobs[:100]})

    async def post(self) -> None:
        body = self.json_body()
        if not isinstance(body, dict):
            raise ApiError(400, 'The body must be an object: {"kind": ..., "params": {...}}.')
        unknown = sorted(set(body) - {"kind", "params"})
        if unknown:
            raise ApiError(400, f"Unknown field(s): {', '.join(unknown)}.")
        kind = public_kind(body.get("kind"))
        _, answer = await self.post_work(requested(kind, body.get("params", {})))
        self.send_json(202, answer)


class JobHandler(JobApi):
    async def get(self, job_id: str) -> None:
        self.send_json(200, describe(await self.find(job_id)))

    async def delete(self, job_id: str) -> None:
        job = await self.find(job_id)
        if job.done:
            self.send_json(200, describe(job))
            return
        holder = self.holder()
        if self.user is None and holder not in index().holders(job.key):
            # An anonymous client without its job's token: it may not let go of it.
            raise ApiError(
                403, f"Letting go of this job needs the token its POST returned ({TOKEN_HEADER})."
            )
        # (The registry that holds it, without connecting: a session's hold is known there.)
        holding = process_engine().current
        if holding is not None and holding.holders(job):
            raise ApiError(409, "A session of the app still wants this job: it goes on.")
        if index().let_go(job.key, holder):
            # Another client asked for it too: this one no longer does; it goes on.
            raise ApiError(409, "Another client still wants this job: it goes on.")
        (await registry()).cancel(job)
        self.send_json(200, describe(job))


class ResultHandler(JobApi):
    async def get(self, job_id: str) -> None:
        wait = self.wait(default=0.0)
        job = await self.find(job_id)
        kept = job.done and job.state in ("done", "cached") and self.kept_result(job.key, job.kind)
        if kept:
            await self.send_bytes(*kept)
            return
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
