"""``GET /readiness``: whether this server can send work to its Dask cluster now.

Panel's ``--liveness`` (``/liveness``) says that the process serves; readiness says
whether it can compute: ``200`` while the cluster is connected, ``503`` while it cannot
be reached (lost, reconnecting, an embedded cluster restarting), each with
``{"ready": ..., "status": ..., "error": ...}``. It answers from the engine's cached
state (:meth:`~compute.engine.engine.Engine.readiness`), never waiting for the cluster:
a probe must not hang on what it probes.

Unauthenticated, unlike the API's routes: an orchestrator's probe (Kubernetes' kubelet,
a load balancer's health check) carries no user's credentials, and with Panel's
authentication on, a probe answered ``401`` or a redirect to a login page would keep the
server out of rotation for good. It tells no more than whether the cluster is reachable
and why not (the connection's own words, as the app's banner shows them).
"""

from __future__ import annotations

import json

from tornado.web import RequestHandler

from components.wiring import prestart, process_engine


class ReadinessHandler(RequestHandler):
    """``GET /readiness``: ``200`` ready, ``503`` not (yet); JSON either way."""

    def get(self) -> None:
        engine = process_engine()
        if engine.connection.status == "idle":
            # Nothing asked for the cluster yet (a server started without --warm that no
            # page visited): a probe that waits for a page would wait for ever.
            prestart()
        state = engine.readiness()
        self.set_status(200 if state["ready"] else 503)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(state))

    def head(self) -> None:
        self.get()


ROUTES = [(r"/readiness", ReadinessHandler)]
