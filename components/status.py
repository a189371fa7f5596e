"""The current job's state, progress and Cancel button."""

from __future__ import annotations

import html

import panel as pn
import param

from compute import Job

_COLOURS = {
    "idle": "#6c757d",
    "queued": "#6c757d",
    "running": "#0d6efd",
    "done": "#198754",
    "cached": "#20c997",
    "cancelled": "#fd7e14",
    "failed": "#dc3545",
}
_LABELS = {"cached": "from cache"}


class JobStatus(pn.viewable.Viewer):
    """Draws a :class:`~compute.Job`: a state badge, a progress bar and a Cancel button.

    The job holds the state and talks to the scheduler; this class only draws it (the
    split of ``distributed.diagnostics.progressbar``), so a notebook can draw the same job
    differently.
    """

    job = param.ClassSelector(class_=Job, allow_None=True, doc="The job shown.")
    cancelled = param.Boolean(
        default=False,
        doc="This session stopped wanting the job (it may still run for another one).",
    )
    cancel = param.Event(doc="Pressed: stop wanting the current job.")

    def __init__(self, **params):
        super().__init__(**params)
        self._badge = pn.pane.HTML(margin=(5, 10), css_classes=["job-badge"])
        self._progress = pn.indicators.Progress(
            value=0, max=1, bar_color="primary", width=240, margin=(12, 10)
        )
        self._text = pn.pane.HTML(margin=(5, 10), css_classes=["job-text"])
        self._cancel = pn.widgets.Button.from_param(
            self.param.cancel,
            name="Cancel",
            color="danger",
            disabled=True,
            css_classes=["cancel-button"],
        )
        self._layout = pn.Row(self._badge, self._progress, self._text, self._cancel)
        self._draw()

    @property
    def state(self) -> str:
        """What the badge says: the job's state, ``cancelled`` or ``idle``."""
        if self.job is None:
            return "idle"
        return "cancelled" if self.cancelled and not self.job.done else self.job.state

    @param.depends(
        "job", "cancelled", "job.state", "job.tiles_done", "job.tiles_started", watch=True
    )
    def _draw(self) -> None:
        state, job = self.state, self.job
        self._badge.object = (
            f'<span class="job-state" data-state="{state}" style="background:{_COLOURS[state]};'
            'color:white;border-radius:1em;padding:0.25em 0.8em;font-weight:600">'
            f"{_LABELS.get(state, state)}</span>"
        )
        if job is None:
            text, value, total = "No job yet.", 0, 1
        else:
            text = "cancelled by you" if state == "cancelled" else job.describe()
            value, total = job.tiles_done, max(job.tiles_total, 1)
        self._text.object = f'<span data-state="{state}">{html.escape(text)}</span>'
        # value is bounded by max: move it out of the way before max changes.
        self._progress.value = 0
        colour = "danger" if state == "failed" else "primary"
        self._progress.param.update(max=total, bar_color=colour)
        self._progress.value = value
        self._cancel.disabled = state not in ("queued", "running")

    def __panel__(self):
        return self._layout
