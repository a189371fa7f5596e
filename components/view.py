"""The image: a HoloViews pane that tiles stream into, zoomed and panned by mouse."""

from __future__ import annotations

import functools

import holoviews as hv
import numpy as np
import panel as pn
import param
from bokeh.models import BoxZoomTool, PanTool, WheelZoomTool

from compute import FractalConfig, Tile
from compute.colour import INSIDE, palette_hex
from compute.config import PLANE
from compute.tiles import MAX_TILES_PER_AXIS

#: Colour of points inside the set, last entry of the 256-colour palette.
INSIDE_COLOUR = "#000000"


def _blank() -> dict:
    # No glyph at all rather than a transparent one: the browser composites every image
    # over its whole extent on each repaint, and in software that dominated its CPU time.
    return {"image": [], "x": [], "y": [], "dw": [], "dh": []}


def _image(values: np.ndarray, bounds) -> dict:
    # The columns of a Bokeh ``Image`` glyph's data source; Bokeh draws row 0 at the
    # bottom, the frames' own orientation, so the array travels as it is.
    left, bottom, right, top = bounds
    return {
        "image": [values],
        "x": [left],
        "y": [bottom],
        "dw": [right - left],
        "dh": [top - bottom],
    }


def tile_bounds(config: FractalConfig, tile: Tile) -> tuple[float, float, float, float]:
    """The tile's extent in the complex plane: (left, bottom, right, top)."""
    (x0, x1), (y0, y1) = config.x_range, config.y_range
    dx, dy = (x1 - x0) / config.width, (y1 - y0) / config.height
    return (x0 + tile.x0 * dx, y0 + tile.y0 * dy, x0 + tile.x1 * dx, y0 + tile.y1 * dy)


def _write(plots, changes, palette=None, viewport=None) -> None:
    # ``plots``: one rendered copy of the plot (a server session, a notebook cell), its
    # layers' HoloViews plots in layer order.
    for layer, data in changes.items():
        plots[layer].handles["source"].data = data
    base = plots[0]
    if palette is not None:
        # Every layer's glyph shares layer 0's mapper (see FractalView._attach).
        base.handles["color_mapper"].palette = palette
    if viewport is not None:
        (x0, x1), (y0, y1) = viewport
        base.state.x_range.update(start=x0, end=x1)
        base.state.y_range.update(start=y0, end=y1)
    base.push()  # to a notebook's comm; a server session syncs by itself


class FractalView(pn.viewable.Viewer):
    """The fractal image, drawn from one byte per pixel and coloured in the browser.

    A HoloViews overlay of 17 image layers, built once: a coarse preview underneath and
    one layer per tile slot above it. A finished tile replaces its layer's Bokeh data
    source and nothing else, so each tile costs its own pixels on the wire (colour
    indices, one byte each) and the pane is never rebuilt. Colours come from one Bokeh
    colour mapper's palette shared by all layers: a colormap change sends 256 colours,
    not the image.

    The layers are written to directly rather than through ``Pipe``-fed DynamicMaps: a
    stream event re-evaluates every layer of an overlay, which measured 200-300 ms of
    server time per tile for 17 layers, against about a millisecond for a data source.

    The user's zoom and pan land in :attr:`x_range` and :attr:`y_range`.
    """

    x_range = param.Range(
        default=FractalConfig.param.x_range.default,
        doc="Real axis of the plot as the user last left it (zoom, pan).",
    )
    y_range = param.Range(
        default=FractalConfig.param.y_range.default,
        doc="Imaginary axis of the plot as the user last left it.",
    )
    colormap = param.Selector(
        default=FractalConfig.param.colormap.default,
        objects=FractalConfig.param.colormap.objects,
        doc="Colormap applied in the browser.",
    )
    stale = param.Boolean(
        default=False, doc="True while the image shown belongs to an older config."
    )
    stale_reason = param.String(default="", doc="Why the image is stale, shown over it.")
    size = param.Integer(default=640, bounds=(128, 2048), doc="Plot edge in screen pixels.")

    def __init__(self, **params):
        super().__init__(**params)
        bounds = self._bounds()
        self._layers = [_blank() for _ in range(1 + MAX_TILES_PER_AXIS**2)]
        self._filled: set[int] = set()
        # Each rendered copy of the plot, by figure: its layers' plots in layer order.
        self._copies: dict[int, list] = {}
        elements = [
            hv.Image(np.full((1, 1), -1, dtype=np.int8), bounds=bounds).opts(
                hooks=[functools.partial(self._attach, layer=i)]
            )
            for i in range(len(self._layers))
        ]
        self._range_stream = hv.streams.RangeXY(source=elements[0])
        self._range_stream.add_subscriber(self._on_range)
        overlay = hv.Overlay(elements).opts(
            hv.opts.Image(
                cmap=self._palette(),
                clim=(0, INSIDE),
                colorbar=False,
                clipping_colors={"min": "transparent", "NaN": "transparent"},
                default_tools=[],
                tools=[],
            ),
            hv.opts.Overlay(
                frame_width=self.size,
                frame_height=self.size,
                xlim=self.x_range,
                ylim=self.y_range,
                xlabel="Re(z)",
                ylabel="Im(z)",
                toolbar="above",
                hooks=[self._tools],
            ),
        )
        self._pane = pn.pane.HoloViews(overlay, linked_axes=False)
        self._banner = pn.pane.Alert(
            # pn.bind, not .rx: param 2.4.2 drops an .rx update when it arrives in the same
            # param.update() as the `visible` parameter below.
            pn.bind(lambda r: r or "Showing an older view.", self.param.stale_reason),
            alert_type="warning",
            visible=self.param.stale,
            margin=(0, 10),
            css_classes=["stale-banner"],
        )
        self._layout = pn.Column(self._banner, self._pane, css_classes=["fractal-view"])

    def __panel__(self):
        return self._layout

    @property
    def layers(self) -> list[tuple[np.ndarray, tuple[float, float, float, float]] | None]:
        """What each layer holds, preview first then tile slots row by row.

        ``(indices, (left, bottom, right, top))`` with row 0 of ``indices`` at the bottom,
        or None for an empty layer.
        """
        shown = []
        for data in self._layers:
            if not data["image"]:
                shown.append(None)
                continue
            (x,), (y,), (dw,), (dh,) = data["x"], data["y"], data["dw"], data["dh"]
            shown.append((data["image"][0], (x, y, x + dw, y + dh)))
        return shown

    # -- what the explorer calls --------------------------------------------------------------
    def show_preview(self, config: FractalConfig, indices: np.ndarray) -> None:
        """Show a coarse preview of ``config`` and clear the tiles of earlier frames."""
        changes = {1 + slot: _blank() for slot in self._filled}
        self._filled.clear()
        changes[0] = _image(indices, self._extent(config))
        self._send(changes)

    def show_tile(self, config: FractalConfig, tile: Tile, indices: np.ndarray) -> None:
        """Draw one finished tile of ``config`` (colour indices, row 0 at the bottom)."""
        slot = tile.row * MAX_TILES_PER_AXIS + tile.col
        self._filled.add(slot)
        self._send({1 + slot: _image(indices, tile_bounds(config, tile))})

    def set_viewport(self, x_range, y_range) -> None:
        """Move the plot's axes (reset, restoring a view), as if the user had zoomed."""
        self.param.update(x_range=tuple(x_range), y_range=tuple(y_range))
        self._send({}, viewport=(tuple(x_range), tuple(y_range)))

    # -- internals ----------------------------------------------------------------------------
    def _send(self, changes: dict[int, dict], **kwargs) -> None:
        for layer, data in changes.items():
            self._layers[layer] = data
        self._copies = {k: p for k, p in self._copies.items() if p[0].document is not None}
        for plots in self._copies.values():
            update = functools.partial(_write, plots, changes, **kwargs)
            doc = plots[0].document
            if doc.session_context is None:
                update()  # a notebook or a bare document: no lock to take
            else:
                # Bokeh models of a server session change only under its document lock;
                # next-tick callbacks run under it, in the order they were added.
                doc.add_next_tick_callback(update)

    def _palette(self) -> list[str]:
        return [*palette_hex(self.colormap), INSIDE_COLOUR]

    @param.depends("colormap", watch=True)
    def _recolour(self) -> None:
        self._send({}, palette=self._palette())

    def _attach(self, plot, element, layer: int) -> None:
        # Runs once per rendered copy of the plot, layer by layer from 0; later copies
        # (another notebook cell) start from what is shown now.
        plots = self._copies.setdefault(id(plot.state), [None] * len(self._layers))
        if layer == 0:
            plot.handles["color_mapper"].palette = self._palette()
        else:
            plot.handles["glyph"].color_mapper = plots[0].handles["color_mapper"]
        plot.handles["source"].data = self._layers[layer]
        plots[layer] = plot

    def _tools(self, plot, element) -> None:
        figure = plot.state
        # The viewport may have moved (a link, a restored view) since the overlay was
        # declared: a figure drawn from the old limits would report them back as a zoom.
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        figure.x_range.update(start=x0, end=x1)
        figure.y_range.update(start=y0, end=y1)
        if not any(isinstance(t, BoxZoomTool) for t in figure.tools):
            wheel = WheelZoomTool(zoom_on_axis=False)
            figure.add_tools(PanTool(), wheel, BoxZoomTool(match_aspect=True))
            figure.toolbar.active_scroll = wheel

    def _on_range(self, x_range=None, y_range=None, **kwargs) -> None:
        if x_range is None or y_range is None:
            return
        lo, hi = PLANE
        x0, x1 = max(x_range[0], lo), min(x_range[1], hi)
        y0, y1 = max(y_range[0], lo), min(y_range[1], hi)
        if x0 < x1 and y0 < y1:
            self.param.update(x_range=(x0, x1), y_range=(y0, y1))

    def _bounds(self) -> tuple[float, float, float, float]:
        return (self.x_range[0], self.y_range[0], self.x_range[1], self.y_range[1])

    @staticmethod
    def _extent(config: FractalConfig) -> tuple[float, float, float, float]:
        (x0, x1), (y0, y1) = config.x_range, config.y_range
        return (x0, y0, x1, y1)
