"""The current request's state, progress and Cancel button."""

from __future__ import annotations

import panel as pn
import param

from compute.engine import Job
from compute.engine.interactive import Throttle

from .indicators import StatusBar

_COLOURS = {
    "idle": "#6c757d",
    "previewing": "#6f42c1",
    "queued": "#6c757d",
    "running": "#0d6efd",
    "done": "#198754",
    "cached": "#20c997",
    "cancelled": "#fd7e14",
    "failed": "#dc3545",
}
_LABELS = {"cached": "from cache"}


class JobStatus(pn.viewable.Viewer):
    """Draws a request: a state badge, a progress bar and a Cancel button.

    The job (and the render session whose phase is :attr:`phase`) hold the state and
    talk to the scheduler; this class only draws it (the split of
    ``distributed.diagnostics.progressbar``), so a notebook can draw the same job
    differently. Progress is drawn at most every :attr:`interval` seconds: a frame of
    16 tiles reports 32 events, and each drawing costs the browser a repaint. A change
    of state is drawn on the event loop's next turn, once for all that changed in this
    one; a job that starts waits :attr:`settle` seconds first (a light frame is queued
    for a millisecond, then running: one drawing, not two).
    """

    job = param.ClassSelector(class_=Job, allow_None=True, doc="The job shown.")
    phase = param.String(
        default="idle",
        doc="The render session's state: 'previewing' and 'cancelled' override the job's.",
    )
    interval = param.Number(
        default=0.1, bounds=(0, 5), doc="Seconds between two drawings of progress."
    )
    settle = param.Number(
        default=0.03,
        bounds=(0, 1),
        doc="Seconds a job's queued or running state waits to be drawn, so that a state "
        "that lasts less is drawn over by the next one. Ends are drawn at once.",
    )
    cancel = param.Event(doc="Pressed: stop wanting the current job.")

    def __init__(self, **params):
        super().__init__(**params)
        # One fixed-size component for all of it: see components/jobs/indicators.py.
        self.bar = StatusBar(width=640, height=40, margin=(5, 10), css_classes=["job-status"])
        self.bar.param.watch(lambda _: self.param.trigger("cancel"), "cancel")
        # One drawing for every change of one event-loop turn (a job, its state and the
        # session's phase often change together); progress waits up to ``interval``.
        self._throttle = Throttle(self._draw)
        self._draw()

    @property
    def state(self) -> str:
        """What the badge says: the job's state, or the session's phase where it overrides."""
        job = self.job
        if self.phase == "previewing" or (self.phase == "cancelled" and job and not job.done):
            return self.phase
        return "idle" if job is None else job.state

    @property
    def pending(self) -> bool:
        """Whether a drawing is scheduled (what is drawn is about to change)."""
        return self._throttle.pending

    @param.depends("job", "phase", "job.state", watch=True)
    def _changed(self) -> None:
        self._throttle.request(self.settle if self.state in ("queued", "running") else 0.0)

    @param.depends("job.parts_done", "job.parts_started", watch=True)
    def _progressed(self) -> None:
        self._throttle.request(self.interval)

    def _draw(self) -> None:
        self._throttle.cancel()
        state, job = self.state, self.job
        if state == "previewing":
            text = "previews follow your change; the full frame starts when you stop"
            done, total = 0, 1
        elif job is None:
            text, done, total = "No job yet.", 0, 1
        else:
            text = "cancelled by you" if state == "cancelled" else job.describe()
            done, total = job.parts_done, max(job.parts_total, 1)
        self.bar.value = {
            "state": state,
            "label": _LABELS.get(state, state),
            "colour": _COLOURS[state],
            "text": text,
            "done": min(done, total),
            "total": total,
            "cancellable": state in ("queued", "running"),
        }

    def __panel__(self):
        return self.bar
