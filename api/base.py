"""What every route of the API shares: JSON in and out, errors included, the app's
authentication, who pays, and the process's engine."""

from __future__ import annotations

import json
import math
from http import HTTPStatus

from bokeh.server.views.auth_request_handler import AuthRequestHandler

from components.wiring import process_engine, user_name
from compute.engine import EngineUnavailable, Job, JobRegistry, LimitExceeded, consumer

#: The longest a request waits for a result before answering 202.
MAX_WAIT = 30.0
#: The largest request body read, in bytes.
MAX_BODY = 64 * 1024


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


class ApiHandler(AuthRequestHandler):
    """JSON in and out, errors included; the app's authentication.

    Every handler is Bokeh's ``AuthRequestHandler``: with Panel's authentication on
    (``--basic-auth``, OAuth), a request without a user gets ``401``, as the app's pages
    do. An error is ``{"error": ..., "status": ...}``, never a traceback.
    """

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
        """Who pays for what this request starts (compute.engine.limits): a user's requests
        and sessions share one allowance; an anonymous client is its address."""
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
        """The request's body as JSON (a 413 over :data:`MAX_BODY`, a 400 if no JSON)."""
        if len(self.request.body) > MAX_BODY:
            raise ApiError(413, f"The request body is over {MAX_BODY} bytes.")
        try:
            return json.loads(self.request.body or b"null", parse_constant=no_constant)
        except ValueError as exc:
            raise ApiError(400, f"The body is not valid JSON: {exc}") from None

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
            extra = {"cap": exc.cap, "retry_after": exc.retry_after}
            if exc.retry_after is not None:
                self.set_header("Retry-After", str(math.ceil(exc.retry_after)))
            raise ApiError(429, str(exc), **extra) from None
