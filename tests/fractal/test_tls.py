"""A remote `dask scheduler` + `dask worker` speaking Dask's TLS, with certificates made
here (the openssl CLI), reached through DASK_SCHEDULER_ADDRESS=tls://... and Dask's
documented TLS config: by a ClusterConnection (a fractal engine's) in this process, and by a
real `panel serve app.py --plugins api` through a real HTTP client."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import subprocess

import dask
import numpy as np
import psutil
import pytest
from distributed import Client

from components.testing import AppServer
from compute.engine import ClusterConnection
from compute.engine.diagnostics import ExecutionCounter, executed_tasks
from compute.engine.testing import ExternalCluster
from compute.fractal import FractalConfig, fractal_connection, fractal_engine, render

pytestmark = [pytest.mark.cluster]

LIGHT = {"max_iter": 120, "width": 192, "height": 128, "c_real": -0.75, "c_imag": 0.13}


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def signed_certificate(where, name: str, ca: str, ca_key: str) -> tuple[str, str]:
    key, csr, cert = (str(where / f"{name}.{ext}") for ext in ("key", "csr", "crt"))
    extensions = where / f"{name}.ext"
    # Dask checks the chain, not host names; the name is for a reader of the certificate.
    extensions.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
            "-subj", "/CN=127.0.0.1")  # fmt: skip
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-out", cert, "-days", "2", "-extfile", str(extensions))  # fmt: skip
    return cert, key


def certificate_authority(where, name: str) -> tuple[str, str]:
    cert, key = str(where / f"{name}.crt"), str(where / f"{name}.key")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
            "-days", "2", "-subj", f"/CN={name}")  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """The cluster's CA, a certificate it signed, and one signed by a stranger."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command makes the test certificates; it is not installed")
    where = tmp_path_factory.mktemp("certificates")
    ca, ca_key = certificate_authority(where, "cluster-ca")
    cert, key = signed_certificate(where, "node", ca, ca_key)
    other_ca, other_key = certificate_authority(where, "other-ca")
    stranger, stranger_key = signed_certificate(where, "stranger", other_ca, other_key)
    return {"ca": ca, "cert": cert, "key": key, "stranger": (stranger, stranger_key)}


@pytest.fixture(scope="module")
def tls_cluster(certificates, tmp_path_factory):
    yield from ExternalCluster.running(tmp_path_factory.mktemp("tls-cluster"), tls=certificates)


def client_env(certificates, cert: str | None = None, key: str | None = None) -> dict:
    """Dask's documented variables for a client's TLS, as a user sets them."""
    env = {
        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": certificates["ca"],
        "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
    }
    if cert:
        env["DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT"] = cert
        env["DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY"] = key
    return env


def tls_config(env: dict):
    """The config those variables give a process that starts with them (Dask reads its
    environment once, at import: this one has long started)."""

    def dotted(tree: dict, prefix: str = ""):
        for name, value in tree.items():
            if isinstance(value, dict):
                yield from dotted(value, f"{prefix}{name}.")
            else:
                yield f"{prefix}{name}", value

    # By key: a nested dict would replace all of "distributed", not just these settings.
    return dask.config.set(dict(dotted(dask.config.collect_env(env))))


@pytest.mark.asyncio
async def test_a_tls_scheduler_renders_a_frame_with_dasks_tls_config(
    tls_cluster, certificates, monkeypatch
):
    assert tls_cluster.address.startswith("tls://")
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", tls_cluster.address)
    env = client_env(certificates, certificates["cert"], certificates["key"])
    with tls_config(env):
        engine = fractal_engine(fractal_connection(timeout=10))
        connection = engine.connection
        try:
            client = await connection.client()
            await client.wait_for_workers(1)
            assert connection.status == "connected"
            assert client.scheduler.address == tls_cluster.address
            (worker,) = client.scheduler_info()["workers"]
            assert worker.startswith("tls://127.0.0.1:")
            config = FractalConfig(**LIGHT)
            job = (await engine.manager()).submit(config)
            np.testing.assert_array_equal(await job.result(), render(config))
            # The tiles ran in the `dask worker` the test started.
            (pid,) = (await client.run(os.getpid)).values()
            assert tls_cluster.worker.pid in {p.pid for p in psutil.Process(pid).parents()}
            # The scheduler's dashboard is plain HTTP (the CLI's --tls-* flags are for its
            # comms), and is found and probed as for a tcp:// scheduler.
            assert connection.dashboard_upstream == f"http://{tls_cluster.dashboard}"
            assert await connection.dashboard_pages()
        finally:
            await engine.close()


@pytest.mark.asyncio
async def test_without_a_client_certificate_the_connection_says_what_to_set(
    tls_cluster, certificates
):
    with tls_config(client_env(certificates)):
        connection = ClusterConnection(tls_cluster.address, timeout=10)
        with pytest.raises(OSError, match="Cannot reach the Dask scheduler"):
            await connection.client()
        await connection.close()
    assert connection.status in ("lost", "closed")
    assert tls_cluster.address in connection.error
    for setting in ("distributed.comm.tls.client.cert", "DASK_DISTRIBUTED__COMM__TLS__CA_FILE"):
        assert setting in connection.error


@pytest.mark.asyncio
async def test_a_certificate_the_cluster_does_not_trust_is_refused(tls_cluster, certificates):
    with tls_config(client_env(certificates, *certificates["stranger"])):
        connection = ClusterConnection(tls_cluster.address, timeout=10)
        with pytest.raises(OSError, match="Cannot reach the Dask scheduler"):
            await connection.client()
        await connection.close()
    # As the client sees it: the scheduler's alert ("unknown ca"), or with TLS 1.3 (the
    # client's certificate is checked after the client's side of the handshake) the
    # connection closed under it. The scheduler's log says why.
    assert "ssl" in connection.error.lower(), connection.error
    assert "TLS handshake failed" in tls_cluster.log("scheduler")


def call(app, method: str, path: str, body=None):
    """``(status, body bytes)`` of one request; HTTP errors are answers too."""
    status, _, data = app.request(method, path, body)
    return status, data


@pytest.fixture
def tls_app(tls_cluster, certificates, tmp_path):
    """The app, configured by a Dask config file alone (the README's), not the environment."""
    config = tmp_path / "dask-config"
    config.mkdir()
    (config / "tls.yaml").write_text(
        f"""\
scheduler-address: {tls_cluster.address}
distributed:
  comm:
    require-encryption: true
    tls:
      ca-file: {certificates["ca"]}
      client:
        cert: {certificates["cert"]}
        key: {certificates["key"]}
"""
    )
    yield from AppServer.running(
        tmp_path, env={"DASK_CONFIG": str(config)}, name="tls-panel", args=("--plugins", "api")
    )


@pytest.mark.asyncio
async def test_the_app_computes_on_a_tls_scheduler(tls_app, tls_cluster, certificates, eventually):
    env = client_env(certificates, certificates["cert"], certificates["key"])
    with tls_config(env):
        counter = await Client(tls_cluster.address, asynchronous=True, set_as_default=False)
    try:
        # Counts start at zero: the tiles counted below are the app's.
        await counter.register_plugin(ExecutionCounter())
        await run_a_frame_job(tls_app, eventually, counter)
    finally:
        await counter.close()


async def run_a_frame_job(tls_app, eventually, counter) -> None:
    status, data = await asyncio.to_thread(
        call, tls_app, "POST", "/api/jobs", {"kind": "frame", "params": LIGHT}
    )
    assert status == 202, data
    job_id = json.loads(data)["id"]

    async def ended():
        status, data = await asyncio.to_thread(call, tls_app, "GET", f"/api/jobs/{job_id}")
        assert status == 200, data
        job = json.loads(data)
        return job if job["state"] in ("done", "cached", "failed", "cancelled") else None

    job = await eventually(ended, "the job to end", limit=120)
    assert job["state"] == "done", job
    # Computed by the TLS cluster's worker, not by a local cluster of the app's.
    assert len(await executed_tasks(counter, "fractal-tile")) == job["parts_total"]
    status, data = await asyncio.to_thread(
        call, tls_app, "GET", f"/api/jobs/{job_id}/result?format=npy"
    )
    assert status == 200, data[:200]
    np.testing.assert_array_equal(np.load(io.BytesIO(data)), render(FractalConfig(**LIGHT)))
    # The scheduler's dashboard, through the app's proxy.
    status, data = await asyncio.to_thread(
        call, tls_app, "GET", "/dask-dashboard/individual-plots.json"
    )
    assert status == 200, data[:200]
    assert json.loads(data)
