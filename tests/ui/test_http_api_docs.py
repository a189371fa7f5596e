"""Every example of docs/http-api.md runs as written: each ``bash`` block, in bash with
``set -euo pipefail``, against a real ``panel serve app.py --plugins api`` (with the
option pricer registered, as the doc says) on a ``dask scheduler`` + ``dask worker``;
what the examples write is checked for what it must be."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from PIL import Image

from components.testing import ROOT, AppServer
from compute.fractal.video import probe

pytestmark = [pytest.mark.cluster]

DOC = ROOT / "docs" / "http-api.md"
BLOCKS = re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.DOTALL)


@pytest.fixture(scope="module")
def documented_app(tmp_path_factory, dask_cli_cluster):
    """The app and its API as the doc starts it, the option pricer registered."""
    env = {
        "DASK_SCHEDULER_ADDRESS": dask_cli_cluster.address,
        "FRACTAL_KINDS": "pricing:OptionPrice",
    }
    yield from AppServer.running(
        tmp_path_factory.mktemp("documented"), env, "documented", ("--plugins", "api")
    )


@pytest.fixture(scope="module")
def ran(documented_app, tmp_path_factory) -> dict:
    """Each block's output, run in one folder, in the doc's order."""
    folder = tmp_path_factory.mktemp("examples")
    app = f"http://localhost:{documented_app.port}"
    outputs = {}
    for n, block in enumerate(BLOCKS):
        done = subprocess.run(
            ["bash", "-c", f"set -euo pipefail\n{block}"],
            cwd=folder,
            env={"PATH": "/usr/bin:/bin", "APP": app},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, f"example {n} failed:\n{block}\n{done.stdout}\n{done.stderr}"
        outputs[n] = done.stdout
    return {"folder": folder, "outputs": outputs}


def test_the_doc_has_examples_of_every_route():
    text = "\n".join(BLOCKS)
    routes = ("/api/kinds", "/api/jobs", "/result", "/api/frame.png", "-X DELETE")
    for route in (*routes, "/api/locations", "location=", "/api/kfr"):
        assert route in text


def test_every_example_runs_and_writes_what_it_says(ran):
    folder, said = ran["folder"], "\n".join(ran["outputs"].values())
    assert "['frame', 'movie', 'option']" in said
    with Image.open(folder / "deep.png") as image:
        assert (image.format, image.size) == ("PNG", (256, 256))
    for name in ("mandelbrot.png", "mandelbrot-kbc.png", "julia.png"):
        with Image.open(folder / name) as image:
            assert (image.format, image.size) == ("PNG", (512, 512)), name
    with Image.open(folder / "seahorse.png") as image:  # a famous place, by its name
        assert (image.format, image.size) == ("PNG", (256, 256))
    assert "'seahorse-valley'" in said
    assert '"span": "0.17777777777777777778"' in said  # the .kfr read: 4/40 x 640/360
    values = np.load(folder / "mandelbrot.npy")
    assert values.shape == (512, 512)
    assert np.isnan(values).any()  # the set's inside
    info = probe((folder / "zoom.mp4").read_bytes())
    assert (info.codec, info.frames, info.width) == ("h264", 24, 256)
    assert (folder / "zoom.gif").read_bytes()[:6] == b"GIF89a"
    assert '"state": "cancelled"' in said
    assert '"status": 400} 400' in said  # the error, and curl's own word of its status
    assert '"exact"' in said  # the option pricer's answer
