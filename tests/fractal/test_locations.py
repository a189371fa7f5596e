"""Famous places: each a valid, cited view, listed as deep as the limit of the moment
allows; and Kalles Fraktaler's ``.kfr`` files read into the same params (KF's view is
4/Zoom high), from real published files (tests/data/kfr, see its README)."""

from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pytest

from components.testing import ROOT
from compute.fractal import FractalConfig, FrameWork, render, viewport
from compute.fractal.config import MAX_ITER
from compute.fractal.locations import (
    KF_IMAGE,
    LOCATIONS,
    location,
    location_params,
    locations,
    read_kfr,
)
from compute.fractal.viewport import DEEPEST, Viewport

KFR = ROOT / "tests" / "data" / "kfr"
#: A citation: an address, then who and what.
CITED = re.compile(r"https?://\S+ - \S.{10,}")


def kfr(name: str) -> str:
    # Bytes as published (CRLF), decoded as the page and the API decode an upload.
    return (KFR / name).read_bytes().decode("utf-8")


def fields(text: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)


@pytest.fixture
def limit(monkeypatch):
    """Set the depth limit of the moment (viewport.MIN_SPAN, which the other modules read
    at each call)."""
    return lambda span: monkeypatch.setattr(viewport, "MIN_SPAN", span)


# -- the places ---------------------------------------------------------------------------------
def test_every_place_is_a_valid_view_with_its_source_cited():
    names = [place.name for place in LOCATIONS]
    assert len(names) == len(set(names))
    assert 6 <= len(names) <= 10
    spans = [Decimal(place.span) for place in LOCATIONS]
    assert spans == sorted(spans, reverse=True), "shallowest first"
    for place in LOCATIONS:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", place.name), place.name
        assert CITED.search(place.source), place.source
        assert place.note
        assert place.title
        # Valid at its own depth, whatever the limit of the moment.
        Viewport(place.center_real, place.center_imag, place.span, min_span=str(DEEPEST))
        if place.available:
            config = FractalConfig(**place.params(), width=64, height=64)
            assert config.fractal == "mandelbrot"
            assert config.max_iter == place.max_iter or place.max_iter is None
    # From shallow classics to deep zooms, the deep ones published with their digits.
    assert spans[0] > Decimal("1e-3")
    assert spans[-1] < Decimal("1e-300")
    deep = [place for place in LOCATIONS if Decimal(place.span) < Decimal("1e-100")]
    assert len(deep) >= 3
    for place in deep:
        assert "github.com" in place.source
        assert re.search(r"/blob/[0-9a-f]{40}/", place.source)


def test_places_deeper_than_the_limit_of_the_moment_are_kept_but_not_listed(limit):
    limit("1e-300")
    listed = [place.name for place in locations()]
    assert "ssssssssss" not in listed
    assert "dinkydau-flake" in listed
    with pytest.raises(KeyError, match="deeper than the limit, 1e-300"):
        location("ssssssssss")
    limit("1e-1000")  # as the viewport's limit is being raised: listed, no other edit
    assert "ssssssssss" in [place.name for place in locations()]
    params = location_params("ssssssssss")
    assert Decimal(params["span"]) == Decimal("1.7777777777777777778e-533")
    assert len(params["center_real"]) > 500  # the digits 1e-533 needs, canonical
    limit("1e-100")
    assert [p.name for p in locations()][-1] == "misiurewicz-i"


def test_an_unknown_place_is_a_key_error_naming_those_there_are():
    with pytest.raises(KeyError) as raised:
        location("atlantis")
    message = raised.value.args[0]
    assert message.startswith("'atlantis' is no famous place; there are: elephant-valley, ")
    assert all(place.name in message for place in locations())


def test_a_place_without_iterations_gets_the_depths():
    params = location_params("seahorse-valley")
    assert params == {
        "fractal": "mandelbrot",
        "center_real": "-0.746223962861",
        "center_imag": "-0.0959468433527",
        "span": "0.00745",
        "max_iter": None,
    }
    assert FractalConfig(**params).max_iter == 552  # auto_max_iter("0.00745")
    # A published count is kept: fractalshades' 12.e-22 is our 1.2e-21.
    assert location_params("double-embedded-julia")["max_iter"] == 100_000
    assert location_params("double-embedded-julia")["span"] == "1.2e-21"


def test_a_shallow_place_renders_both_sides_of_the_boundary():
    config = FractalConfig(**location_params("seahorse-valley"), width=48, height=48)
    values = render(config, threads=1)
    inside = np.isnan(values).mean()
    assert 0.05 < inside < 0.6, inside  # the valley between the cardioid and the bulb


def test_the_misiurewicz_point_i_is_in_the_set_and_almost_nothing_around_it_is():
    # 17 pixels a side: the middle pixel's centre is c = i exactly, whose orbit
    # 0, i, -1+i, -i, -1+i, ... is bounded; the set there is a dendrite, of no area.
    config = FractalConfig(**location_params("misiurewicz-i"), width=17, height=17)
    assert config.deep
    values = render(config, threads=1)
    assert np.isnan(values[8, 8])
    assert np.isnan(values).sum() <= 3


# -- Kalles Fraktaler's files ---------------------------------------------------------------------
def test_a_published_kfr_reads_as_kf_shows_it():
    text = kfr("5e227.kfr")
    assert "\r\n" in text  # as published, from Windows
    notes: list[str] = []
    params = read_kfr(text, notes)
    # KF's view is 4/Zoom high; the file gives no image size: KF's default, 640x360.
    assert KF_IMAGE == (640, 360)
    assert Decimal(params["span"]) == Decimal("1.4222222222222222222e-227")  # 4/5e227*16/9
    published = fields(text)
    for ours, theirs in (("center_real", "Re"), ("center_imag", "Im")):
        value = Decimal(params[ours])
        # The centre as written, to the digits its depth needs (span * 1e-25).
        assert abs(value - Decimal(published[theirs])) <= Decimal("1e-252")
        assert -value.as_tuple().exponent <= 252
    assert params["center_real"].startswith("-0.7496244973787616820786262042683613868452952")
    assert params["max_iter"] == MAX_ITER  # 1200000 capped
    assert any("640x360" in note for note in notes)
    assert any("1200000 capped" in note for note in notes)
    FractalConfig(**params, width=64, height=64)
    # The same file with LF line ends, and a byte-order mark: the same view.
    assert read_kfr("\ufeff" + text.replace("\r\n", "\n")) == params


def test_a_kfr_deeper_than_the_limit_is_refused_until_the_limit_reaches_it(limit):
    text = kfr("4e533.kfr")
    limit("1e-300")
    with pytest.raises(ValueError, match=r"^line 3 \(Zoom\): span must be at least 1e-300"):
        read_kfr(text)
    limit("1e-1000")
    assert read_kfr(text) == location_params("ssssssssss")  # the place is this file


def test_an_image_size_in_the_file_gives_the_width():
    base = "Re: -0.75\r\nIm: 0.1\r\nZoom: 100\r\nIterations: 5000\r\n"
    notes: list[str] = []
    assert read_kfr(base + "ImageWidth: 1920\r\nImageHeight: 1080\r\n", notes) == {
        "fractal": "mandelbrot",
        "center_real": "-0.75",
        "center_imag": "0.1",
        "span": "0.071111111111111111111",  # 4/100 * 16/9
        "max_iter": 5000,
    }
    assert notes == []
    square = read_kfr(base + "ImageWidth: 500\nImageHeight: 500\nRotateAngle: 0\nRatio: 360")
    assert square["span"] == "0.04"  # 4/Zoom: the height, and here the width too
    notes = []
    read_kfr(base + "RotateAngle: 30\nImagPointsUp: 1\nStretchAmount: 0\nColors: 1,2,3,", notes)
    assert notes[-1] == "Not applied (KF's transformations): RotateAngle, ImagPointsUp."
    notes = []
    assert read_kfr("Re: 0\nIm: 1\nZoom: 1e10", notes)["max_iter"] is None
    assert "follow the depth" in notes[-1]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no Zoom line: not a Kalles Fraktaler location file."),
        ("\x89PNG\r\n\x1a\n", "line 1 is not 'Name: value': '\\x89PNG'."),
        ("Re: 0\nIm: 0\n", "no Zoom line"),
        ("Zoom: 1\nIm: 0\n", "no Re line"),
        ("Re: 0\nIm: 0\nZoom: many", "line 3 (Zoom): not a decimal number: 'many'."),
        ("Re: 0\nIm: 0\nZoom: 0", "line 3 (Zoom): must be positive, not 0."),
        ("Re: 0\nIm: 0\nZoom: 0.25", "line 3 (Zoom): span must be at most 8"),
        ("Re: 0\nIm: 0\nZoom: 1e1001", "line 3 (Zoom): span must be at least"),
        ("Re: 0,5\nIm: 0\nZoom: 1", "line 1 (Re): not a decimal number: '0,5'."),
        ("Re: 0\nIm: -4.5\nZoom: 1", "line 2 (Im): center_imag must be within ±4"),
        ("Re: 0\nIm: 0\nRe: 1\nZoom: 1", "line 3: Re again (first on line 1)."),
        ("Re: 0\nIm: 0\nZoom: 1\nIterations: 2.5", "line 4 (Iterations): not a positive"),
        ("Re: 0\nIm: 0\nZoom: 1\nIterations: 0", "line 4 (Iterations): not a positive"),
        ("Re: 0\nIm: 0\nZoom: 1\nIterations: 1e999999999", "(Iterations): not a positive"),
        ("Re: 0\nIm: 0\nZoom: 1e-99999999999999999999", "(Zoom): '1e-99999999999999999999' is"),
        ("Re: 0\nIm: 0\nZoom: 1e-999999999999999999", "line 3 (Zoom): span must be at most 8"),
        ("Re: 0\nIm: 0\nZoom: 1\nFractalType: 4", "line 4 (FractalType): 4 is not the Mandel"),
        ("Power: 3\nRe: 0\nIm: 0\nZoom: 1", "line 1 (Power): 3 is not the Mandelbrot set"),
        ("Re: 0\nIm: 0\nZoom: 1\nImageWidth: -640", "line 4 (ImageWidth): not a positive"),
        ("Re: 0\nIm: 0\nZoom: 1\n\n  just words here", "line 5 is not 'Name: value'"),
    ],
)
def test_a_bad_kfr_is_refused_naming_the_line_and_the_field(text, says):
    with pytest.raises(ValueError, match=re.escape(says)):
        read_kfr(text)


def test_a_huge_field_is_refused_without_reading_it_all():
    with pytest.raises(ValueError, match=r"line 1 \(Re\): not a decimal number: '1111"):
        read_kfr("Re: " + "1" * 100_000 + "\nIm: 0\nZoom: 1")


# -- a frame asked for by a place's name (the HTTP API's frame.png and frame jobs) ---------------
def test_a_frame_is_asked_for_by_a_place_name_the_values_beside_it_winning():
    work = FrameWork.from_params({"location": "seahorse-valley", "width": 64, "height": 48})
    assert work.config.viewport == Viewport("-0.746223962861", "-0.0959468433527", "0.00745")
    config = work.config
    assert (config.fractal, config.max_iter, config.height) == ("mandelbrot", 552, 48)
    work = FrameWork.from_params({"location": "seahorse-valley", "max_iter": 90, "span": "0.1"})
    assert (work.config.span, work.config.max_iter) == ("0.1", 90)
    # The old ranges stand for the whole view: the place's centre and span give way.
    ranges = {"x_range": [-1, 1], "y_range": [-1, 1]}
    work = FrameWork.from_params({"location": "misiurewicz-i", **ranges})
    assert (work.config.center_imag, work.config.span) == ("0", "2")
    for bad, says in (("atlantis", "location 'atlantis' is no famous place"), (7, "not 7")):
        with pytest.raises(ValueError, match=says):
            FrameWork.from_params({"location": bad})
    schema = FrameWork.parameters()["properties"]["location"]
    assert schema["enum"] == [place.name for place in locations()]
