"""FractalView: layers written tile by tile, tile extents, the stale banner, browser colours.

The view is also rendered to its Bokeh models (``get_root``), as a server would, to check
what would travel to the browser: image arrays per layer, and the colour mappers' palettes.
"""

from __future__ import annotations

import numpy as np
import pytest
from bokeh.models import CustomJSTransform, GlyphRenderer, ImageRGBA
from bokeh.plotting import figure as Figure

from components import FractalView
from components.fractal.controls import FractalControls
from components.fractal.navigation import Navigator
from components.fractal.view import LAYERS, lut, slot, tick_args, tile_bounds
from compute.fractal import FractalConfig, split
from compute.fractal.colour import INSIDE, lookup_table
from compute.fractal.tiles import MAX_TILES_PER_AXIS
from compute.fractal.viewport import Viewport

CONFIG = FractalConfig(
    width=512, height=256, max_iter=50, x_range=(-2.0, 2.0), y_range=(-1.0, 1.0)
)


def indices(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, INSIDE + 1, size=(height, width), dtype=np.uint8)
    values[0, 0] = 7  # row 0 is y_range[0], the bottom of the picture
    return values


def tile_at(config: FractalConfig, row: int, col: int):
    return next(t for t in split(config.width, config.height) if (t.row, t.col) == (row, col))


def image_renderers(root) -> list:
    """Every image layer in the Bokeh document (HoloViews' own transparent pixel aside)."""
    return [r for r in root.select({"type": GlyphRenderer}) if isinstance(r.glyph, ImageRGBA)]


def image_sources(root) -> list:
    """The data source of every image layer in the Bokeh document."""
    return [renderer.data_source for renderer in image_renderers(root)]


def image_arrays(root) -> list[np.ndarray]:
    """The image array of every layer (None where empty), as the browser would get it."""
    return [next(iter(source.data["image"]), None) for source in image_sources(root)]


def test_tile_bounds():
    config = FractalConfig(width=1024, height=512, x_range=(-2.0, 2.0), y_range=(-1.0, 1.0))
    tile = tile_at(config, 1, 2)
    assert (tile.x0, tile.x1, tile.y0, tile.y1) == (512, 768, 256, 512)
    # In spans of the view (4 wide), around its centre.
    assert tile_bounds(config, tile) == (0.0, 0.0, 0.25, 0.25)
    first = tile_at(config, 0, 0)
    assert tile_bounds(config, first) == (-0.5, -0.25, -0.25, 0.0)
    # Around another origin: here the plane's own units.
    plane = Viewport("0", "0", "1")
    assert tile_bounds(config, tile, plane) == (0.0, 0.0, 1.0, 1.0)
    assert tile_bounds(config, first, plane) == (-2.0, -1.0, -1.0, 0.0)


def test_tile_bounds_are_exact_at_depth():
    # 1e-200 wide, 3e-200 right of an origin 330 digits long: float64 ranges could not
    # tell these pixels apart, offsets in spans of the origin can.
    centre = "-1.7" + "3" * 330
    origin = Viewport(centre, "0.1", "1e-200")
    config = FractalConfig(
        fractal="mandelbrot", center_real=f"{origin.center_real}", center_imag="0.1",
        span="1e-200", width=64, height=64,
    )  # fmt: skip
    moved = config.copy(center_real=Viewport(centre, "0.1", "1e-200").pan(3, 0).center_real)
    whole = tile_at(moved, 0, 0).__class__(0, 0, 0, 64, 0, 64)
    assert tile_bounds(moved, whole, origin) == (2.5, -0.5, 3.5, 0.5)
    assert tile_bounds(config, whole, origin) == (-0.5, -0.5, 0.5, 0.5)


def test_tile_bounds_cover_the_view_without_gaps():
    config = FractalConfig(width=1000, height=900, x_range=(-1.3, 0.7), y_range=(-0.4, 1.1))
    tiles = split(config.width, config.height)
    extents = [tile_bounds(config, t, Viewport("0", "0", "1")) for t in tiles]
    assert min(e[0] for e in extents) == pytest.approx(-1.3)
    assert max(e[2] for e in extents) == pytest.approx(0.7)
    # x wins: the y range keeps its middle (0.35) and the frame's aspect (2 * 0.9).
    assert min(e[1] for e in extents) == pytest.approx(0.35 - 0.9)
    assert max(e[3] for e in extents) == pytest.approx(0.35 + 0.9)
    area = sum((e[2] - e[0]) * (e[3] - e[1]) for e in extents)
    assert area == pytest.approx(2.0 * 1.8)


def test_show_preview_fills_layer_0_in_the_frames_orientation():
    view = FractalView(origin=CONFIG.viewport)
    preview = CONFIG.preview(64)
    values = indices(preview.height, preview.width)
    view.show_preview(preview, values)
    shown, bounds = view.layers[0]
    np.testing.assert_array_equal(shown, values)
    assert bounds == (-0.5, -0.25, 0.5, 0.25)


def test_recentring_keeps_what_is_shown_in_place_and_sends_no_pixels():
    view = FractalView(origin=CONFIG.viewport, aspect=0.5)
    root = view.__panel__().get_root()
    view.show_preview(CONFIG, indices(16, 32))
    (figure,) = root.select({"type": Figure})
    sent = image_arrays(root)[0]
    # Zoomed by 2 into a point 1 right of the centre (of a view 4 wide): the old picture
    # now spans [-1.5, 0.5] of the new view's spans, and the axes show the new view whole.
    view.recentre(Viewport("1", "0", "2"), 0.5)
    assert view.layers[0][1] == (-1.5, -0.5, 0.5, 0.5)
    (source,) = [s for s in image_sources(root) if s.data["image"]]
    assert (source.data["x"], source.data["dw"], source.data["y"]) == ([-1.5], [2.0], [-0.5])
    assert image_arrays(root)[0] is sent  # its pixels stayed where they were
    assert (view.x_range, view.y_range) == ((-0.5, 0.5), (-0.25, 0.25))
    assert (figure.x_range.start, figure.x_range.end) == (-0.5, 0.5)
    assert figure.xaxis[0].formatter.args == {"span": 2.0, "exponent": 0}
    assert "zoom 1.6" in view._position.object


def test_show_tile_fills_its_slot_and_a_new_preview_clears_it():
    view = FractalView()
    tile = tile_at(CONFIG, 0, 1)
    assert slot(tile) == 1 + tile.row * MAX_TILES_PER_AXIS + tile.col
    values = indices(tile.y1 - tile.y0, tile.x1 - tile.x0, seed=1)
    view.show_tile(CONFIG, tile, values)

    shown, bounds = view.layers[slot(tile)]
    np.testing.assert_array_equal(shown, values)
    assert bounds == tile_bounds(CONFIG, tile, view.origin) == (0.0, -0.3125, 0.625, 0.3125)
    assert [i for i, layer in enumerate(view.layers) if layer is not None] == [slot(tile)]

    # The next frame's preview blanks the tiles of this one.
    view.show_preview(CONFIG, indices(16, 32))
    assert [i for i, layer in enumerate(view.layers) if layer is not None] == [0]


def test_tiles_of_a_fine_grid_fill_distinct_slots():
    view = FractalView()
    config = CONFIG.copy(width=1024, height=1024)
    tiles = split(config.width, config.height, (MAX_TILES_PER_AXIS, MAX_TILES_PER_AXIS))
    view.show_tiles(config, [(t, indices(*t.shape, seed=i)) for i, t in enumerate(tiles)])
    filled = [i for i, layer in enumerate(view.layers) if layer is not None]
    assert filled == list(range(1, LAYERS)) == sorted(slot(t) for t in tiles)


def test_rendered_layers_receive_the_pixels_and_nothing_else_changes():
    view = FractalView()
    root = view.__panel__().get_root()
    sources = image_sources(root)
    assert len(sources) == LAYERS == 1 + MAX_TILES_PER_AXIS**2
    before = [source.data for source in sources]
    tile = tile_at(CONFIG, 0, 1)
    values = indices(tile.y1 - tile.y0, tile.x1 - tile.x0, seed=2)
    view.show_tile(CONFIG, tile, values)
    changed = [s for s, data in zip(sources, before, strict=True) if s.data is not data]
    (source,) = changed
    # Bokeh draws row 0 at the bottom: the frame's own orientation (row 0 is y_range[0]).
    assert source.data["image"][0] is values
    left, bottom, right, top = tile_bounds(CONFIG, tile, view.origin)
    assert (source.data["x"][0], source.data["y"][0]) == (left, bottom)
    assert (source.data["dw"][0], source.data["dh"][0]) == (right - left, top - bottom)


def test_a_second_rendering_starts_from_what_is_shown():
    view = FractalView()
    view.__panel__().get_root()
    values = indices(64, 128, seed=5)
    view.show_preview(CONFIG, values)
    late = view.__panel__().get_root()
    assert any(a is values for a in image_arrays(late))


def test_the_browser_colours_indices_with_the_servers_lookup_table():
    words = np.array(lut("bmy"), dtype=np.uint32)
    assert words.shape == (INSIDE + 1,)
    # Little-endian RGBA words: the bytes of each are the table's row, R first.
    np.testing.assert_array_equal(words.view(np.uint8).reshape(-1, 4), lookup_table("bmy"))
    assert tuple(words[INSIDE:].view(np.uint8)) == (0, 0, 0, 255)  # inside: opaque black


def test_colormap_change_sends_one_table_not_the_image():
    view = FractalView(colormap="fire")
    root = view.__panel__().get_root()
    view.show_preview(CONFIG, indices(64, 128, seed=3))
    tile = tile_at(CONFIG, 0, 1)
    view.show_tile(CONFIG, tile, indices(tile.y1 - tile.y0, tile.x1 - tile.x0, seed=4))
    arrays = image_arrays(root)
    # One lookup table for all layers: a colormap change is 256 colours, once.
    transforms = {
        id(r.glyph.image.transform): r.glyph.image.transform for r in image_renderers(root)
    }
    (colours,) = transforms.values()
    assert isinstance(colours, CustomJSTransform)
    assert colours.args["lut"] == lut("fire")

    view.colormap = "kbc"

    assert colours.args["lut"] == lut("kbc")
    assert all(a is b for a, b in zip(image_arrays(root), arrays, strict=True))


def test_stale_banner_follows_stale_and_provisional():
    view = FractalView()
    assert view._banner.value == {"kind": "", "text": ""}
    view.param.update(stale=True, stale_reason="Rendering the new view…")
    assert view._banner.value == {"kind": "stale", "text": "Rendering the new view…"}
    view.stale_reason = ""
    assert view._banner.value == {"kind": "stale", "text": "Showing an older view."}
    view.provisional = True  # stale says more than provisional
    assert view._banner.value["kind"] == "stale"
    view.stale = False
    assert view._banner.value == {"kind": "preview", "text": "Preview: the full frame follows."}
    view.provisional = False
    assert view._banner.value == {"kind": "", "text": ""}
    # A line of fixed size whose text changes: the page is never laid out again for it.
    assert view._banner.visible is True
    assert view._banner.height is not None


def test_set_viewport_moves_the_ranges():
    view = FractalView()
    root = view.__panel__().get_root()
    view.set_viewport((-1.0, 0.5), [0.0, 1.0])
    assert (view.x_range, view.y_range) == ((-1.0, 0.5), (0.0, 1.0))
    (figure,) = root.select({"type": Figure})
    assert (figure.x_range.start, figure.x_range.end) == (-1.0, 0.5)
    assert (figure.y_range.start, figure.y_range.end) == (0.0, 1.0)


def test_a_viewport_set_before_rendering_is_the_figures_range():
    view = FractalView()
    view.set_viewport((-0.8, -0.7), (0.05, 0.15))
    (figure,) = view.__panel__().get_root().select({"type": Figure})
    assert (figure.x_range.start, figure.x_range.end) == (-0.8, -0.7)
    assert (figure.y_range.start, figure.y_range.end) == (0.05, 0.15)


def test_the_plot_is_recentred_only_where_float64_would_run_out():
    config = FractalConfig(fractal="mandelbrot", width=64, height=64)
    view = FractalView(origin=config.viewport)
    refused = []
    navigator = Navigator(config, view, FractalControls(config=config), refused.append)
    # 10 times deeper: the axes move around the same origin (no reset under the hand).
    config.param.update(span="0.32", center_real="0.32")
    navigator.place()
    assert view.origin.span == "3.2"
    assert view.x_range == pytest.approx((0.05, 0.15))
    assert not navigator.differs(view.x_range, view.y_range)
    # 10,000 times: recentred on the view, whose box is the plot's whole.
    config.param.update(span="3.2e-4")
    navigator.place()
    assert view.origin == config.viewport
    assert (view.x_range, view.y_range) == ((-0.5, 0.5), (-0.5, 0.5))
    # A gesture that makes no view (past the deepest span) is refused and said.
    config.param.update(span="1e-999")
    navigator.place()
    assert navigator.gestured((-0.01, 0.01), (-0.01, 0.01)) is None
    assert "span must be at least 1e-1000" in str(refused[0])
    # A zoom sets the iterations of the new depth; a pan keeps them.
    deeper = navigator.gestured((-0.25, 0.25), (-0.25, 0.25))
    assert navigator.values(deeper)["max_iter"] == FractalControls.iterations_at(deeper.span)
    panned = navigator.gestured((0.0, 1.0), (-0.5, 0.5))
    assert "max_iter" not in navigator.values(panned)


def test_tick_labels_reach_below_float64s_range_as_a_power_of_ten():
    # The axes label offsets from the centre, tick * span: a span of 1e-600 is 0 as a
    # JavaScript number, so it goes as a mantissa and a power of ten from 1e-200 down.
    assert tick_args(Viewport("0", "0", "3.2")) == {"span": 3.2, "exponent": 0}
    assert tick_args(Viewport("0", "0", "2.5e-150")) == {"span": 2.5e-150, "exponent": 0}
    assert tick_args(Viewport("0", "1", "2.5e-600")) == {"span": 2.5, "exponent": -600}
    # A plot drawn that deep gets them (the browser test_deep_zoom.py opens one).
    view = FractalView(origin=Viewport("0", "1", "2.5e-600"))
    (figure,) = view.__panel__().get_root().select({"type": Figure})
    assert figure.xaxis[0].formatter.args == {"span": 2.5, "exponent": -600}
