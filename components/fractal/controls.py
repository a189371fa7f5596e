"""Widgets for a :class:`~compute.FractalConfig`, built from its own parameters."""

from __future__ import annotations

import functools

import panel as pn
import param

from compute.fractal import FractalConfig
from compute.fractal.config import MAX_ITER
from compute.fractal.viewport import auto_max_iter

from .places import FamousPlaces


class FractalControls(pn.viewable.Viewer):
    """Edit a config: fractal, c, iterations, resolution, colour; read the viewport; go to
    a famous place or a Kalles Fraktaler file's view (:class:`.places.FamousPlaces`).

    Widgets come from the config's parameters (``from_param``), so they carry its
    bounds, steps and docs. Sliders write the config when released (or stepped with
    the keyboard), so that a drag is one change of the config, one URL, one history
    entry; while a slider is dragged its values appear in :attr:`live`, for previews.
    A value the config refuses (an emptied size box) is not applied: :attr:`refused`
    says why, next to the widgets, and the widget shows the config's value again.
    """

    config = param.ClassSelector(
        class_=FractalConfig, doc="The config the widgets edit, in place.", constant=True
    )
    reset = param.Event(doc="Pressed: return to the default viewport.")
    live = param.Dict(
        default={},
        doc="Values of the sliders as they are dragged, by parameter name (not yet released).",
    )
    refused = param.String(default="", doc="Why the last value typed was not applied.")
    auto_iterations = param.Boolean(
        default=True,
        doc="Zooming sets max_iter from the depth (it grows as the view deepens; a pan keeps "
        "it); moving the slider turns this off.",
    )

    def __init__(self, **params):
        if "config" not in params:
            params["config"] = FractalConfig()
        super().__init__(**params)
        p = self.config.param
        self._fractal = pn.widgets.RadioButtonGroup.from_param(
            p.fractal, color="primary", variant="outline", name="Fractal"
        )
        self._c_real = pn.widgets.EditableFloatSlider.from_param(
            p.c_real, throttled=True, name="c (real)", format="0.000"
        )
        self._c_imag = pn.widgets.EditableFloatSlider.from_param(
            p.c_imag, throttled=True, name="c (imaginary)", format="0.000"
        )
        self._max_iter = pn.widgets.EditableIntSlider.from_param(
            p.max_iter, throttled=True, name="Max iterations"
        )
        self._width = self._size_input("width", "Width (px)")
        self._height = self._size_input("height", "Height (px)")
        self._colormap = pn.widgets.Select.from_param(p.colormap, name="Colormap")
        self._normalization = pn.widgets.RadioButtonGroup.from_param(
            p.normalization, color="primary", variant="outline", name="Normalisation"
        )
        self._auto = pn.widgets.Checkbox.from_param(
            self.param.auto_iterations, name="Iterations follow the depth"
        )
        self._reset = pn.widgets.Button.from_param(
            self.param.reset, name="Reset view", color="light"
        )
        #: Famous places and Kalles Fraktaler's files: a whole view in one change.
        self.places = FamousPlaces(config=self.config)
        for name, slider in (
            ("c_real", self._c_real),
            ("c_imag", self._c_imag),
            ("max_iter", self._max_iter),
        ):
            slider.param.watch(lambda event, name=name: self._dragged(name, event.new), "value")
        self.config.param.watch(self._released, ["c_real", "c_imag", "max_iter"])
        # c means nothing to the Mandelbrot set: hide it rather than let it look active.
        julia = p.fractal.rx() == "julia"
        self._c_real.visible = julia
        self._c_imag.visible = julia
        self._layout = pn.Column(
            self._fractal,
            self._c_real,
            self._c_imag,
            self._max_iter,
            self._auto,
            pn.Row(self._width, self._height),
            pn.pane.Alert(
                self.param.refused,
                alert_type="warning",
                visible=self.param.refused.rx.bool(),
                css_classes=["widget-error"],
            ),
            pn.pane.Markdown(self._viewport, margin=(0, 10)),
            self._reset,
            self.places,
            pn.layout.Divider(),
            self._colormap,
            self._normalization,
            css_classes=["fractal-controls"],
        )

    def _size_input(self, name: str, label: str) -> pn.widgets.IntInput:
        # Not from_param: an emptied box sends None, which the config refuses, and Panel's
        # link would raise that out of the browser's event (a traceback in the server's
        # log, and no word to the user).
        p = self.config.param[name]
        widget = pn.widgets.IntInput(
            label=label,
            value=getattr(self.config, name),
            start=p.bounds[0],
            end=p.bounds[1],
            step=64,
            width=140,
            description=p.doc,
        )
        widget.param.watch(functools.partial(self._typed, name), "value")
        self.config.param.watch(lambda event: setattr(widget, "value", event.new), name)
        return widget

    def _typed(self, name: str, event) -> None:
        if event.new == getattr(self.config, name):
            return  # the config's own value: an echo, or the refusal's reset below
        try:
            self.config.param.update(**{name: event.new})
        except (ValueError, TypeError) as exc:
            self.refused = f"{name} not changed: {exc}"
            event.obj.value = getattr(self.config, name)
        else:
            self.refused = ""

    @staticmethod
    def iterations_at(span: str) -> int:
        """The automatic ``max_iter`` of a view ``span`` wide."""
        return min(auto_max_iter(span), MAX_ITER)

    def _dragged(self, name: str, value) -> None:
        if value is None:  # an emptied box: nothing to preview, and the config keeps its own
            self.refused = f"{name} not changed: it needs a number."
            return
        # A value the config already holds is a release or an echo, not a drag.
        if value != getattr(self.config, name):
            self.live = {**self.live, name: value}
        elif name in self.live:
            self.live = {k: v for k, v in self.live.items() if k != name}

    def _released(self, *events) -> None:
        names = {e.name for e in events}
        if "max_iter" in names and self.config.max_iter != self.iterations_at(self.config.span):
            self.auto_iterations = False  # a chosen value, not the depth's
        if names & set(self.live):
            self.live = {k: v for k, v in self.live.items() if k not in names}

    @param.depends("config.center_real", "config.center_imag", "config.span")
    def _viewport(self) -> str:
        try:
            where = self.config.viewport.describe()
        except ValueError:  # a value being edited; the config says what is wrong
            where = "(invalid)"
        return f"**Viewport** {where}. Drag to pan, scroll or box-select to zoom."

    def __panel__(self):
        return self._layout
