"""Famous places and Kalles Fraktaler files in a real browser, and through the HTTP API, on
a real ``panel serve app.py --plugins api``: a place chosen moves the view (the link says
so, to the centre's last digit), a ``.kfr`` uploaded opens its view, a bad one says why."""

from __future__ import annotations

import io

import pytest
from pages import deep_text, js, link, url_config, wait_state, wait_text, wait_url
from PIL import Image

from compute.fractal import FractalConfig
from compute.fractal.locations import location, location_params, locations

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

#: A small view, so that each frame is cheap.
SMALL = {"fractal": "mandelbrot", "width": 192, "height": 192, "max_iter": 200}
#: A Kalles Fraktaler location, as KF writes one (CRLF): 4/40 high, 640x360 by default.
KFR = b"Re: -0.75\r\nIm: 0.1\r\nZoom: 40\r\nIterations: 400\r\nColors: 0,0,0,\r\n"


def open_small(page, app) -> None:
    page.goto(link(app, **SMALL))
    wait_state(page, "done", "cached")


def upload(page, name: str, data: bytes) -> None:
    page.locator(".kfr-file input[type=file]").set_input_files(
        files=[{"name": name, "mimeType": "application/octet-stream", "buffer": data}]
    )


def test_choosing_a_famous_place_moves_the_view_to_its_last_digit(page, api_app):
    open_small(page, api_app)
    place = location_params("double-embedded-julia")
    title = location("double-embedded-julia").title  # the list shows the places' titles
    page.locator(".famous-places select").select_option(label=title)
    shown = wait_url(page, lambda c: c.span == place["span"], "the place's span")
    assert (shown.center_real, shown.center_imag) == (place["center_real"], place["center_imag"])
    assert shown.center_real == "-1.76866786283748881262741947"  # as published, canonical
    assert (shown.max_iter, shown.width) == (100_000, 192)  # its iterations; the size kept
    wait_text(page, ".view-position", "at -1.76866786284+0.00164558054682i")
    wait_state(page, "done", "cached")


def test_an_uploaded_kfr_opens_its_view_and_says_what_it_assumed(page, api_app):
    open_small(page, api_app)
    upload(page, "valley.kfr", KFR)
    shown = wait_url(page, lambda c: c.center_real == "-0.75", "the file's view")
    assert (shown.center_imag, shown.max_iter) == ("0.1", 400)
    assert shown.span == "0.17777777777777777778"  # 4/40 x 640/360
    wait_text(page, ".kfr-note", "KF's default image (640x360) assumed")
    wait_state(page, "done", "cached")


def test_a_bad_kfr_says_why_and_moves_nothing(page, api_app):
    open_small(page, api_app)
    before = url_config(page)
    upload(page, "broken.kfr", b"Re: -0.75\r\nIm: 0.1\r\nZoom: forty\r\n")
    said = wait_text(page, ".kfr-refused", "broken.kfr not opened: line 3 (Zoom)")
    assert "not a decimal number: 'forty'" in said
    assert "Traceback" not in deep_text(page, "body")
    page.wait_for_timeout(500)
    assert url_config(page).key == before.key


def test_the_api_lists_the_places_draws_one_and_reads_a_kfr(api_app):
    status, answer = js(api_app, "GET", "/api/locations")
    assert status == 200
    listed = {place["name"]: place for place in answer["locations"]}
    assert list(listed) == [place.name for place in locations()]
    seahorse = listed["seahorse-valley"]
    assert seahorse["params"] == location_params("seahorse-valley")
    assert seahorse["source"].startswith("https://github.com/GBillotey/Fractalshades/blob/")
    # A place's picture by its name; the values beside it win.
    query = "location=seahorse-valley&width=64&height=48&max_iter=150"
    status, headers, data = api_app.request("GET", f"/api/frame.png?{query}&wait=30")
    assert (status, headers["Content-Type"]) == (200, "image/png")
    assert Image.open(io.BytesIO(data)).size == (64, 48)
    # The same in a frame job's params: the same frame, the same job.
    beside = {"width": 64, "height": 48, "max_iter": 150}
    params = {"location": "seahorse-valley", **beside}
    status, job = js(api_app, "POST", "/api/jobs", {"kind": "frame", "params": params})
    assert status == 202
    assert job["id"] == FractalConfig(**{**location_params("seahorse-valley"), **beside}).key
    status, refused = js(api_app, "GET", "/api/frame.png?location=atlantis")
    assert status == 400
    assert refused["error"].startswith("location 'atlantis' is no famous place; there are: ")
    # A .kfr read: its params, nothing started.
    status, read = js(api_app, "POST", "/api/kfr", raw=KFR, **{"Content-Type": "text/plain"})
    assert status == 200
    assert read["params"]["span"] == "0.17777777777777777778"
    assert "640x360" in read["notes"][0]
    status, bad = js(api_app, "POST", "/api/kfr", raw=b"Re: 0\nIm: 0\n")
    assert (status, bad["status"]) == (400, 400)
    assert bad["error"] == "no Zoom line: not a Kalles Fraktaler location file."
    status, bad = js(api_app, "POST", "/api/kfr", raw=b"\xff\xfe")
    assert (status, bad["error"]) == (400, "The body must be a .kfr file's text (UTF-8).")
    # From another site's page: refused, as every route of the API.
    status, _ = js(api_app, "POST", "/api/kfr", raw=KFR, **{"Sec-Fetch-Site": "cross-site"})
    assert status == 403
