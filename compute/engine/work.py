"""Kinds of work: what a registry can run as a job, and the table of kinds an engine knows.

A kind of work is a subclass of :class:`Work`, defined in one module and registered with
an engine (:class:`Kinds`, ``Engine(kinds=[...])``). It says everything the engine needs
and nothing the engine must know about its domain:

* its **name** (:attr:`Work.kind`) and its deterministic **key**;
* how it is **described** as JSON values and made again from them
  (:meth:`Work.to_dict`, :meth:`Work.from_dict`): what history records keep, and what
  restores a request from one;
* what it **costs**, in units the engine treats as opaque (the caps of
  :mod:`compute.engine.limits` count them);
* its **job** (how its parts are counted and named) and its **driver** (how its tasks
  are submitted and its parts collected);
* its result's **codec** (how a result is kept in a store), or None;
* whether clients may ask for it over HTTP (:attr:`Work.http`), and if so the JSON
  schema of its parameters, how it is made from a client's JSON values and how its
  result is served (:meth:`Work.parameters`, :meth:`Work.from_params`,
  :meth:`Work.encode`).

The engine ships two kinds, a function call and a graph of ``dask.delayed`` objects
(:mod:`compute.engine.calls`); a domain adds its own without editing the engine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

import param

from .schema import from_json, json_schema

if TYPE_CHECKING:
    from .codecs import Codec
    from .driver import Driver
    from .job import Job
    from .records import JobRecord
    from .registry import JobRegistry

#: Characters allowed in a job key (it names files in a store).
KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
#: What a kind's name may be.
_KIND = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def checked_key(key: str) -> str:
    """``key`` if it can name a job (and a file in a store); else ``ValueError``."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise ValueError(
            f"A job key is 1-128 letters, digits, '_' or '-' starting with a letter or "
            f"digit, not {key!r}."
        )
    return key


class Work:
    """Something a registry can run as a job. Subclass it to add a kind of work.

    Attributes
    ----------
    kind : str
        The kind's name, unique among those registered with an engine.
    key : str
        Deterministic: equal requests have equal keys, in every process.
    cost : float
        What starting it costs its payer, in the engine's opaque cost unit (see
        :class:`~compute.engine.limits.CostUnit`); 0 for work of unknown cost.
    background : bool
        Whether, detached, it counts among its payer's background jobs (long work), as
        well as among its jobs in flight.
    http : bool
        Whether clients may ask for it over HTTP. A kind opts in; calls and graphs never
        do (that would run a client's code on the cluster).
    formats : tuple of str
        The formats :meth:`encode` serves its result in, the default first.
    """

    kind: ClassVar[str] = ""
    background: ClassVar[bool] = True
    http: ClassVar[bool] = False
    formats: ClassVar[tuple[str, ...]] = ("json",)
    key: str
    cost: float = 0.0

    # -- what a subclass defines -------------------------------------------------------------
    def job(self) -> Job:  # pragma: no cover (interface)
        """A fresh job for this work (queued)."""
        raise NotImplementedError

    def driver(self, job: Job, registry: JobRegistry) -> Driver:  # pragma: no cover
        """The driver that runs ``job`` on ``registry``'s client."""
        raise NotImplementedError

    @property
    def codec(self) -> Codec | None:
        """How its result is kept in a store; None: it is not kept."""
        return None

    def to_dict(self) -> dict | None:
        """JSON values that :meth:`from_dict` makes this work from again; None if it
        cannot be asked for from a description (a call: its function is code).

        By default, for a kind that is a ``param.Parameterized``: its parameters' values.
        """
        if isinstance(self, param.Parameterized):
            return {
                name: list(value) if isinstance(value, tuple) else value
                for name, value in self.param.values().items()
                if name != "name"
            }
        return None

    @classmethod
    def from_dict(cls, values: dict) -> Work:
        """The work ``values`` describes (see :meth:`to_dict`).

        Raises
        ------
        ValueError
            If the values do not describe valid work of this kind.
        """
        if issubclass(cls, param.Parameterized):
            return from_json(cls, values, f"a {cls.kind}'s")
        raise ValueError(f"A {cls.kind} job cannot be restored from a description.")

    # -- over HTTP (for kinds with http = True) --------------------------------------------
    @classmethod
    def parameters(cls) -> dict:
        """The JSON Schema of what :meth:`from_params` takes: by default the parameters of
        the kind itself, when it is a ``param.Parameterized``."""
        if issubclass(cls, param.Parameterized):
            return json_schema(cls)
        return {"type": "object"}

    @classmethod
    def from_params(cls, params) -> Work:
        """The work a client's JSON ``params`` ask for: by default read against the kind's
        own parameters (see :func:`~compute.engine.schema.from_json`).

        Raises
        ------
        ValueError
            Naming what is wrong (HTTP 400).
        OverBudget
            (A ValueError.) Valid values, too costly together (HTTP 413).
        """
        if issubclass(cls, param.Parameterized):
            return from_json(cls, params, f"a {cls.kind}'s")
        return cls.from_dict(params)

    @classmethod
    def encode(cls, job: Job, fmt: str, options: dict[str, str]) -> tuple[str, bytes]:
        """``job``'s result in ``fmt`` (one of :attr:`formats`), as ``(media type, bytes)``,
        with display ``options`` from the request's query. Runs in a thread.

        By default the result as JSON.

        Raises
        ------
        ValueError
            For an option the kind does not take (HTTP 400).
        """
        return "application/json", json.dumps(job.value).encode()

    @classmethod
    def encode_cost(cls, job: Job, fmt: str) -> float:
        """What :meth:`encode` costs the server, in the cost unit (see
        :mod:`compute.engine.limits`): charged to the client whose request encodes it
        (one not kept, see :mod:`compute.engine.encoded`), as work on the cluster is.
        0 by default: a result that is served as it is."""
        return 0.0

    @classmethod
    def accepts(cls, obj) -> bool:
        """Whether ``submit(obj, ...)`` means work of this kind (see :meth:`of`)."""
        return False

    @classmethod
    def of(cls, obj, args: tuple, kwargs: dict, key: str | None) -> Work:
        """The work ``submit(obj, *args, key=key, **kwargs)`` asks for (``obj`` accepted)."""
        if args or kwargs or key is not None:
            raise TypeError(f"{type(obj).__name__} takes no further arguments here")
        return obj


class Kinds:
    """The kinds of work an engine knows, by name.

    Registration is explicit (:meth:`register`): a kind is one class, and adding one
    needs no edit anywhere else. When ``submit`` is given an object that is not
    :class:`Work` itself, the kinds registered last are asked first whether they accept
    it (:meth:`Work.accepts`), so that a domain's kinds come before the engine's
    catch-all function call.

    Parameters
    ----------
    kinds : iterable of Work subclasses
        Registered in order.
    """

    def __init__(self, kinds: Iterable[type[Work]] = ()):
        self._kinds: dict[str, type[Work]] = {}
        for kind in kinds:
            self.register(kind)

    def register(self, kind: type[Work]) -> type[Work]:
        """Add ``kind`` (a :class:`Work` subclass); returns it, so it can decorate a class.

        Raises
        ------
        ValueError
            If its name is not a lowercase identifier, or another class has it.
        """
        if not (isinstance(kind, type) and issubclass(kind, Work)):
            raise TypeError(f"A kind of work is a subclass of Work, not {kind!r}.")
        name = kind.kind
        if not isinstance(name, str) or not _KIND.fullmatch(name):
            raise ValueError(f"{kind.__name__}.kind must be a lowercase name, not {name!r}.")
        known = self._kinds.get(name)
        if known is not None and known is not kind:
            raise ValueError(f"Another kind is named {name!r}: {known.__qualname__}.")
        self._kinds[name] = kind
        return kind

    def __contains__(self, name: str) -> bool:
        return name in self._kinds

    def __getitem__(self, name: str) -> type[Work]:
        return self._kinds[name]

    def get(self, name, default=None) -> type[Work] | None:
        """The kind named ``name`` (any JSON value a client sent), or ``default``."""
        return self._kinds.get(name, default) if isinstance(name, str) else default

    @property
    def public(self) -> list[type[Work]]:
        """The kinds clients may ask for over HTTP, in registration order."""
        return [kind for kind in self._kinds.values() if kind.http]

    def __iter__(self):
        return iter(self._kinds.values())

    @property
    def names(self) -> list[str]:
        """The registered kinds' names, in registration order."""
        return list(self._kinds)

    def work(self, obj, args: tuple = (), kwargs: dict | None = None, key: str | None = None):
        """``obj`` (with a call's arguments) as :class:`Work` of a registered kind.

        Raises
        ------
        TypeError
            If no registered kind accepts ``obj``, or it takes no such arguments.
        """
        kwargs = kwargs or {}
        if isinstance(obj, Work):
            known = self._kinds.get(obj.kind)
            if known is None or not isinstance(obj, known):
                raise TypeError(
                    f"{type(obj).__name__} is work of a kind not registered here "
                    f"({obj.kind!r}): register it with the engine (Engine(kinds=[...]))."
                )
            return Work.of(obj, args, kwargs, key)
        for kind in reversed(self._kinds.values()):
            if kind.accepts(obj):
                return kind.of(obj, args, kwargs, key)
        raise TypeError(
            f"No kind of work takes a {type(obj).__name__} (the kinds known: "
            f"{', '.join(self.names) or 'none'})."
        )

    def restore(self, record: JobRecord) -> Any:
        """The work a history record describes, to ask for again.

        Raises
        ------
        ValueError
            If the record's kind is not registered here, or it has nothing to restore, or
            its values are no longer valid (bounds changed since it was written).
        """
        kind = self._kinds.get(record.kind)
        if kind is None:
            raise ValueError(f"A {record.kind} job is of a kind this server does not know.")
        if record.config is None:
            raise ValueError(f"A {record.kind} job has no request to restore.")
        return kind.from_dict(record.config)
