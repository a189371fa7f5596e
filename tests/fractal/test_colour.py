"""Colour: lookup tables, normalisation of escape values to indices (fitted once, applied to
tiles), shading, PNG export."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from compute import FractalConfig, render, split
from compute.colour import (
    COLORMAPS,
    INSIDE,
    LEVELS,
    NORMALIZATIONS,
    Normalizer,
    lookup_table,
    normalize,
    palette_hex,
    shade,
    to_png,
)


def test_constants():
    assert INSIDE == 255
    assert LEVELS == 255
    assert set(NORMALIZATIONS) == {"eq_hist", "log", "linear"}


def test_lookup_table_shape_dtype_read_only():
    table = lookup_table("fire")
    assert table.shape == (256, 4)
    assert table.dtype == np.uint8
    assert not table.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        table[0, 0] = 1


def test_lookup_table_inside_colour():
    assert tuple(lookup_table("fire")[INSIDE]) == (0, 0, 0, 255)
    table = lookup_table("viridis", (10, 20, 30, 40))
    assert tuple(table[INSIDE]) == (10, 20, 30, 40)
    # The escaped levels do not depend on the inside colour.
    np.testing.assert_array_equal(table[:LEVELS], lookup_table("viridis")[:LEVELS])


@pytest.mark.parametrize("name", list(COLORMAPS))
def test_every_colormap_loads(name):
    table = lookup_table(name)
    assert table.shape == (256, 4)
    assert table.dtype == np.uint8
    assert (table[:LEVELS, 3] == 255).all()
    # A colormap, not a constant: the levels vary.
    assert len({tuple(row) for row in table[:LEVELS, :3]}) > 50
    hexes = palette_hex(name)
    assert len(hexes) == LEVELS
    assert hexes[0] == "#{:02x}{:02x}{:02x}".format(*table[0, :3])
    assert all(len(h) == 7 and h.startswith("#") for h in hexes)


def test_colormaps_differ():
    assert not np.array_equal(lookup_table("fire"), lookup_table("kbc"))
    assert not np.array_equal(lookup_table("viridis"), lookup_table("inferno"))


def test_fire_runs_from_black_to_white():
    table = lookup_table("fire")
    assert tuple(table[0, :3]) == (0, 0, 0)
    assert tuple(table[LEVELS - 1, :3]) == (255, 255, 255)


def test_unknown_colormap_rejected():
    with pytest.raises(ValueError, match="Unknown colormap"):
        lookup_table("no-such-colormap")
    with pytest.raises(ValueError, match="Unknown colormap"):
        shade(np.zeros((2, 2)), colormap="no-such-colormap")


def test_unknown_normalization_rejected():
    with pytest.raises(ValueError, match="Unknown normalization"):
        normalize(np.zeros((2, 2)), "sqrt")
    with pytest.raises(ValueError, match="Unknown normalization"):
        shade(np.zeros((2, 2)), how="sqrt")


def sample_values(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 200.0, size=(60, 80))
    values[rng.random(values.shape) < 0.2] = np.nan
    return values


@pytest.mark.parametrize("how", NORMALIZATIONS)
def test_normalize_nan_inside_escaped_below(how):
    values = sample_values()
    index = normalize(values, how)
    assert index.shape == values.shape
    assert index.dtype == np.uint8
    inside = np.isnan(values)
    assert (index[inside] == INSIDE).all()
    assert (index[~inside] <= LEVELS - 1).all()
    # The extremes get the first and last colours.
    assert index[~inside].min() == 0
    assert index[~inside].max() == LEVELS - 1


@pytest.mark.parametrize("how", NORMALIZATIONS)
def test_normalize_inf_is_inside(how):
    index = normalize(np.array([1.0, np.inf, -np.inf, 2.0]), how)
    assert index[1] == INSIDE
    assert index[2] == INSIDE
    assert index[0] == 0


@pytest.mark.parametrize("how", NORMALIZATIONS)
def test_normalize_is_monotonic(how):
    rng = np.random.default_rng(1)
    values = np.sort(np.concatenate([rng.exponential(5.0, 3000), rng.uniform(0, 100, 1000)]))
    index = normalize(values, how)
    assert (np.diff(index.astype(np.int64)) >= 0).all()
    # ... and the order does not come from the sorted input: shuffled in, same mapping.
    order = rng.permutation(values.size)
    np.testing.assert_array_equal(normalize(values[order], how), index[order])
    # It uses the whole range of levels.
    assert len(np.unique(index)) > 100


@pytest.mark.parametrize("how", NORMALIZATIONS)
def test_normalize_constant_input(how):
    values = np.full((5, 7), 12.5)
    values[0, 0] = np.nan
    index = normalize(values, how)
    assert index[0, 0] == INSIDE
    assert (index.ravel()[1:] == 0).all()


@pytest.mark.parametrize("how", NORMALIZATIONS)
def test_normalize_all_nan(how):
    index = normalize(np.full((4, 3), np.nan), how)
    assert index.shape == (4, 3)
    assert (index == INSIDE).all()


@pytest.mark.parametrize("how", NORMALIZATIONS)
def test_normalize_empty(how):
    assert normalize(np.empty((0, 5)), how).shape == (0, 5)


def test_normalize_linear_values():
    index = normalize(np.array([0.0, 50.0, 100.0]), "linear")
    np.testing.assert_array_equal(index, [0, 127, 254])


def test_normalize_does_not_modify_input():
    values = sample_values()
    before = values.copy()
    for how in NORMALIZATIONS:
        normalize(values, how)
    np.testing.assert_array_equal(values, before)


def test_eq_hist_spreads_skewed_values_evenly():
    values = np.random.default_rng(2).exponential(1.0, 100_000)
    counts = {
        how: np.bincount(normalize(values, how), minlength=256)[:LEVELS]
        for how in ("eq_hist", "linear")
    }
    ideal = values.size / LEVELS
    # Linear: most pixels crowd into the lowest levels, most levels are nearly empty.
    assert counts["linear"].max() > 10 * ideal
    assert (counts["linear"] < ideal / 10).sum() > LEVELS / 2
    # eq_hist: every level holds about its share.
    assert counts["eq_hist"].max() < 2 * ideal
    assert (counts["eq_hist"] > ideal / 3).all()
    assert counts["eq_hist"].std() < counts["linear"].std() / 10


def test_log_compresses_high_values():
    values = np.array([0.0, 1.0, 10.0, 100.0])
    linear = normalize(values, "linear")
    log = normalize(values, "log")
    assert log[1] > linear[1]
    assert log[2] > linear[2]
    assert log[3] == linear[3] == LEVELS - 1


@pytest.mark.parametrize("how", NORMALIZATIONS)
@pytest.mark.parametrize("colormap", ["fire", "viridis"])
def test_shade_is_lookup_of_normalize(how, colormap):
    values = sample_values(3)
    image = shade(values, colormap, how)
    assert image.shape == (*values.shape, 4)
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, lookup_table(colormap)[normalize(values, how)])
    assert (image[np.isnan(values)] == (0, 0, 0, 255)).all()


def test_shade_inside_colour_as_list():
    values = np.array([[np.nan, 1.0], [2.0, np.nan]])
    image = shade(values, "kbc", "linear", inside=[1, 2, 3, 4])
    assert tuple(image[0, 0]) == (1, 2, 3, 4)
    assert tuple(image[1, 1]) == (1, 2, 3, 4)
    assert tuple(image[0, 1]) == tuple(lookup_table("kbc")[0])
    assert tuple(image[1, 0]) == tuple(lookup_table("kbc")[LEVELS - 1])


# --- Normalizer: fitted once, applied to every tile --------------------------------


@pytest.mark.parametrize("how", NORMALIZATIONS)
def test_normalize_is_a_normalizer_fitted_on_its_own_values(how):
    values = sample_values(4)
    np.testing.assert_array_equal(normalize(values, how), Normalizer.fit(values, how)(values))


@pytest.mark.parametrize("how", NORMALIZATIONS)
def test_normalizer_fitted_on_a_preview_colours_tiles_like_the_whole_frame(how):
    config = FractalConfig(max_iter=200, width=512, height=512)
    frame = render(config)
    sample = render(config.preview(64))
    fit = Normalizer.fit(sample, how)
    assert fit.how == how
    assert fit.lo == np.nanmin(sample)
    assert fit.hi == np.nanmax(sample)
    whole = fit(frame)
    assert whole.dtype == np.uint8
    assert (whole[np.isnan(frame)] == INSIDE).all()
    tiles = split(config.width, config.height)
    assert len(tiles) == 4
    for tile in tiles:
        np.testing.assert_array_equal(fit(frame[tile.slices]), whole[tile.slices])
    # Why it matters: each tile normalised on its own gets colours of its own.
    assert any(
        not np.array_equal(normalize(frame[tile.slices], how), whole[tile.slices])
        for tile in tiles
    )


@pytest.mark.parametrize("how", NORMALIZATIONS)
def test_normalizer_clips_values_outside_the_fitted_range(how):
    fit = Normalizer.fit(np.linspace(10.0, 20.0, 101), how)
    index = fit(np.array([-5.0, 9.999, 10.0, 20.0, 20.001, 1e9, np.nan, np.inf]))
    assert index.tolist() == [0, 0, 0, LEVELS - 1, LEVELS - 1, LEVELS - 1, INSIDE, INSIDE]


@pytest.mark.parametrize("how", NORMALIZATIONS)
def test_normalizer_fitted_on_all_nan(how):
    fit = Normalizer.fit(np.full((3, 4), np.nan), how)
    index = fit(np.full((2, 5), np.nan))
    assert index.shape == (2, 5)
    assert (index == INSIDE).all()
    # With no escaped sample there is no range to spread over: escaped values get colour 0.
    assert fit(np.array([1.0, np.nan, 5.0])).tolist() == [0, INSIDE, 0]


def test_normalizer_does_not_modify_its_input():
    values = sample_values(5)
    before = values.copy()
    Normalizer.fit(values, "eq_hist")(values)
    np.testing.assert_array_equal(values, before)


def test_normalizer_rejects_unknown_normalization():
    with pytest.raises(ValueError, match="Unknown normalization"):
        Normalizer.fit(np.zeros(3), "sqrt")
    with pytest.raises(ValueError, match="Unknown normalization"):
        Normalizer("sqrt", 0.0, 1.0)


# --- PNG -------------------------------------------------------------------------


def gradient(height: int = 6, width: int = 10) -> np.ndarray:
    values = np.arange(height * width, dtype=np.float64).reshape(height, width)
    values[0, 0] = np.nan  # inside the set: bottom-left corner of the picture
    return values


def decode(png: bytes) -> Image.Image:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(png))


def test_to_png_is_the_shaded_frame_with_row_0_at_the_bottom():
    values = gradient()
    image = decode(to_png(values, "kbc", "linear"))
    assert image.format == "PNG"
    assert image.size == (10, 6)  # (width, height)
    assert image.mode == "RGBA"
    pixels = np.asarray(image)
    expected = shade(values, "kbc", "linear")
    np.testing.assert_array_equal(pixels[-1], expected[0])
    np.testing.assert_array_equal(pixels[0], expected[-1])
    np.testing.assert_array_equal(pixels[::-1], expected)
    assert tuple(pixels[-1, 0]) == (0, 0, 0, 255)


def test_to_png_defaults_and_inside_colour():
    values = gradient(5, 7)
    np.testing.assert_array_equal(np.asarray(decode(to_png(values))), shade(values)[::-1])
    pixels = np.asarray(decode(to_png(values, "viridis", "log", inside=(1, 2, 3, 4))))
    assert tuple(pixels[-1, 0]) == (1, 2, 3, 4)
    np.testing.assert_array_equal(pixels[::-1], shade(values, "viridis", "log", (1, 2, 3, 4)))
