"""Moved to :mod:`compute.engine.reports`; this path is kept for this release (deprecated).

One topic now carries every start a worker reports (tiles' included).
"""

from compute.engine.reports import (
    JOB_ANNOTATION,
    PART_STARTED_TOPIC,
    StartReporter,
    report_started,
)

#: The one topic of start reports (the tiles' topic was merged into it).
JOB_STARTED_TOPIC = PART_STARTED_TOPIC


def report_part(job: str, part: int) -> None:
    """From inside a task of ``job``: its start (the part is the task's key now)."""
    report_started(job)


__all__ = [
    "JOB_ANNOTATION",
    "JOB_STARTED_TOPIC",
    "PART_STARTED_TOPIC",
    "StartReporter",
    "report_part",
    "report_started",
]
