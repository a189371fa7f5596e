"""An app's own computation behind the same engine, API and components: the option pricer
(``pricing/``), served by a real ``panel serve pricing/app.py --plugins api`` on a
``dask scheduler`` + ``dask worker``, asked for over HTTP and from the page in chromium.
"""

from __future__ import annotations

import pytest
from pages import deep_text, js, wait_state, wait_text

import pricing
from components.testing import AppServer

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

#: The page's own defaults: what its button asks for, untouched.
DEFAULTS = pricing.OptionPrice().to_dict()


@pytest.fixture(scope="module")
def pricer(tmp_path_factory, dask_cli_cluster):
    """The option pricer and the API, on the CLI cluster (--warm: the kind is registered
    before the first page, as the API needs it)."""
    env = {"DASK_SCHEDULER_ADDRESS": dask_cli_cluster.address}
    args = ("--plugins", "api", "--warm")
    yield from AppServer.running(
        tmp_path_factory.mktemp("pricer"), env, "pricer", args, script="pricing/app.py"
    )


def test_the_api_prices_the_option_and_the_page_shows_it_from_the_cache(pricer, tabs):
    status, kinds = js(pricer, "GET", "/api/kinds")
    assert status == 200
    option = next(k for k in kinds["kinds"] if k["kind"] == "option")
    assert option["parameters"]["properties"]["batches"]["maximum"] == 256
    assert option["formats"] == ["json"]
    status, job = js(pricer, "POST", "/api/jobs", {"kind": "option", "params": DEFAULTS})
    assert status == 202
    assert job["id"] == pricing.OptionPrice().key
    status, result = js(pricer, "GET", f"/api/jobs/{job['id']}/result?wait=30")
    assert status == 200
    assert result["paths"] == DEFAULTS["batches"] * DEFAULTS["paths"]
    assert abs(result["price"] - result["exact"]) < 4 * result["stderr"]
    status, described = js(pricer, "GET", f"/api/jobs/{job['id']}")
    assert (described["kind"], described["parts_done"]) == ("option", DEFAULTS["batches"])
    # Bad parameters are named, as for any kind.
    status, refused = js(pricer, "POST", "/api/jobs", {"kind": "option", "params": {"batches": 0}})
    assert status == 400
    assert "batches" in refused["error"]

    # The page asks for the same option: the job the API ran, with no task.
    page = tabs.open()
    page.goto(pricer.url)
    page.locator(".price button").click()
    assert wait_state(page, "cached", "done") == "cached"
    text = wait_text(page, ".answer", "Black-Scholes")
    assert f"{result['price']:.4f}" in text
    history = deep_text(page, ".job-history")
    assert "option: call S=100 K=100 T=1, 16 batches" in history
    assert "cached" in history
