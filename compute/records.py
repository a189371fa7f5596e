"""A job's record: the one schema of what a history keeps, in memory, on disk and on screen.

A :class:`JobRecord` is a plain, frozen snapshot of a job (see :meth:`compute.Job.record`):
the store writes it as JSON (:meth:`JobRecord.to_dict`), reads it back with
:meth:`JobRecord.from_dict`, and a front end restores the view it describes with
:meth:`JobRecord.restore`. Nothing else spells out its fields.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

#: Kinds of job: a frame, a zoom movie, a function call, a graph of ``dask.delayed`` leaves.
KINDS = ("frame", "movie", "call", "graph")
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
        One of :data:`KINDS`.
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
        What restores it: a frame's or a movie's parameters (:meth:`restore`).
    detached : bool
        Whether it runs to completion whoever watches (see ``JobRegistry.detach``).
    owner : str or None
        The user whose history holds it (an authenticated front end's user name); None
        for an anonymous consumer. Several users asking for one job each get a record.
    updated_at : float
        When this record was written (a detached job rewrites it as it progresses).
    """

    key: str
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
        if values.get("kind", "frame") not in KINDS:
            raise ValueError(f"unknown kind {values['kind']!r}")
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

    def restore(self):
        """The :class:`~compute.FractalConfig` or :class:`~compute.movie.MovieSpec` it describes.

        Raises
        ------
        ValueError
            If the record has nothing to restore (a call or a graph) or its values are no
            longer valid (bounds changed since it was written).
        """
        if self.config is None or self.kind not in ("frame", "movie"):
            raise ValueError(f"A {self.kind} job has no view to restore.")
        if self.kind == "movie":
            from .movie import MovieSpec

            return MovieSpec.from_dict(self.config)
        from .config import FractalConfig

        return FractalConfig.from_dict(self.config)
