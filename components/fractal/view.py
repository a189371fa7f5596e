"""The image: tiles drawn into a Bokeh figure as they stream, zoomed and panned by mouse.

Bokeh's ranges are float64, which runs out at a span of about 1e-11 of the plane: the
plot is drawn in units of the view's span instead, as offsets from its centre (its
*origin*, an exact :class:`~compute.fractal.viewport.Viewport`), and the axes are labelled
as offsets in the plane. After each gesture the explorer moves the origin exactly and
the plot is recentred (:meth:`FractalView.recentre`), so its numbers stay of order one at
any depth.
"""

from __future__ import annotations

import functools
import weakref
from decimal import Decimal, localcontext

import holoviews as hv
import numpy as np
import panel as pn
import param
from bokeh.models import (
    BoxZoomTool,
    ColumnDataSource,
    CustomJS,
    CustomJSTickFormatter,
    CustomJSTransform,
    PanTool,
    WheelZoomTool,
)
from bokeh.transform import transform
from panel.io.document import hold

from compute.fractal import PLANE, FractalConfig, Tile, lookup_table
from compute.fractal.tiles import MAX_TILES_PER_AXIS
from compute.fractal.viewport import Viewport

from ..jobs.indicators import Banner

#: Colour of points inside the set (RGBA), index 255 of the lookup table.
INSIDE_RGBA = (0, 0, 0, 255)

#: Colour indices to pixels, in the browser: each uint8 index becomes the RGBA of that
#: entry of the lookup table ``lut`` (256 packed little-endian RGBA words), for Bokeh's
#: RGBA image glyph. A typed-array lookup costs about 15 ms per million pixels here;
#: Bokeh's own colour mapper (a linear mapper's per-pixel arithmetic) cost 45 ms.
_LUT_JS = """
let table = lut.__table
if (table === undefined) {
  table = Uint32Array.from(lut)
  Object.defineProperty(lut, "__table", {value: table})
}
const {Uint32NDArray} = Bokeh.require("core/util/ndarray")
return xs.map((src) => {
  const dst = new Uint32NDArray(src.length, src.shape)  // filled in place: no copy
  for (let i = 0; i < src.length; i++) dst[i] = table[src[i]]
  return dst
})
"""
#: A new table re-colours every layer from the indices it already holds: no data travels.
_RECOLOUR_JS = "for (const source of sources) source.change.emit()"


def lut(colormap: str) -> list[int]:
    """The 256 packed RGBA words the browser colours indices with (little-endian)."""
    return lookup_table(colormap, INSIDE_RGBA).view(np.uint32).ravel().tolist()


#: Layers: the coarse preview (or a whole frame) underneath, then one per tile slot.
LAYERS = 1 + MAX_TILES_PER_AXIS**2


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


#: The axes' tick labels: offsets from the centre in the plane (the plot is in spans).
_TICKS_JS = """
const value = tick * span
if (value === 0) return "0"
if (exponent === 0 && Math.abs(value) >= 1e-4 && Math.abs(value) < 1e4)
  return String(Number(value.toPrecision(6)))
const [mantissa, power] = value.toExponential(2).split("e")
return mantissa + "e" + (Number(power) + exponent)
"""
#: Spans below this reach the tick formatter as a mantissa and a power of ten: a
#: JavaScript number (a float64) stops at about 1e-308.
_TICKS_EXPONENT_BELOW = Decimal("1e-200")


def tick_args(origin: Viewport) -> dict:
    """The axes' tick formatter's arguments for a plot around ``origin``: ticks are in
    its spans, labels ``tick * span * 10**exponent``."""
    span = Decimal(origin.span)
    if span >= _TICKS_EXPONENT_BELOW:
        return {"span": float(span), "exponent": 0}
    power = span.adjusted()
    return {"span": float(span.scaleb(-power)), "exponent": power}


def placement(view: Viewport, origin: Viewport | None = None) -> tuple[float, float, float]:
    """Where ``view`` lies in a plot drawn around ``origin`` (default: itself).

    ``(x, y, scale)``: the view's centre as an offset from the origin's, and its span,
    both in units of the origin's span. Exact to float64 at any depth: the difference of
    the centres is taken in decimal before it is divided.
    """
    if origin is None or origin == view:
        return 0.0, 0.0, 1.0
    real, imag, span = view.decimals()
    o_real, o_imag, o_span = origin.decimals()
    with localcontext() as context:
        context.prec = 4000
        return (
            float((real - o_real) / o_span),
            float((imag - o_imag) / o_span),
            float(span / o_span),
        )


def tile_bounds(
    config: FractalConfig, tile: Tile, origin: Viewport | None = None
) -> tuple[float, float, float, float]:
    """The tile's extent in the plot around ``origin``: (left, bottom, right, top)."""
    x, y, scale = placement(config.viewport, origin)
    pixel = scale / config.width
    left, bottom = x - scale / 2, y - pixel * config.height / 2
    return (
        left + tile.x0 * pixel,
        bottom + tile.y0 * pixel,
        left + tile.x1 * pixel,
        bottom + tile.y1 * pixel,
    )


def home(aspect: float) -> tuple[tuple[float, float], tuple[float, float]]:
    """The plot's box of a whole view of ``aspect`` (height / width), in spans."""
    return (-0.5, 0.5), (-aspect / 2, aspect / 2)


def slot(tile: Tile) -> int:
    """The layer a tile is drawn in (layer 0 is the preview)."""
    return 1 + tile.row * MAX_TILES_PER_AXIS + tile.col


class _Copy:
    """One rendered copy of the plot (a server session, a notebook cell): its figure,
    its layers' data sources and the HoloViews plot that owns them."""

    def __init__(self, plot, colormap: str):
        self.plot = plot
        self.figure = plot.state
        self.sources = [ColumnDataSource(_blank()) for _ in range(LAYERS)]
        self.colours = CustomJSTransform(args={"lut": lut(colormap)}, v_func=_LUT_JS)
        self.colours.js_on_change(
            "args", CustomJS(args={"sources": self.sources}, code=_RECOLOUR_JS)
        )
        self.ticks = CustomJSTickFormatter(args={"span": 3.2, "exponent": 0}, code=_TICKS_JS)
        self.pending: dict = {}
        self.scheduled = False

    @property
    def document(self):
        # HoloViews' record of where the plot was rendered (a model rendered with no
        # document of its own still belongs to the one its pane was rendered for).
        return self.plot.document

    def write(self, changes: dict, palette=None, viewport=None, moved=None, span=None) -> None:
        for layer, data in changes.items():
            self.sources[layer].data = data
        for layer, columns in (moved or {}).items():
            if layer not in changes:
                # The place alone: the pixels stay in the browser.
                self.sources[layer].data.update(columns)
        if span is not None:
            self.ticks.args = span
        if palette is not None:
            self.colours.args = {"lut": palette}  # shared by every layer: 256 colours, once
        if viewport is not None:
            (x0, x1), (y0, y1) = viewport
            self.figure.x_range.update(start=x0, end=x1)
            self.figure.y_range.update(start=y0, end=y1)


def _weak_hook(method):
    """A plot hook that calls ``method`` without holding its object.

    HoloViews keeps an element's options in its global ``Store`` until the element is
    garbage: a bound method there held the view, and through its watchers the whole
    explorer of every session that ever ran (its frames, its jobs), so the element was
    never garbage either: each closed tab leaked all of it.
    """
    ref = weakref.WeakMethod(method)

    def hook(plot, element):
        bound = ref()
        if bound is not None:
            bound(plot, element)

    return hook


class FractalView(pn.viewable.Viewer):
    """The fractal image, drawn from one byte per pixel and coloured in the browser.

    A Bokeh figure (through HoloViews, which gives it axes, ranges and the ``RangeXY``
    stream) with 65 image layers: a coarse preview underneath and one layer per tile
    slot above it. A finished tile replaces its layer's data source and nothing else:
    each tile costs its own pixels on the wire (colour indices, one byte each). All
    layers are coloured in the browser through one lookup table (a ``CustomJSTransform``
    feeding Bokeh's RGBA image glyph), so a colormap change sends 256 colours, not the
    image.

    Measured, and why it is built this way:

    * The figure draws on a 2-D canvas, not WebGL (HoloViews' default): Bokeh has no
      WebGL image glyph, and with WebGL it copies the whole WebGL canvas once per layer
      on every repaint, which cost chromium 2.5 s of CPU per frame of 17 layers.
    * Tiles arriving together are written in one message (a next-tick callback under
      ``hold``), so that the browser decodes and repaints once for all of them.
    * Layers are written directly rather than through ``Pipe``-fed DynamicMaps: a
      stream event re-evaluates every layer of an overlay (200-300 ms of server time per
      tile for 17 layers, against about a millisecond for a data source).

    The plot is in units of the span of its :attr:`origin`, as offsets from its centre
    (see the module docstring). The user's zoom and pan land in :attr:`x_range` and
    :attr:`y_range` when a gesture ends, and in :attr:`live_range` while it goes on (a
    server session only), in those units.
    """

    origin = param.ClassSelector(
        class_=Viewport,
        default=FractalConfig().viewport,
        doc="The view the plot is drawn around: its centre is 0, its span 1.",
    )
    aspect = param.Number(default=1.0, bounds=(0, None), doc="Height / width of the frames.")
    x_range = param.Range(
        default=(-0.5, 0.5),
        doc="Real axis of the plot as the user last left it (zoom, pan), in spans.",
    )
    y_range = param.Range(
        default=(-0.5, 0.5), doc="Imaginary axis of the plot as the user last left it."
    )
    live_range = param.Tuple(
        default=None,
        allow_None=True,
        length=2,
        doc="((x0, x1), (y0, y1)) of the plot while a pan or zoom is under way.",
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
    provisional = param.Boolean(
        default=False,
        doc="True while the image is a coarse preview of the config asked for (not stale, "
        "not finished either): said over it, too.",
    )
    size = param.Integer(default=640, bounds=(128, 2048), doc="Plot edge in screen pixels.")

    def __init__(self, **params):
        super().__init__(**params)
        self._layers = [_blank() for _ in range(LAYERS)]
        self._filled: set[int] = set()
        self._copies: dict[int, _Copy] = {}
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        # HoloViews draws the axes, owns the ranges and gives the RangeXY stream; its own
        # image is a transparent pixel, and the layers are Bokeh renderers (see _attach).
        base = hv.Image(np.zeros((1, 1)), bounds=(x0, y0, x1, y1)).opts(
            alpha=0,
            colorbar=False,
            default_tools=[],
            tools=[],
            frame_width=self.size,
            frame_height=self.size,
            xlim=self.x_range,
            ylim=self.y_range,
            xlabel="Re(z) − centre",
            ylabel="Im(z) − centre",
            toolbar="above",
            hooks=[_weak_hook(self._attach)],
        )
        self._range_stream = hv.streams.RangeXY(source=base)
        self._range_stream.add_subscriber(self._on_range)
        self._pane = pn.pane.HoloViews(base, linked_axes=False)
        # A fixed-height line whose text changes: showing or hiding a pane would make
        # the browser lay out the whole page again, many times during a drag.
        self._banner = Banner(
            value=self._banner_value(), height=26, width=self.size, margin=(0, 10),
            css_classes=["stale-banner"],
        )  # fmt: skip
        # Where the view is and how deep: the axes only say offsets from the centre.
        self._position = pn.pane.HTML(
            self.origin.describe(), margin=(0, 10), css_classes=["view-position"]
        )
        self._layout = pn.Column(
            self._banner, self._pane, self._position, css_classes=["fractal-view"]
        )

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

    # -- what the render session calls (a Painter) --------------------------------------------
    def show_preview(self, config: FractalConfig, indices: np.ndarray) -> None:
        """Show ``indices`` over ``config``'s whole view and clear the tiles shown before."""
        changes = {layer: _blank() for layer in self._filled}
        self._filled.clear()
        changes[0] = _image(indices, self._extent(config))
        self._send(changes)

    def show_tiles(self, config: FractalConfig, tiles: list[tuple[Tile, np.ndarray]]) -> None:
        """Draw finished tiles of ``config`` (colour indices, row 0 at the bottom)."""
        changes = {}
        for tile, indices in tiles:
            layer = slot(tile)
            self._filled.add(layer)
            changes[layer] = _image(indices, tile_bounds(config, tile, self.origin))
        self._send(changes)

    def locate(self, viewport: Viewport) -> None:
        """Say where the view asked for is, and how deep (the line under the plot)."""
        self._position.object = viewport.describe()

    def recentre(self, origin: Viewport, aspect: float) -> None:
        """Draw around ``origin`` from now on: what is shown stays where it is on screen
        (its layers move, their pixels stay in the browser), the axes return to the whole
        view, and the position line says where it is."""
        if origin == self.origin and aspect == self.aspect:
            return
        old = self.origin
        x, y, scale = placement(old, origin)
        moved = {}
        for layer, data in enumerate(self._layers):
            if not data["image"]:
                continue
            (left,), (bottom,), (dw,), (dh,) = data["x"], data["y"], data["dw"], data["dh"]
            columns = {
                "x": [x + left * scale],
                "y": [y + bottom * scale],
                "dw": [dw * scale],
                "dh": [dh * scale],
            }
            self._layers[layer] = {**data, **columns}
            moved[layer] = columns
        x_range, y_range = home(aspect)
        self.param.update(origin=origin, aspect=aspect, x_range=x_range, y_range=y_range)
        self.locate(origin)
        self._send({}, moved=moved, span=tick_args(origin), viewport=(x_range, y_range))

    def show_tile(self, config: FractalConfig, tile: Tile, indices: np.ndarray) -> None:
        """Draw one finished tile of ``config``."""
        self.show_tiles(config, [(tile, indices)])

    def set_viewport(self, x_range, y_range) -> None:
        """Move the plot's axes (reset, restoring a view), as if the user had zoomed."""
        self.param.update(x_range=tuple(x_range), y_range=tuple(y_range))
        self._send({}, viewport=(tuple(x_range), tuple(y_range)))

    # -- internals ----------------------------------------------------------------------------
    def _send(self, changes: dict[int, dict], **kwargs) -> None:
        for layer, data in changes.items():
            self._layers[layer] = data
        self._copies = {k: c for k, c in self._copies.items() if c.document is not None}
        for copy in self._copies.values():
            doc = copy.document
            if doc.session_context is None:
                copy.write(changes, **kwargs)  # a notebook or a bare document: no lock
                copy.plot.push()  # to a notebook's comm
                continue
            # Bokeh models of a server session change only under its document lock, in a
            # next-tick callback. Everything that arrives before that tick goes together.
            copy.pending.update(changes)
            for name, value in kwargs.items():
                if name == "moved" and value:
                    # Moves add up in order: the latest place of each layer wins.
                    copy.pending["moved"] = {**copy.pending.get("moved", {}), **value}
                elif value is not None:
                    copy.pending[name] = value
            if not copy.scheduled:
                copy.scheduled = True
                doc.add_next_tick_callback(functools.partial(self._flush, copy))

    @staticmethod
    def _flush(copy: _Copy) -> None:
        pending, copy.pending, copy.scheduled = copy.pending, {}, False
        palette, viewport = pending.pop("palette", None), pending.pop("viewport", None)
        doc = copy.document
        if doc is None:
            return
        moved, span = pending.pop("moved", None), pending.pop("span", None)
        # One websocket message for all of it. (Not frozen: Bokeh recomputes the whole
        # model graph when a freeze ends, and replacing data adds or removes no model.)
        with hold(doc, policy="collect"):
            copy.write(pending, palette, viewport, moved, span)

    @param.depends("colormap", watch=True)
    def _recolour(self) -> None:
        self._send({}, palette=lut(self.colormap))

    def _banner_value(self) -> dict:
        if self.stale:
            return {"kind": "stale", "text": self.stale_reason or "Showing an older view."}
        if self.provisional:
            return {"kind": "preview", "text": "Preview: the full frame follows."}
        return {"kind": "", "text": ""}

    @param.depends("stale", "stale_reason", "provisional", watch=True)
    def _restale(self) -> None:
        self._banner.value = self._banner_value()

    def _attach(self, plot, element) -> None:
        # Runs once per rendered copy of the plot; later copies (another notebook cell)
        # start from what is shown now.
        copy = _Copy(plot, self.colormap)
        figure = copy.figure
        figure.output_backend = "canvas"  # see the class docstring
        # Layers over HoloViews' own (transparent) image: the same level, later in the list.
        level = plot.handles["glyph_renderer"].level
        for layer, source in enumerate(copy.sources):
            source.data = self._layers[layer]
            figure.image_rgba(
                image=transform("image", copy.colours),
                x="x",
                y="y",
                dw="dw",
                dh="dh",
                source=source,
                level=level,
            )
        # The viewport may have moved (a link, a restored view) since the plot was
        # declared: a figure drawn from the old limits would report them back as a zoom.
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        figure.x_range.update(start=x0, end=x1)
        figure.y_range.update(start=y0, end=y1)
        copy.ticks.args = tick_args(self.origin)
        figure.xaxis.formatter = copy.ticks
        figure.yaxis.formatter = copy.ticks
        if not any(isinstance(t, BoxZoomTool) for t in figure.tools):
            wheel = WheelZoomTool(zoom_on_axis=False)
            figure.add_tools(PanTool(), wheel, BoxZoomTool(match_aspect=True))
            figure.toolbar.active_scroll = wheel
        # While a gesture goes on, the browser syncs the ranges on every move; RangeXY
        # reports only its end. Both feed the explorer: live previews, then the frame.
        # (Python callbacks need a server: a notebook gets the gesture's end only.)
        doc = plot.document or pn.state.curdoc
        if doc is not None and doc.session_context is not None:
            for axis in (figure.x_range, figure.y_range):
                axis.on_change("start", functools.partial(self._moving, copy))
                axis.on_change("end", functools.partial(self._moving, copy))
        self._copies[id(figure)] = copy

    def _moving(self, copy: _Copy, attr, old, new) -> None:
        x, y = copy.figure.x_range, copy.figure.y_range
        if None in (x.start, x.end, y.start, y.end):
            return
        live = self._clip((x.start, x.end), (y.start, y.end))
        if live is not None and live != (self.x_range, self.y_range):
            self.live_range = live

    def _on_range(self, x_range=None, y_range=None, **kwargs) -> None:
        if x_range is None or y_range is None:
            return
        clipped = self._clip(x_range, y_range)
        if clipped is not None:
            self.param.update(x_range=clipped[0], y_range=clipped[1])

    def _clip(self, x_range, y_range):
        # To the plane (±4), in spans of the origin: in decimal, as a span of 1e-600 is
        # 0 in float64 (a bound beyond float64's range is infinite: no bound).
        real, imag, span = self.origin.decimals()
        lo, hi = (Decimal(repr(v)) for v in PLANE)
        x0, x1 = (
            max(x_range[0], float((lo - real) / span)),
            min(x_range[1], float((hi - real) / span)),
        )
        y0, y1 = (
            max(y_range[0], float((lo - imag) / span)),
            min(y_range[1], float((hi - imag) / span)),
        )
        return ((x0, x1), (y0, y1)) if x0 < x1 and y0 < y1 else None

    def _extent(self, config: FractalConfig) -> tuple[float, float, float, float]:
        left, bottom, right, top = tile_bounds(
            config, Tile(0, 0, 0, config.height, 0, config.width), self.origin
        )
        return (left, bottom, right, top)
