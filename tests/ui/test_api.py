"""The HTTP API of a real `panel serve app.py --plugins api` on a `dask scheduler` + one
`dask worker`, through a real HTTP client (urllib); the worker's own count of executed
tasks says what the cluster did."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
from pages import PASSWORD, as_user, finished, js, logged_in, token
from PIL import Image

from components.testing import AppServer
from compute.fractal import FractalConfig, render
from compute.fractal.video import probe

pytestmark = [pytest.mark.cluster]

LIGHT = {"max_iter": 120, "width": 192, "height": 128, "c_real": -0.75, "c_imag": 0.11}


def test_a_frame_job_is_computed_once_and_its_result_decodes(api_app, counter):
    counter.reset()
    status, first = js(api_app, "POST", "/api/jobs", {"kind": "frame", "params": LIGHT})
    assert status == 202
    config = FractalConfig(**LIGHT)
    assert first["id"] == config.key
    assert first["links"]["result"] == f"/api/jobs/{config.key}/result"
    # The same request is the same job, and starts no task.
    status, again = js(api_app, "POST", "/api/jobs", {"kind": "frame", "params": LIGHT})
    assert (status, again["id"]) == (202, first["id"])
    job = finished(api_app, first["id"])
    assert job["state"] == "done"
    assert job["parts_done"] == job["parts_total"]
    assert len(counter.tiles_of(config)) == job["parts_total"]
    status, headers, data = api_app.request("GET", f"/api/jobs/{config.key}/result?format=npy")
    assert status == 200
    np.testing.assert_array_equal(np.load(io.BytesIO(data)), render(config))
    status, headers, data = api_app.request(
        "GET", f"/api/jobs/{config.key}/result?colormap=kbc&normalization=log"
    )
    assert (status, headers["Content-Type"]) == (200, "image/png")
    assert Image.open(io.BytesIO(data)).size == (192, 128)
    # Display parameters recolour: no task ran for them.
    assert len(counter.tiles_of(config)) == job["parts_total"]
    status, listing = js(api_app, "GET", "/api/jobs")
    assert config.key in [j["id"] for j in listing["jobs"]]


def test_frame_png_waits_for_its_frame_or_answers_202(api_app):
    query = "max_iter=90&width=96&height=96&x_range=%5B-1.0%2C1.0%5D&y_range=%5B-1.0%2C1.0%5D"
    status, headers, data = api_app.request("GET", f"/api/frame.png?{query}")
    assert (status, headers["Content-Type"]) == (200, "image/png")
    assert Image.open(io.BytesIO(data)).size == (96, 96)
    heavy = "max_iter=4000&width=1024&height=1024&c_real=-0.1&c_imag=0.1&x_range=%5B-0.3%2C0.3%5D"
    status, answer = js(api_app, "GET", f"/api/frame.png?{heavy}&wait=0")
    assert status == 202
    assert answer["links"]["self"] == f"/api/jobs/{answer['id']}"
    # Without authentication, letting go of it takes the token it came with.
    assert js(api_app, "DELETE", f"/api/jobs/{answer['id']}")[0] == 403
    status, deleted = js(api_app, "DELETE", f"/api/jobs/{answer['id']}", **token(answer["token"]))
    assert (status, deleted["state"]) == (200, "cancelled")


def test_a_movie_job_gives_an_mp4(api_app):
    params = {
        "start": {"max_iter": 60},
        "end": {"max_iter": 150, "x_range": [-0.5, 0.5], "y_range": [-0.5, 0.5]},
        "frames": 6,
        "width": 64,
        "height": 64,
    }
    status, job = js(api_app, "POST", "/api/jobs", {"kind": "movie", "params": params})
    assert status == 202
    assert finished(api_app, job["id"])["state"] == "done"
    status, headers, data = api_app.request("GET", f"/api/jobs/{job['id']}/result")
    assert (status, headers["Content-Type"]) == (200, "video/mp4")
    info = probe(data)
    assert (info.codec, info.frames, info.width, info.height) == ("h264", 6, 64, 64)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"kind": "frame", "params": {"max_iter": True}}, 400, "max_iter must be a number"),
        ({"kind": "frame", "params": {"max_iter": "many"}}, 400, "max_iter must be a number"),
        ({"kind": "frame", "params": {"max_iter": 2.5}}, 400, "integer"),
        ({"kind": "frame", "params": {"width": 10**30}}, 400, "width"),
        ({"kind": "frame", "params": {"c_real": 1e308 * 10}}, 400, "JSON"),
        ({"kind": "frame", "params": {"x_range": [0, 0]}}, 400, "increasing"),
        ({"kind": "frame", "params": {"x_range": "wide"}}, 400, "pair"),
        ({"kind": "frame", "params": {"colour": "red"}}, 400, "Unknown parameter"),
        ({"kind": "frame", "params": {"fractal": "cantor"}}, 400, "fractal"),
        ({"kind": "frame", "params": []}, 400, "object"),
        ({"kind": "sound", "params": {}}, 400, "kind must be"),
        ({"kind": "frame", "params": {}, "extra": 1}, 400, "Unknown field"),
        ([1, 2], 400, "must be an object"),
        (
            {"kind": "frame", "params": {"width": 4096, "height": 4096, "max_iter": 9000}},
            413,
            "budget",
        ),
        ({"kind": "movie", "params": {"frames": 600, "width": 1920, "height": 1920}}, 413, "Mpx"),
        ({"kind": "movie", "params": {"frames": 1}}, 400, "frames"),
    ],
)
def test_bad_requests_get_a_json_error_and_no_traceback(api_app, body, status, says):
    got, answer = js(api_app, "POST", "/api/jobs", body)
    assert (got, answer["status"]) == (status, status)
    assert says in answer["error"]
    assert "Traceback" not in answer["error"]


def test_malformed_json_nan_unknown_ids_and_bad_queries(api_app):
    for raw in (b"{not json", b'{"kind": "frame", "params": {"c_real": NaN}}', b""):
        status, answer = js(api_app, "POST", "/api/jobs", raw=raw)
        assert status == 400, raw
        assert answer["error"]
    assert js(api_app, "GET", "/api/jobs/no-such-job")[0] == 404
    assert js(api_app, "GET", "/api/jobs/no-such-job/result")[0] == 404
    assert js(api_app, "DELETE", "/api/jobs/no-such-job")[0] == 404
    assert js(api_app, "GET", "/api/frame.png?max_iter=%5B1%5D")[0] == 400
    assert js(api_app, "GET", "/api/frame.png?wait=soon")[0] == 400
    status, answer = js(api_app, "POST", "/api/jobs", {"kind": "frame", "params": LIGHT})
    assert js(api_app, "GET", f"/api/jobs/{answer['id']}/result?format=tiff")[0] in (400, 202)


def test_a_client_over_its_cap_gets_429(api_app):
    ids = []
    for n in range(9):
        params = {"max_iter": 4000, "width": 1024, "height": 1024, "c_real": -0.1 + n * 1e-4,
                  "c_imag": 0.1, "x_range": [-0.3, 0.3], "y_range": [-0.3, 0.3]}  # fmt: skip
        status, answer = js(api_app, "POST", "/api/jobs", {"kind": "frame", "params": params})
        if status == 429:
            assert answer["cap"] == "jobs", answer
            assert "8 jobs in flight" in answer["error"]
            break
        assert status == 202
        ids.append((answer["id"], answer["token"]))
    else:
        raise AssertionError("nine heavy jobs in flight were never refused")
    assert len(ids) >= 1
    for job_id, held in ids:
        assert js(api_app, "DELETE", f"/api/jobs/{job_id}", **token(held))[0] == 200


@pytest.fixture(scope="module")
def auth_app(tmp_path_factory, dask_cli_cluster):
    """The app and its API behind Panel's basic authentication."""
    env = {"DASK_SCHEDULER_ADDRESS": dask_cli_cluster.address}
    args = ("--plugins", "api", "--basic-auth", PASSWORD, "--cookie-secret", "test-secret-0123")
    yield from AppServer.running(tmp_path_factory.mktemp("auth-app"), env, "auth", args)


def test_with_authentication_the_api_wants_a_user(auth_app):
    # The dashboard's proxy too: behind the app's login, as the API.
    paths = ["/api/jobs", "/api/frame.png", "/dask-dashboard/individual-plots.json"]
    for method, path in [("POST", "/api/jobs")] + [("GET", path) for path in paths]:
        status, answer = js(auth_app, method, path, {"kind": "frame", "params": LIGHT})
        assert (status, answer["error"]) == (401, "Authentication required."), path
    # Logged in through Panel's own login form, the API answers.
    opener, base = logged_in(auth_app, "ann")
    request = urllib.request.Request(
        base + "/api/jobs",
        data=json.dumps({"kind": "frame", "params": LIGHT}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with opener.open(request, timeout=60) as answer:
        assert answer.status == 202
    with opener.open(base + "/api/jobs", timeout=60) as answer:
        assert [j["id"] for j in json.load(answer)["jobs"]] == [FractalConfig(**LIGHT).key]


def test_a_job_another_client_wants_is_not_deleted(auth_app):
    heavy = {"max_iter": 4000, "width": 1024, "height": 1024, "c_real": -0.12, "c_imag": 0.1,
             "x_range": [-0.3, 0.3], "y_range": [-0.3, 0.3]}  # fmt: skip
    ann, bob = logged_in(auth_app, "ann"), logged_in(auth_app, "bob")
    status, job = as_user(*ann, "POST", "/api/jobs", {"kind": "frame", "params": heavy})
    assert status == 202
    assert (
        as_user(*bob, "POST", "/api/jobs", {"kind": "frame", "params": heavy})[1]["id"]
        == job["id"]
    )
    status, answer = as_user(*bob, "DELETE", f"/api/jobs/{job['id']}")
    assert (status, answer["error"]) == (409, "Another client still wants this job: it goes on.")
    status, answer = as_user(*ann, "DELETE", f"/api/jobs/{job['id']}")
    assert (status, answer["state"]) == (200, "cancelled")


def test_a_deep_frame_is_asked_for_with_exact_decimals_and_gives_a_png(api_app):
    # A span of 1e-120 around i: no float64 could carry it. Strings, canonical in the key.
    params = {"fractal": "mandelbrot", "center_real": "0", "center_imag": "1.000",
              "span": "1E-120", "max_iter": 900, "width": 96, "height": 64}  # fmt: skip
    status, job = js(api_app, "POST", "/api/jobs", {"kind": "frame", "params": params})
    assert status == 202, job
    described = finished(api_app, job["id"])
    assert described["state"] == "done"
    assert (described["config"]["center_imag"], described["config"]["span"]) == ("1", "1e-120")
    status, headers, data = api_app.request("GET", f"/api/jobs/{job['id']}/result")
    assert (status, headers["Content-Type"]) == (200, "image/png")
    assert Image.open(io.BytesIO(data)).size == (96, 64)
    status, answer = js(api_app, "POST", "/api/jobs", {"kind": "frame", "params": {"span": "0"}})
    assert status == 400
    assert answer["error"].startswith("span")
    # A JSON number for a decimal: refused, saying why (1e-400 would have been 0).
    status, answer = js(api_app, "POST", "/api/jobs", {"kind": "frame", "params": {"span": 1e-9}})
    assert (status, answer["error"].split(" must")[0]) == (400, "span")
    assert "must be a string" in answer["error"]
    # max_iter null: iterations that follow the depth, resolved before the key.
    status, job = js(api_app, "POST", "/api/jobs",
                     {"kind": "frame", "params": {**params, "max_iter": None}})  # fmt: skip
    assert status == 202, job
    assert js(api_app, "GET", f"/api/jobs/{job['id']}")[1]["config"]["max_iter"] > 10_000
    js(api_app, "DELETE", f"/api/jobs/{job['id']}", **token(job["token"]))


def test_the_kinds_open_to_clients_are_described_and_code_never_is(api_app):
    status, answer = js(api_app, "GET", "/api/kinds")
    assert status == 200
    kinds = {k["kind"]: k for k in answer["kinds"]}
    # Calls and graphs are kinds of the engine too, but would run a client's code.
    assert set(kinds) == {"frame", "movie"}
    frame = kinds["frame"]
    assert frame["formats"] == ["png", "npy"]
    schema = frame["parameters"]["properties"]
    assert (schema["max_iter"]["minimum"], schema["max_iter"]["maximum"]) == (1, 1_000_000)
    assert schema["max_iter"]["type"] == ["integer", "null"]
    assert schema["span"]["type"] == schema["center_real"]["type"] == "string"
    assert schema["x_range"]["type"] == "array"  # the old view, still read
    assert schema["fractal"]["enum"] == ["julia", "mandelbrot"]
    assert kinds["movie"]["formats"] == ["mp4", "gif", "webp"]
    assert kinds["movie"]["parameters"]["properties"]["end"]["type"] == "object"
    for code in ("call", "graph"):
        status, refused = js(api_app, "POST", "/api/jobs", {"kind": code, "params": {}})
        assert status == 400
        assert refused["error"] == f'kind must be one of "frame", "movie", not "{code}".'
