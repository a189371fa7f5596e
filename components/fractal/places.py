"""Famous places, one click away, and Kalles Fraktaler's location files, opened."""

from __future__ import annotations

import panel as pn
import param

from compute.fractal import FractalConfig, viewport
from compute.fractal.config import MAX_ITER, VIEW_PARAMS
from compute.fractal.locations import location_params, locations, read_kfr
from compute.fractal.viewport import Viewport, auto_max_iter

#: The list's first entry: no place (none chosen yet, or the view has moved on).
NOWHERE = "Famous places…"


class FamousPlaces(pn.viewable.Viewer):
    """Go to a famous place, or to a ``.kfr`` file's view, in one change of the config.

    A place (:mod:`compute.fractal.locations`: those the depth limit reaches) or a file
    (:func:`~compute.fractal.locations.read_kfr`) sets the Mandelbrot set, the centre, the
    span and the iterations (the depth's when the place gives none) in one
    ``param.update``: one URL, one history entry, one frame. The list shows the place
    until the view moves on. A file the reader refuses changes nothing: :attr:`refused`
    says why, next to the widgets; :attr:`note` says what reading it assumed or changed.
    """

    config = param.ClassSelector(
        class_=FractalConfig, doc="The config the places move, in place.", constant=True
    )
    place = param.Selector(
        default="",
        objects=[""],
        doc="Famous places of the Mandelbrot set, at their published coordinates (see "
        "docs/locations.md); the list shows the place until the view moves on.",
    )
    refused = param.String(default="", doc="Why the last file opened was not applied.")
    note = param.String(default="", doc="What reading the last file opened assumed.")

    def __init__(self, **params):
        super().__init__(**params)
        self.param.place.objects = {NOWHERE: "", **{p.title: p.name for p in locations()}}
        self._at: Viewport | None = None  # the place's view, while it is shown
        self._select = pn.widgets.Select.from_param(
            self.param.place, label="Go to", css_classes=["famous-places"]
        )
        self._file = pn.widgets.FileInput(accept=".kfr", multiple=False, css_classes=["kfr-file"])
        self.param.watch(self._chosen, "place")
        self._file.param.watch(self._opened, "value")
        self.config.param.watch(self._moved, list(VIEW_PARAMS))
        self._layout = pn.Column(
            self._select,
            pn.pane.HTML("Open a Kalles Fraktaler location (<code>.kfr</code>):", margin=(0, 10)),
            self._file,
            pn.pane.Alert(
                self.param.refused,
                alert_type="warning",
                visible=self.param.refused.rx.bool(),
                css_classes=["kfr-refused"],
            ),
            pn.pane.Alert(
                self.param.note,
                alert_type="info",
                visible=self.param.note.rx.bool(),
                css_classes=["kfr-note"],
            ),
        )

    def go(self, params: dict) -> None:
        """Show the view of ``params`` (a place's, a file's: :mod:`.locations`' params)."""
        values = dict(params)
        if values.get("max_iter") is None:  # the depth's, as the controls would choose
            values["max_iter"] = min(auto_max_iter(values["span"]), MAX_ITER)
        self.config.param.update(**values)

    def _chosen(self, event) -> None:
        if not event.new:
            return
        params = location_params(event.new)
        self._at = self._view(params)  # before the view moves: it moves there
        self.go(params)

    def _opened(self, event) -> None:
        if event.new is None:  # cleared
            return
        name = self._file.filename or "The file"
        notes: list[str] = []
        try:
            try:
                text = event.new.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError("it is no text; a .kfr file is lines 'Name: value'.") from None
            self.go(read_kfr(text, notes))
        except ValueError as exc:  # a bad file: nothing moves
            self.param.update(refused=f"{name} not opened: {exc}", note="")
        else:
            self.param.update(refused="", note=f"{name}: {' '.join(notes)}" if notes else "")
        self._file.clear()  # so that the same file, mended, opens again

    def _moved(self, *_events) -> None:
        if self.place and self._view(self.config.param.values()) != self._at:
            self._at, self.place = None, ""

    @staticmethod
    def _view(values: dict) -> Viewport | None:
        try:
            view = (values[name] for name in VIEW_PARAMS)
            return Viewport(*view, min_span=viewport.MIN_SPAN)  # the limit of the moment
        except ValueError:  # a value being edited
            return None

    def __panel__(self):
        return self._layout
