"""Process wiring: the one engine per server process, its start, users, closed tabs.

Nothing here is a component: it is what a Panel server process (its pages, its HTTP
routes) shares, kept in Panel's own process-wide cache (``pn.state.cache``), never in a
module global, and what Panel's session machinery needs around it.
"""

from __future__ import annotations

import json
import logging

import panel as pn
from tornado.ioloop import IOLoop

from compute.engine import Engine
from compute.engine.allocator import pin_mmap_threshold
from compute.engine.encoded import EncodedResults
from compute.engine.limits import consumer
from compute.fractal import fractal_engine_from_env
from compute.fractal.kernels import warm_up
from compute.fractal.setup import ENV_PREFIX

logger = logging.getLogger(__name__)

_ENGINE_KEY = "fractal-explorer:engine"
_ENCODED_KEY = "fractal-explorer:encoded"


def process_engine() -> Engine:
    """The process's engine, shared by every session and HTTP request (``pn.state.cache``).

    Made on first use from the environment (``DASK_SCHEDULER_ADDRESS``,
    ``FRACTAL_STORE``, ... see :func:`compute.fractal.fractal_engine_from_env`), not at
    import; :func:`prestart` starts its cluster early.
    """
    return pn.state.as_cached(_ENGINE_KEY, fractal_engine_from_env)


def process_encoded() -> EncodedResults:
    """The process's encoded results (PNGs, ``.npy`` files served), shared by every HTTP
    request (``pn.state.cache``); bounded by ``FRACTAL_ENCODED_MAX_BYTES``."""
    return pn.state.as_cached(_ENCODED_KEY, EncodedResults.from_env, prefix=ENV_PREFIX)


def forget_engine() -> Engine | None:
    """Take the process's engine out of Panel's cache (to close it); None if none was made."""
    # pn.state.as_cached keys its entries by (key, keyword arguments), and keeps each
    # value with its expiry time.
    entry = pn.state.cache.pop((_ENGINE_KEY,), None)
    return None if entry is None else entry[0]


def prestart() -> None:
    """Start the process's cluster, warm its kernels and connect its client now, before
    any session asks; pin the allocator's mmap threshold.

    Called by ``app.py`` as it is first executed: with ``panel serve --warm`` (as
    ``make serve`` runs it) that is before the server accepts its first connection, so
    nothing is spawned, compiled or connected in a user's path. Idempotent and quick
    afterwards.
    """
    # Frames are megabyte buffers made and dropped all the time: given back to the
    # system as they are freed, not kept in glibc's arenas (see compute.engine.allocator).
    pin_mmap_threshold()
    engine = process_engine()
    # Previews computed in this process (see RenderSession) use the same kernels.
    engine.prestart(warm_up)
    # The client lives on the server's event loop: connect as soon as it runs (at once,
    # if it already does). IOLoop.current() is that loop, before and after it starts.
    IOLoop.current().add_callback(_connect, engine)


async def _connect(engine: Engine) -> None:
    try:
        await engine.client()
    except Exception as exc:  # the first session retries and reports it
        logger.warning("connecting to the cluster at start failed: %s", exc)


def user_name(user) -> str | None:
    """The name of a logged-in ``user`` as Panel's auth hands it over (a page's
    ``pn.state.user``, an authenticated request handler's ``current_user``); None without
    one. A user named ``default_user`` is a user: whether the app has authentication at
    all is the handler's to tell (see ``api.base.ApiHandler.user``)."""
    if not user:
        return None
    return user if isinstance(user, str) else json.dumps(user)


def current_user() -> str | None:
    """The user Panel's authentication logged in (``pn.state.user``); None without it."""
    return user_name(pn.state.user)


def session_payer(user: str | None) -> str | None:
    """Who pays for the work a page's session starts (see :func:`consumer`): the user, or
    the anonymous tab's address, which every tab and API client from it shares (a new tab
    gets no new allowance); a notebook (no served document) is its cluster's only user,
    uncapped."""
    doc = served_document()
    if doc is None:
        return None
    # The address Tornado saw: the client's own, or with --use-xheaders the one a proxy
    # put in X-Forwarded-For (see docs/security.md).
    request = doc.session_context.request
    address = getattr(request, "remote_ip", None) if request is not None else None
    return consumer(user=user, address=address or "unknown")


def served_document():
    """The served document of the session being built, or None (a notebook)."""
    doc = pn.state.curdoc
    return doc if doc is not None and doc.session_context is not None else None


def tab_closed(doc) -> bool:
    """Whether ``doc``'s tab is gone: its session has no connection left.

    Bokeh discards a session only after --unused-session-lifetime (15 s by default) plus
    up to --check-unused-sessions (17 s); its websocket closes at once. A session
    without a connection is a closed tab: Bokeh offers no reconnection to the same
    session, a reloaded page is a new session.
    """
    context = doc.session_context if doc is not None else None
    # Bokeh keeps the server session on its context only: no public accessor for it.
    session = getattr(context, "_session", None)
    return session is not None and session.connection_count == 0


def forget_session(doc, viewable=None) -> None:
    """Drop what Panel 1.9 keeps of a destroyed session: its widgets' links and its views.

    Panel keeps the links of every widget ever linked (the editable sliders' input
    boxes) in ``Callback.registry``, a WeakKeyDictionary whose values hold their keys:
    the widgets, their config and every explorer of a closed tab were never freed. And
    it keeps a destroyed session's NotificationArea in ``state._views``, with the
    session's Document: every Bokeh model of the page and the data they hold.
    """
    if viewable is not None:
        registry = pn.links.Callback.registry
        for obj in viewable.__panel__().select():
            registry.pop(obj, None)
    if doc is None:
        return
    # Panel's own registry of views has no public way to drop a destroyed session's.
    views = pn.state._views  # noqa: SLF001
    for ref, view in list(views.items()):
        if view[2] is doc:
            del views[ref]
