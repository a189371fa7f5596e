"""FamousPlaces: a place, or a Kalles Fraktaler file, is one change of the config; a bad
file changes nothing and says why."""

from __future__ import annotations

import panel as pn
import pytest

from components import FractalControls
from components.fractal.places import NOWHERE, FamousPlaces
from components.testing import ROOT
from compute.fractal import FractalConfig, viewport
from compute.fractal.locations import locations

KFR = ROOT / "tests" / "data" / "kfr"


@pytest.fixture
def places():
    return FamousPlaces(config=FractalConfig(width=256, height=256, max_iter=100))


def changes(config) -> list:
    seen: list = []
    config.param.watch(lambda *events: seen.append({e.name for e in events}), list(config.param))
    return seen


def open_file(places: FamousPlaces, name: str, data: bytes) -> None:
    """What the browser's upload does: the file's name, then its bytes."""
    places._file.param.update(filename=name, value=data)


def test_the_list_holds_the_places_the_depth_limit_reaches(places):
    options = places._select.options
    assert next(iter(options)) == NOWHERE
    assert list(options.values())[1:] == [place.name for place in locations()]


def test_a_place_is_one_change_of_the_config_and_is_shown_until_the_view_moves(places):
    config = places.config
    seen = changes(config)
    places._select.value = "seahorse-valley"
    assert seen == [{"fractal", "center_real", "center_imag", "span", "max_iter"}]
    assert (config.fractal, config.center_real, config.span) == (
        "mandelbrot",
        "-0.746223962861",
        "0.00745",
    )
    assert config.max_iter == 552  # none published: the depth's
    places._select.value = "double-embedded-julia"
    assert (config.span, config.max_iter) == ("1.2e-21", 100_000)
    assert places.place == "double-embedded-julia"
    config.span = "1e-21"  # a zoom: the list no longer says where the view is
    assert places.place == ""
    assert places._select.value == ""


def test_a_kfr_file_opens_its_view_and_says_what_it_assumed(places, monkeypatch):
    config = places.config
    seen = changes(config)
    monkeypatch.setattr(viewport, "MIN_SPAN", "1e-300")  # a server with a shallower limit
    open_file(places, "4e533.kfr", (KFR / "4e533.kfr").read_bytes())
    # Deeper than this server's limit: refused, named, and nothing moved.
    assert "4e533.kfr not opened: line 3 (Zoom): span must be at least" in places.refused
    assert seen == []
    open_file(places, "5e227.kfr", (KFR / "5e227.kfr").read_bytes())
    assert places.refused == ""
    assert len(seen) == 1
    assert config.span == "1.4222222222222222222e-227"
    assert config.center_real.startswith("-0.74962449737876168207862620426836138684529")
    assert "640x360" in places.note
    assert "capped" in places.note
    open_file(places, "photo.kfr", b"\x89PNG\r\n\x1a\n\x00\xff")
    assert places.refused == (
        "photo.kfr not opened: it is no text; a .kfr file is lines 'Name: value'."
    )
    assert places.note == ""
    assert config.span == "1.4222222222222222222e-227"


def test_the_controls_show_the_places():
    controls = FractalControls()
    assert controls.places.config is controls.config
    layout = controls.__panel__()
    assert layout.select(pn.widgets.FileInput) == [controls.places._file]
    assert controls.places._select in layout.select(pn.widgets.Select)
