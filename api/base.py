"""What every route of the API shares: JSON in and out, errors included, the app's
authentication, the refusal of cross-site requests, who pays, and the process's engine.

See ``docs/security.md`` for the model these checks implement.
"""

from __future__ import annotations

import json
import math
import secrets
from http import HTTPStatus
from urllib.parse import urlsplit

from bokeh.server.views.auth_request_handler import AuthRequestHandler

from components.wiring import process_engine, user_name
from compute.engine import EngineUnavailable, Job, JobRegistry, LimitExceeded, consumer

#: The longest a request waits for a result before answering 202.
MAX_WAIT = 30.0
#: The largest request body read, in bytes.
MAX_BODY = 64 * 1024
#: The deepest nesting of arrays and objects a request body may have.
MAX_DEPTH = 32
#: The header an anonymous client sends its job's token in (see ApiHandler.holder).
TOKEN_HEADER = "X-Job-Token"


class ApiError(Exception):
    """An answer other than success: its HTTP status and a message for the client."""

    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def registry() -> JobRegistry:
    """The process's job registry; 503 while the cluster cannot be reached."""
    try:
        return await process_engine().registry()
    except EngineUnavailable as exc:
        if exc.lost:
            raise ApiError(503, exc.error or "The Dask cluster is not connected.") from None
        raise ApiError(503, f"The Dask cluster cannot be reached: {exc}") from None


def no_constant(name: str):
    """For ``json.loads``: NaN and Infinity are no JSON numbers."""
    raise ValueError(f"{name} is not a JSON number")


def depth(value) -> int:
    """How deeply ``value``'s arrays and objects nest (0 for a scalar), without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, level)
        pending.extend((child, level + 1) for child in item)
    return deepest


class ApiHandler(AuthRequestHandler):
    """JSON in and out, errors included; the app's authentication.

    Every handler is Bokeh's ``AuthRequestHandler``: with Panel's authentication on
    (``--basic-auth``, OAuth), a request without a user gets ``401``, as the app's pages
    do. A request a browser sends for another site's page (see :meth:`cross_site`) gets
    ``403``. An error is ``{"error": ..., "status": ...}``, never a traceback; every
    answer says ``nosniff``.
    """

    def check_xsrf_cookie(self) -> None:
        # Tornado's own XSRF cookie would break Panel's login form and program clients;
        # prepare() refuses cross-site requests by the headers browsers send instead.
        pass

    def set_default_headers(self) -> None:
        # A browser must not guess another type than the one served (a PNG as HTML).
        self.set_header("X-Content-Type-Options", "nosniff")

    async def prepare(self) -> None:
        await super().prepare()
        if not self.current_user:
            raise ApiError(401, "Authentication required.")
        why = self.cross_site()
        if why:
            raise ApiError(403, f"Refused: {why} The API serves its own origin and programs.")

    def cross_site(self) -> str | None:
        """Why this request comes from another site's page, or None.

        A browser says where a request comes from: ``Sec-Fetch-Site`` (``cross-site``,
        ``same-site`` for another port or subdomain) and, for anything but a plain
        navigation or a same-origin ``GET``, ``Origin``. A page of another site could
        otherwise start, cancel or read work with the user's cookie (a form, a no-cors
        ``fetch``, an ``<img>``), or on an anonymous server spend its visitors'
        allowance. A program sends neither header and is not refused.
        """
        headers = self.request.headers
        site = headers.get("Sec-Fetch-Site")
        if site in ("cross-site", "same-site"):
            return f"a request from another site's page (Sec-Fetch-Site: {site})."
        origin = headers.get("Origin")
        # The host alone: behind a proxy that ends TLS the scheme seen here may differ
        # from the browser's; another scheme on this host is told by Sec-Fetch-Site.
        if origin is not None and urlsplit(origin).netloc != self.request.host:
            return f"a request from the page of another origin ({origin})."
        return None

    @property
    def authenticated(self) -> bool:
        """Whether the app has authentication (Panel's ``--basic-auth``, OAuth)."""
        provider = self.application.auth_provider
        return provider.get_user is not None or provider.get_user_async is not None

    @property
    def user(self) -> str | None:
        """The authenticated user's name; None without authentication."""
        # Without authentication Bokeh names everyone "default_user": no one. With it, a
        # user of that name is a user like any other.
        return user_name(self.current_user) if self.authenticated else None

    def requester(self) -> str | None:
        """Who asks, as a job's requesters are recorded: ``user:<name>``; None for an
        anonymous client (an app without authentication reads every job)."""
        return None if self.user is None else f"user:{self.user}"

    def holder(self, token: str | None = None) -> str:
        """Who wants a job this request asks for or lets go: the user, or for an anonymous
        client the token its job came with (``token``, else the request's
        :data:`TOKEN_HEADER`). Two anonymous clients on one address never let go of each
        other's work."""
        if self.user is not None:
            return f"user:{self.user}"
        token = token or self.request.headers.get(TOKEN_HEADER, "")
        return f"token:{token}"

    @staticmethod
    def new_token() -> str:
        """A token for an anonymous client's job: what letting go of it requires."""
        return secrets.token_urlsafe(16)

    def client_id(self) -> str:
        """Who pays for what this request starts (compute.engine.limits): a user's requests
        and sessions share one allowance; an anonymous client's is its address's, shared
        with the app's tabs from there (with ``--use-xheaders``, the address a proxy put
        in ``X-Forwarded-For``)."""
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
        self.send_json(status_code, {"error": _phrase(status_code), "status": status_code})

    def json_body(self):
        """The request's body as JSON: a 415 unless sent as ``application/json`` (what no
        HTML form can send), a 413 over :data:`MAX_BODY`, a 400 if it is no JSON or nests
        deeper than :data:`MAX_DEPTH`."""
        media = self.request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if media != "application/json":
            raise ApiError(
                415, "The body must be JSON, sent with 'Content-Type: application/json'."
            )
        if len(self.request.body) > MAX_BODY:
            raise ApiError(413, f"The request body is over {MAX_BODY} bytes.")
        try:
            body = json.loads(self.request.body or b"null", parse_constant=no_constant)
        except RecursionError:
            body = None
        except ValueError as exc:
            raise ApiError(400, f"The body is not valid JSON: {exc}") from None
        else:
            if depth(body) <= MAX_DEPTH:
                return body
        raise ApiError(400, f"The body nests deeper than {MAX_DEPTH} levels.")

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

    def detach_job(self, registry: JobRegistry, work) -> Job:
        """Run ``work`` detached for this client (429 over its caps)."""
        # (Not "detach": Tornado's RequestHandler.detach hands the stream over.)
        try:
            return registry.detach_for(work, owner=self.user, payer=self.client_id())
        except LimitExceeded as exc:
            raise self.too_much(exc) from None

    def too_much(self, exc: LimitExceeded) -> ApiError:
        """A ``429`` for a request over its payer's caps, with ``Retry-After`` if waiting
        alone helps."""
        if exc.retry_after is not None:
            self.set_header("Retry-After", str(math.ceil(exc.retry_after)))
        return ApiError(429, str(exc), cap=exc.cap, retry_after=exc.retry_after)


class NotFound(ApiHandler):
    """Any other path under ``/api/``, an id its route does not take included: a JSON
    ``404``, as every answer of the API is JSON (Tornado's own is an HTML page)."""

    async def prepare(self) -> None:
        await super().prepare()
        raise ApiError(404, f"Nothing is served at {self.request.path}.")


#: Last among the API's routes: what no other route took.
FALLBACK_ROUTES = [(r"/api/.*", NotFound)]
