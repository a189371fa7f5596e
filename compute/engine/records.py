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
import reprlib
import time
from dataclasses import dataclass, field

_KIND = re.compile(r"[a-z][a-z0-9_-]{0,31}")
#: States a record can hold: a job's own states, and ``interrupted`` for a detached job
#: whose process stopped before it ended (its heartbeat went quiet).
RECORD_STATES = ("queued", "running", "done", "cancelled", "failed", "cached", "interrupted")
ENDED = frozenset({"done", "cancelled", "failed", "cached", "interrupted"})

# The sane ranges of a record's numbers. A time is after 1970 (0: unknown) and before
# 2100; a duration is within a year, either way (a wall clock stepped back while a job
# ran makes it negative); a job has at most a billion parts. JSON also reads NaN,
# Infinity and 1e400 (an infinity) as numbers: none of them is in range.
_LATEST = 4_102_444_800.0
_LONGEST = 366 * 86_400.0
_MOST_PARTS = 10**9


def _shown(value) -> str:
    """``value`` for an error message, short: a damaged file's megabyte string is not
    logged whole, and an int of thousands of digits has no repr at all."""
    try:
        return reprlib.repr(value)
    except ValueError:  # (an int over Python's limit on digits, maybe inside a list)
        return f"({type(value).__name__}, too large to show)"


def _check_number(values: dict, name: str, what: str, low: float, high: float) -> None:
    """Raise ValueError unless ``values[name]`` is a finite number within ``[low, high]``."""
    value = values[name]
    # The range check also refuses NaN and the infinities (NaN compares false with all),
    # and, unlike math.isfinite, never overflows on an int of a thousand digits.
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValueError(f"{name} is not {what}: {_shown(value)}")


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

        Every field is checked: its type, and for numbers that they are finite and in a
        sane range (times between 1970 and 2100, durations within a year either side,
        counts from 0 to a billion). A record is shown as it is (its duration rounded,
        its time formatted), so one wrong-typed field would break whatever shows it.

        Raises
        ------
        ValueError
            If ``data`` is not a record (a foreign or damaged file), saying which field
            is wrong.
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
            raise ValueError(f"not a kind of work: {_shown(kind)}")
        if values.get("state", "queued") not in RECORD_STATES:
            raise ValueError(f"unknown state {_shown(values['state'])}")
        for name in ("submitted_at", "updated_at"):
            if name in values:
                _check_number(values, name, "a time", 0.0, _LATEST)
        if values.get("duration") is not None:
            _check_number(values, "duration", "a duration", -_LONGEST, _LONGEST)
        for name in ("parts_total", "parts_done"):
            count = values.get(name, 0)
            # (bool is an int to Python, not a count to anyone.)
            if type(count) is not int or not 0 <= count <= _MOST_PARTS:
                raise ValueError(f"{name} is not a count: {_shown(count)}")
        if not isinstance(values.get("summary", ""), str):
            raise ValueError("summary is not a string")
        for name in ("error", "owner"):
            if values.get(name) is not None and not isinstance(values[name], str):
                raise ValueError(f"{name} is not a string")
        if values.get("config") is not None and not isinstance(values["config"], dict):
            raise ValueError("config is not a mapping")
        if not isinstance(values.get("detached", False), bool):
            raise ValueError("detached is not a boolean")
        return cls(**values)

    def replace(self, **changes) -> JobRecord:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)
