"""The image: a HoloViews pane that tiles stream into, zoomed and panned by mouse."""

from __future__ import annotations

import functools
import operator

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


def _blank(bounds) -> hv.Image:
    # One pixel below the colour range, which the mapper draws transparent: clears a layer
    # for a few bytes.
    return hv.Image(np.full((1, 1), -1, dtype=np.int8), bounds=bounds)


def _layer(data) -> hv.Image:
    return data if isinstance(data, hv.Image) else hv.Image(data["values"], bounds=data["bounds"])


def tile_bounds(config: FractalConfig, tile: Tile) -> tuple[float, float, float, float]:
    """The tile's extent in the complex plane: (left, bottom, right, top)."""
    (x0, x1), (y0, y1) = config.x_range, config.y_range
    dx, dy = (x1 - x0) / config.width, (y1 - y0) / config.height
    return (x0 + tile.x0 * dx, y0 + tile.y0 * dy, x0 + tile.x1 * dx, y0 + tile.y1 * dy)


def _move(figure, x_range, y_range) -> None:
    figure.x_range.update(start=x_range[0], end=x_range[1])
    figure.y_range.update(start=y_range[0], end=y_range[1])


def _set_palette(mappers, palette) -> None:
    for mapper in mappers:
        mapper.palette = palette


class FractalView(pn.viewable.Viewer):
    """The fractal image, drawn from one byte per pixel and coloured in the browser.

    The plot is an overlay of DynamicMaps, each fed by its own ``Pipe``: a coarse preview
    underneath and one layer per tile slot above it. Sending a tile re-renders only its
    layer, so each finished tile costs its own pixels on the wire (colour indices, one
    byte each) and the pane is never rebuilt. Colours come from the Bokeh colour mapper's
    palette: a colormap change sends 256 colours, not the image.

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
        self._preview = hv.streams.Pipe(data=_blank(bounds))
        self._tiles = [hv.streams.Pipe(data=_blank(bounds)) for _ in range(MAX_TILES_PER_AXIS**2)]
        self._filled: set[int] = set()
        self._mappers: list = []
        self._figure = None
        preview = hv.DynamicMap(_layer, streams=[self._preview])
        layers = [preview, *(hv.DynamicMap(_layer, streams=[pipe]) for pipe in self._tiles)]
        self._range_stream = hv.streams.RangeXY(source=preview)
        self._range_stream.add_subscriber(self._on_range)
        overlay = functools.reduce(operator.mul, layers).opts(
            hv.opts.Image(
                cmap=self._palette(),
                clim=(0, INSIDE),
                colorbar=False,
                clipping_colors={"min": "transparent", "NaN": "transparent"},
                hooks=[self._capture],
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

    # -- what the explorer calls --------------------------------------------------------------
    def show_preview(self, config: FractalConfig, indices: np.ndarray) -> None:
        """Show a coarse preview of ``config`` and clear the tiles of earlier frames."""
        with pn.io.hold():
            for slot in sorted(self._filled):
                self._tiles[slot].send(_blank(self._bounds()))
            self._filled.clear()
            self._preview.send({"values": np.flipud(indices), "bounds": self._extent(config)})

    def show_tile(self, config: FractalConfig, tile: Tile, indices: np.ndarray) -> None:
        """Draw one finished tile of ``config`` (colour indices, row 0 at the bottom)."""
        slot = tile.row * MAX_TILES_PER_AXIS + tile.col
        self._filled.add(slot)
        self._tiles[slot].send({"values": np.flipud(indices), "bounds": tile_bounds(config, tile)})

    def set_viewport(self, x_range, y_range) -> None:
        """Move the plot's axes (reset, restoring a view), as if the user had zoomed."""
        self.param.update(x_range=tuple(x_range), y_range=tuple(y_range))
        figure = self._figure
        if figure is not None:
            # Bokeh models may only change under their document's lock: execute() runs
            # it on the next tick, under the lock (at once where there is no server session).
            pn.state.execute(
                functools.partial(_move, figure, tuple(x_range), tuple(y_range)), schedule=True
            )

    # -- internals ----------------------------------------------------------------------------
    def _palette(self) -> list[str]:
        return [*palette_hex(self.colormap), INSIDE_COLOUR]

    @param.depends("colormap", watch=True)
    def _recolour(self) -> None:
        pn.state.execute(
            functools.partial(_set_palette, list(self._mappers), self._palette()), schedule=True
        )

    def _capture(self, plot, element) -> None:
        # HoloViews re-applies the cmap it was built with on every update of a layer:
        # re-assert the current palette, and keep the mapper to recolour it later.
        mapper = plot.handles.get("color_mapper")
        if mapper is not None:
            mapper.palette = self._palette()
            if mapper not in self._mappers:
                self._mappers.append(mapper)

    def _tools(self, plot, element) -> None:
        figure = plot.state
        self._figure = figure
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
