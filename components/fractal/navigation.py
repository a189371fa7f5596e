"""Gestures on the plot to exact views, and views back to the plot, at any depth.

The plot is drawn in units of the span of an exact origin (see :mod:`.view`): what the
user leaves it at is a box in those units, which becomes a view in decimal arithmetic
(:meth:`~compute.fractal.viewport.Viewport.recentre`), and a view asked for another way
(a link, a history row, a notebook) becomes a box, or a new origin once float64 would no
longer carry the box's digits.
"""

from __future__ import annotations

from collections.abc import Callable

from compute.fractal import FractalConfig
from compute.fractal.viewport import Viewport

from .controls import FractalControls
from .view import FractalView, placement

#: The plot is recentred on the view when the view's span, in the plot's units, leaves
#: this range (or its centre lies beyond the largest): float64 keeps about 16 digits, and
#: a gesture's box then keeps 10 or more of them.
RECENTRE = (1e-3, 1e3)


def moved(shown: tuple, wanted: tuple, pixels: int) -> bool:
    """Whether ``shown`` differs from ``wanted`` (a range) by half a pixel of ``pixels``:
    the browser echoes ranges back with float noise, the same view."""
    half = (wanted[1] - wanted[0]) / pixels / 2
    return any(abs(s - w) >= half for s, w in zip(shown, wanted, strict=True))


def box(config: FractalConfig, origin: Viewport) -> tuple[tuple[float, float], ...]:
    """``config``'s view as ``(x_range, y_range)`` in the plot's units around ``origin``."""
    x, y, scale = placement(config.viewport, origin)
    aspect = config.height / config.width
    return (x - scale / 2, x + scale / 2), (y - scale * aspect / 2, y + scale * aspect / 2)


class Navigator:
    """One explorer's translation between its plot and its config's view.

    Parameters
    ----------
    config : FractalConfig
        The view asked for.
    view : FractalView
        The plot.
    controls : FractalControls
        Whether iterations follow the depth.
    refuse : callable
        ``refuse(error)``: a gesture that makes no view (beyond the deepest span, wider
        than the plane), said to the user.
    """

    def __init__(
        self,
        config: FractalConfig,
        view: FractalView,
        controls: FractalControls,
        refuse: Callable[[Exception], None],
    ):
        self.config, self.view, self.controls, self._refuse = config, view, controls, refuse

    def differs(self, x_range, y_range) -> bool:
        """Whether the plot's box is another view than the config's (not an echo)."""
        config = self.config
        wanted_x, wanted_y = box(config, self.view.origin)
        return moved(x_range, wanted_x, config.width) or moved(y_range, wanted_y, config.height)

    def gestured(self, x_range, y_range) -> Viewport | None:
        """The view of a box the user left the plot at, exactly (refused: said, None)."""
        try:
            return self.view.origin.recentre(*x_range, *y_range)
        except ValueError as exc:
            self._refuse(exc)
            return None

    def values(self, viewport: Viewport) -> dict:
        """The config's values for ``viewport``: a zoom sets the iterations the new depth
        needs (when they follow the depth); a pan keeps them."""
        values = viewport.to_dict()
        if self.controls.auto_iterations and viewport.span != self.config.span:
            values["max_iter"] = self.controls.iterations_at(viewport.span)
        return values

    def place(self) -> None:
        """Show the config's view on the plot: its box, or a new origin."""
        config, view = self.config, self.view
        aspect = config.height / config.width
        view.locate(config.viewport)
        x, y, scale = placement(config.viewport, view.origin)
        lo, hi = RECENTRE
        if aspect != view.aspect or not (lo <= scale <= hi and max(abs(x), abs(y)) <= hi):
            view.recentre(config.viewport, aspect)
        elif self.differs(view.x_range, view.y_range):
            # Not where the plot is (a restored row, a link, a notebook): move the axes.
            view.set_viewport(*box(config, view.origin))
