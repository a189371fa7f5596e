"""A job's record: the one schema of what a history keeps, in memory, on disk and on screen.

A :class:`JobRecord` is a plain, frozen snapshot of a job (see
:meth:`compute.engine.job.Job.record`): the store writes it as JSON
(:meth:`JobRecord.to_dict`), reads it back with :meth:`JobRecord.from_dict`, and an
engine asks again for the work it describes with
:meth:`~compute.engine.work.Kinds.restore`. Nothing else spells out its fields.

A record's kind is a name, not one of a closed set: a history written by a server that
knew more kinds than this one lists their records all the same (they cannot be
restored here).
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, field

_KIND = re.compile(r"[a-z][a-z0-9_-]{0,31}")
#: States a record can hold: a job's own states, and ``interrupted`` for a detached job
#: whose process stopped before it ended (its heartbeat went quiet).
RECORD_STATES = ("queued", "running", "done", "cancelled", "failed", "cached", "interrupted")
ENDED = frozenset({"done", "cancelled", "failed", "cached", "interrupted"})


@dataclass(frozen=True)
class JobRecord:
    """What a history keeps of one job.

    Attributes
    ----------
    key : str
        The job's deterministic key.
    kind : str
        The name of its kind of work (see :class:`~compute.engine.work.Kinds`).
    summary : str
        One line for people (a frame's view, a movie's length, a function's name).
    state : str
        One of :data:`RECORD_STATES`.
    submitted_at : float
        ``time.time()`` when it was asked for.
    duration : float or None
        Seconds from submission to its end; None while unfinished.
    parts_total, parts_done : int
        Parts of the job (a frame's tiles, a movie's frames, a graph's leaves).
    error : str or None
        Why it failed (the worker's message) or was interrupted.
    config : dict or None
        What restores it: its work's description (``Work.to_dict``); None for work
        that cannot be asked for from a description (a call, a graph).
    detached : bool
        Whether it runs to completion whoever watches (see ``JobRegistry.detach``).
    owner : str or None
        The user whose history holds it (an authenticated front end's user name); None
        for an anonymous consumer. Several users asking for one job each get a record.
    updated_at : float
        When this record was written (a detached job rewrites it as it progresses).
    """

    key: str
    #: Records written before the engine knew other kinds are of the fractal's frames.
    kind: str = "frame"
    summary: str = ""
    state: str = "queued"
    submitted_at: float = 0.0
    duration: float | None = None
    parts_total: int = 0
    parts_done: int = 0
    error: str | None = None
    config: dict | None = None
    detached: bool = False
    owner: str | None = None
    #: Not part of equality: two snapshots of one job's state are the same record.
    updated_at: float = field(default_factory=time.time, compare=False)

    @property
    def cached(self) -> bool:
        """Served without running any task."""
        return self.state == "cached"

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    def to_dict(self) -> dict:
        """JSON-serialisable fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> JobRecord:
        """The record ``data`` describes (written by :meth:`to_dict`, or by an older version).

        Raises
        ------
        ValueError
            If ``data`` is not a record (a foreign or damaged file).
        """
        if not isinstance(data, dict) or not isinstance(data.get("key"), str):
            raise ValueError("not a job record")
        values = dict(data)
        # Records of frames written before the engine knew other kinds.
        values.setdefault("parts_total", values.pop("tiles_total", 0))
        values.setdefault("parts_done", values.pop("tiles_done", 0))
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in values.items() if k in names}
        kind = values.get("kind", "frame")
        if not isinstance(kind, str) or not _KIND.fullmatch(kind):
            raise ValueError(f"not a kind of work: {kind!r}")
        if values.get("state", "queued") not in RECORD_STATES:
            raise ValueError(f"unknown state {values['state']!r}")
        if not isinstance(values.get("submitted_at", 0.0), int | float):
            raise ValueError("submitted_at is not a time")
        if values.get("config") is not None and not isinstance(values["config"], dict):
            raise ValueError("config is not a mapping")
        if values.get("owner") is not None and not isinstance(values["owner"], str):
            raise ValueError("owner is not a name")
        return cls(**values)

    def replace(self, **changes) -> JobRecord:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)
