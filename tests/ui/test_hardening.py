"""What hostile requests found in the API and the caps, each tried as it was found, on a
real `panel serve app.py --plugins api` (with and without ``--basic-auth``) on a
`dask scheduler` + `dask worker`, through real HTTP clients and chromium.

* another user's job read (or cancelled) by its id;
* cross-site requests (a form, a no-cors ``fetch``, an ``<img>``) from pages of another
  port and of another host name, with the user's cookie;
* a result encoded again on every request, uncharged;
* caps reset by a new tab or a new address, anonymous clients cancelling each other's
  work;
* bodies nested too deep, HTML 404s, types sniffed.
"""

from __future__ import annotations

import http.server
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from pages import (
    PASSWORD,
    as_user,
    finished,
    js,
    link,
    log_in,
    logged_in,
    token,
    view_of,
    wait_state,
    wait_text,
)

from components.testing import AppServer, free_port
from compute.fractal.testing import heavy

pytestmark = [pytest.mark.cluster]

LIGHT = {"max_iter": 90, "width": 128, "height": 128, "c_real": -0.75, "c_imag": 0.12}
# Each anonymous address may start 5e9 pixel-iterations a minute (one heavy frame, 4.2e9),
# all of them together four times that.
CAP = 5_000_000_000
POOL = 4


@pytest.fixture(scope="module")
def guarded_app(tmp_path_factory, dask_cli_cluster):
    """The app and its API behind Panel's basic authentication."""
    env = {"DASK_SCHEDULER_ADDRESS": dask_cli_cluster.address}
    args = ("--plugins", "api", "--basic-auth", PASSWORD, "--cookie-secret", "test-secret-23")
    yield from AppServer.running(tmp_path_factory.mktemp("guarded"), env, "guarded", args)


@pytest.fixture(scope="module")
def open_app(tmp_path_factory, dask_cli_cluster):
    """The app and its API without authentication, behind a proxy (``--use-xheaders``:
    a client's address is the one X-Forwarded-For names), with caps."""
    env = {
        "DASK_SCHEDULER_ADDRESS": dask_cli_cluster.address,
        "FRACTAL_MAX_PIXEL_ITERATIONS_PER_MINUTE": str(CAP),
        "FRACTAL_ANONYMOUS_USERS": str(POOL),
    }
    args = ("--plugins", "api", "--use-xheaders")
    yield from AppServer.running(tmp_path_factory.mktemp("open"), env, "open", args)


def call(app, method, path, body=None, raw=None, **headers):
    return app.request(method, path, body, raw, headers=headers)


# -- reads by requesters only ---------------------------------------------------------------------
def test_another_users_job_is_not_found_by_its_id_until_they_ask_for_it(guarded_app):
    ann, bob = logged_in(guarded_app, "ann"), logged_in(guarded_app, "bob")
    # (A user literally named default_user is a user, not everyone.)
    everyone = logged_in(guarded_app, "default_user")
    status, job = as_user(*ann, "POST", "/api/jobs", {"kind": "frame", "params": LIGHT})
    assert status == 202
    job_id = job["id"]
    status, described = as_user(*ann, "GET", f"/api/jobs/{job_id}")
    assert status == 200
    assert described["id"] == job_id
    unknown = as_user(*bob, "GET", "/api/jobs/julia-0123456789abcdef")
    assert unknown[0] == 404
    for other in (bob, everyone):
        for method, path in [
            ("GET", f"/api/jobs/{job_id}"),
            ("GET", f"/api/jobs/{job_id}/result"),
            ("DELETE", f"/api/jobs/{job_id}"),
        ]:
            status, answer = as_user(*other, method, path)
            # The same answer as for an id nobody knows: nothing says it exists.
            assert status == 404, (method, path, answer)
            assert answer["error"] == f"No job {job_id!r}."
        assert as_user(*other, "GET", "/api/jobs")[1]["jobs"] == []
    # Asking for the same work makes bob one of its requesters: the same job, computed
    # once, now his to read too.
    status, his = as_user(*bob, "POST", "/api/jobs", {"kind": "frame", "params": LIGHT})
    assert (status, his["id"]) == (202, job_id)
    status, answer = as_user(*bob, "GET", f"/api/jobs/{job_id}")
    assert status == 200
    assert [j["id"] for j in as_user(*bob, "GET", "/api/jobs")[1]["jobs"]] == [job_id]
    assert as_user(*everyone, "GET", f"/api/jobs/{job_id}")[0] == 404


# -- cross-site requests -------------------------------------------------------------------------
ATTACKS = {
    # A form can post text/plain whose field name carries the JSON.
    "form": """<form id=f method=POST action="{app}/api/jobs" enctype="text/plain">
<input name='{{"kind":"frame","params":{{"max_iter":{it},"width":64,"height":64}},"x":"'
 value='"}}'></form><script>document.getElementById("f").submit()</script>""",
    "fetch": """<script>fetch("{app}/api/jobs", {{method: "POST", mode: "no-cors",
credentials: "include", headers: {{"Content-Type": "text/plain"}},
body: JSON.stringify({{kind: "frame", params: {{max_iter: {it}, width: 64, height: 64}}}})}})
</script>""",
    "img": """<img src="{app}/api/frame.png?max_iter={it}&width=64&height=64">""",
}


class _Attacker(http.server.BaseHTTPRequestHandler):
    """Serves /<attack>/<max_iter> as an attacker's page aimed at the app at ``app``."""

    app = ""

    def do_GET(self) -> None:
        _, attack, it = self.path.split("/")
        page = ATTACKS[attack].format(app=self.app, it=it).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def attacker(guarded_app):
    """An attacker's site on another port of this host, reachable as ``localhost`` (the
    same site as the app, another port) and as ``127.0.0.1`` (another host name)."""
    port = free_port()
    handler = type("Attacker", (_Attacker,), {"app": guarded_app.url.rsplit("/", 1)[0]})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        assert not thread.is_alive()


@pytest.mark.browser
def test_pages_of_other_sites_start_nothing_with_the_users_cookie(tabs, guarded_app, attacker):
    page = tabs.open()
    log_in(page, guarded_app, "carol")
    statuses, it = [], 300
    for host in ("localhost", "127.0.0.1"):
        for attack in ATTACKS:
            it += 1
            with page.expect_request(lambda r: "/api/" in r.url) as sent:
                page.goto(f"http://{host}:{attacker}/{attack}/{it}")
            # (None where the browser itself blocked the answer from the page: an <img>
            # of JSON; the server's answer is then told by what it did not start.)
            answer = sent.value.response()
            statuses.append((host, attack, None if answer is None else answer.status))
    # Refused by the server where the cookie went along (the same site: another port),
    # unauthenticated where the browser kept it back (another host name).
    seen = [(host, status) for host, _, status in statuses if status is not None]
    assert all(status == 403 for host, status in seen if host == "localhost"), statuses
    assert all(status in (401, 403) for _, status in seen), statuses
    assert ("localhost", 403) in seen
    mine = page.request.get(guarded_app.url.rsplit("/", 1)[0] + "/api/jobs").json()["jobs"]
    assert mine == []
    # The app's own origin may: the same fetch from its page starts the job.
    page.goto(guarded_app.url.rsplit("/", 1)[0] + "/api/kinds")
    status = page.evaluate(
        """async () => (await fetch("/api/jobs", {method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({kind: "frame", params: {max_iter: 333, width: 64, height: 64}})
        })).status"""
    )
    assert status == 202


def test_only_json_bodies_and_requests_of_no_other_origin_are_taken(open_app):
    body = {"kind": "frame", "params": LIGHT | {"max_iter": 91}}
    raw = json.dumps(body).encode()
    for media in ("text/plain", "application/x-www-form-urlencoded"):
        status, answer = js(open_app, "POST", "/api/jobs", raw=raw, **{"Content-Type": media})
        assert status == 415, answer
    # A multipart body that is no form is refused by Tornado itself, as JSON still.
    status, answer = js(
        open_app,
        "POST",
        "/api/jobs",
        raw=raw,
        **{"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert status in (400, 415), answer
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:1"},
    ):
        for method, path in (("POST", "/api/jobs"), ("GET", "/api/frame.png?max_iter=91")):
            status, answer = js(open_app, method, path, body, **headers)
            assert status == 403, (headers, answer)
            assert answer["error"].startswith("Refused: a request from")
    assert js(open_app, "GET", "/api/jobs")[1]["jobs"] == []
    # A program (neither header), and the app's own origin, are served.
    assert js(open_app, "POST", "/api/jobs", body)[0] == 202
    own = {"Origin": f"http://localhost:{open_app.port}", "Sec-Fetch-Site": "same-origin"}
    assert js(open_app, "POST", "/api/jobs", body, **own)[0] == 202


# -- results encoded once ------------------------------------------------------------------------
def test_a_result_is_encoded_once_for_concurrent_requests_and_each_encoding_is_charged(open_app):
    # A 1024x1024 frame costs 0.07e9 pixel-iterations; each PNG of it 1.05e9 (see
    # compute.fractal.frame.ENCODE_COST). This address's 5e9 hold the frame and four
    # encodings: charged once per encoding, the eight concurrent requests cost one.
    address = {"X-Forwarded-For": "10.1.0.1"}
    params = {"width": 1024, "height": 1024, "max_iter": 64, "c_real": -0.7, "c_imag": 0.3}
    status, job = js(open_app, "POST", "/api/jobs", {"kind": "frame", "params": params}, **address)
    assert status == 202
    finished(open_app, job["id"])
    result = f"/api/jobs/{job['id']}/result"
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: call(open_app, "GET", result, **address), range(8)))
    assert {status for status, _, _ in answers} == {200}
    assert len({data for _, _, data in answers}) == 1
    assert answers[0][1]["X-Content-Type-Options"] == "nosniff"
    statuses = [
        call(open_app, "GET", f"{result}?colormap={name}", **address)[0]
        for name in ("bmy", "bgy", "kbc", "bmw", "kgy")
    ]
    assert statuses == [200, 200, 200, 429, 429]
    status, refused = js(open_app, "GET", f"{result}?colormap=kgy", **address)
    assert (status, refused["cap"]) == (429, "pixel_iterations")
    # Kept encodings cost nothing: served, over the cap or not.
    assert call(open_app, "GET", f"{result}?colormap=bgy", **address)[0] == 200
    assert call(open_app, "GET", result, **address)[0] == 200


# -- caps that a new tab or address does not reset ----------------------------------------------
@pytest.mark.browser
def test_a_new_anonymous_tab_shares_the_allowance_of_the_first(tabs, open_app):
    first, second = tabs.open(), tabs.open()
    first.goto(link(open_app, **view_of(heavy(11))))
    wait_state(first, "running", "done", "cached")
    second.goto(link(open_app, **view_of(heavy(12))))
    message = wait_text(second, ".input-error", "Not rendered")
    assert "It can start in" in message
    assert "Anonymous users" not in message


def test_anonymous_clients_let_go_only_of_their_own_holds(open_app):
    address = {"X-Forwarded-For": "10.2.0.1"}
    work = {"kind": "frame", "params": heavy(13).to_dict()}
    status, first = js(open_app, "POST", "/api/jobs", work, **address)
    assert status == 202
    status, second = js(open_app, "POST", "/api/jobs", work, **address)
    assert (status, second["id"]) == (202, first["id"])
    assert first["token"] != second["token"]
    path = f"/api/jobs/{first['id']}"
    status, answer = js(open_app, "DELETE", path, **address)
    assert status == 403
    assert "X-Job-Token" in answer["error"]
    status, answer = js(open_app, "DELETE", path, **address, **token("guessed"))
    assert status == 403
    status, answer = js(open_app, "DELETE", path, **address, **token(second["token"]))
    assert (status, answer["error"]) == (409, "Another client still wants this job: it goes on.")
    status, answer = js(open_app, "DELETE", path, **address, **token(first["token"]))
    assert (status, answer["state"]) == (200, "cancelled")


def test_new_addresses_draw_on_one_anonymous_pool(open_app):
    # Each fresh address has a whole allowance of its own; together they run dry. The
    # earlier tests' charges are in the pool too: at most POOL + 1 frames of 4.2e9.
    refused = None
    for n in range(POOL + 2):
        address = {"X-Forwarded-For": f"10.3.0.{n}"}
        work = {"kind": "frame", "params": heavy(20 + n).to_dict()}
        status, answer = js(open_app, "POST", "/api/jobs", work, **address)
        if status == 429:
            refused = answer
            break
        assert status == 202, answer
        js(open_app, "DELETE", f"/api/jobs/{answer['id']}", **address, **token(answer["token"]))
    assert refused is not None
    assert n <= POOL
    assert refused["error"].startswith("Anonymous users together asked for"), refused
    # A user's own allowance would not be drawn on: logging in is the way out it names.
    assert "Logging in" in refused["error"]


# -- small ones ----------------------------------------------------------------------------------
def test_bodies_nested_too_deep_get_400(open_app):
    for depth in (40, 1_000, 100_000):
        raw = ("[" * depth + "]" * depth).encode()
        if len(raw) > 64 * 1024:
            raw = raw[: 32 * 1024] + raw[-32 * 1024 :]
        status, answer = js(open_app, "POST", "/api/jobs", raw=raw)
        assert status in (400, 413), answer
    status, answer = js(open_app, "POST", "/api/jobs", raw=("[" * 1_000 + "]" * 1_000).encode())
    assert (status, answer["error"]) == (400, "The body nests deeper than 32 levels.")


def test_every_answer_of_the_api_is_json(open_app):
    for path in ("/api/jobs/a.b", "/api/jobs/" + "x" * 200, "/api/nothing", "/api/jobs/x/y/z"):
        status, answer = js(open_app, "GET", path)
        assert status == 404, path
        assert answer["error"] == f"Nothing is served at {path}."
    status, answered, _ = call(open_app, "GET", "/api/kinds")
    assert answered["X-Content-Type-Options"] == "nosniff"


@pytest.mark.browser
def test_a_socket_to_a_missing_dashboard_page_closes_cleanly(tabs, open_app):
    page = tabs.open()
    page.goto(open_app.url.rsplit("/", 1)[0] + "/api/kinds")
    closed = page.evaluate(
        """() => new Promise(done => {
            const socket = new WebSocket(`ws://${location.host}/dask-dashboard/no-such-page/ws`);
            socket.onclose = event => done(event.code);
        })"""
    )
    assert closed == 1011
    # Closed as a socket closes, not by an exception in the handler: nothing logged of
    # it (the server had handled the upgrade when the page saw the close).
    assert "no-such-page" not in open_app.log()
