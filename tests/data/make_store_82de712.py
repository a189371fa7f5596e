"""Write the fixture store ``store-82de712/``: a FrameStore written by commit 82de712.

This script works against the API of commit 82de712 only (``compute.jobs``,
``compute.store``, ``compute.movie`` as they were then, before ``compute/`` was
reorganised); it is kept to show how the fixture was made, not to be run against later
code. The fixture lets a test prove that later code reads a store written by the old
code back in full: frames, a call's and a named graph's results, a movie, and the
history records.

How it was run (from a detached worktree of 82de712, with that commit's code installed
editable in a venv, so that Dask's worker processes import *that* ``compute``)::

    git worktree add /tmp/before 82de712
    python3 -m venv /tmp/before/.venv
    /tmp/before/.venv/bin/pip install -e "/tmp/before[test]"
    cd /tmp/before && env -u FRACTAL_STORE .venv/bin/python \\
        /work/main/tests/data/make_store_82de712.py /work/main/tests/data/store-82de712

What it writes under the output folder:

* ``store/``: a ``FrameStore(<out>/store)`` (location passed explicitly; FRACTAL_STORE
  plays no part) holding
  - 3 frames of 64x64 (two Julia views, one Mandelbrot), submitted by two JobManagers
    (user None, then user "alice"),
  - the result of ``manager.submit(math.comb, 40, 20)``,
  - the result of a named graph (``key="graph-fixture"``) of two pure delayed
    ``operator.add`` leaves,
  - a detached 4-frame 32x32 zoom movie (its .part frames and mp4/gif/webp files),
  - the history records of all of these;
* ``manifest.json``: what a reader must find there (keys, configs, SHA-256 of each
  frame's bytes, values, the movie's keys and spec, the history records), with the
  commit and the versions of dask, distributed, numpy and numba that wrote it.

Usage: ``python make_store_82de712.py OUT`` (OUT/store must not exist or be empty).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import operator
import os
import platform
import sys
from pathlib import Path

COMMIT = "82de712"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def frame_configs():
    from compute import FractalConfig

    return [
        # The default Julia view.
        FractalConfig(max_iter=100, width=64, height=64),
        FractalConfig(c_real=-0.7, max_iter=80, width=64, height=64),
        FractalConfig(
            fractal="mandelbrot",
            max_iter=60,
            width=64,
            height=64,
            x_range=(-2.0, 0.5),
            y_range=(-1.25, 1.25),
        ),
    ]


def movie_spec():
    from compute import FractalConfig
    from compute.movie import MovieSpec

    start = FractalConfig(max_iter=50, width=32, height=32)
    end = start.copy(x_range=(-0.2, 0.2), y_range=(-0.2, 0.2), max_iter=80)
    return MovieSpec(start=start, end=end, frames=4, fps=4, width=32, height=32)


def graph_leaves():
    import dask

    return [dask.delayed(operator.add, pure=True)(i, 10) for i in (1, 2)]


GRAPH_KEY = "graph-fixture"


async def write_store(location: str) -> dict:
    from distributed import Client, LocalCluster

    from compute import FrameStore, JobManager, JobRegistry

    store = FrameStore(location)
    async with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            asynchronous=True,
        ) as cluster,
        Client(cluster, asynchronous=True, set_as_default=False) as client,
    ):
        # The workers must run this commit's compute (the old layout), not another one.
        where = await client.run(lambda: __import__("compute.jobs").__file__)
        print("workers import compute from", where)
        registry = JobRegistry.for_client(client, store=store)
        anonymous = JobManager(client, registry=registry, user=None)
        alice = JobManager(client, registry=registry, user="alice")

        frames = []
        # A manager wants one job at a time: each is awaited before its next request.
        for manager, config in zip((anonymous, alice, alice), frame_configs(), strict=True):
            job = manager.submit(config)
            frame = await job.result()
            assert job.state == "done", (config.key, job.state)
            assert job.key == config.key
            frames.append((config, frame))

        call = anonymous.submit(math.comb, 40, 20)
        call_value = await call.result()
        assert call.state == "done", call.state

        graph = alice.submit(graph_leaves(), key=GRAPH_KEY)
        graph_value = await graph.result()
        assert graph.state == "done", graph.state

        spec = movie_spec()
        movie_job = registry.detach(spec)
        movie = await movie_job.result()
        assert movie_job.state == "done", movie_job.state

        await registry.flush()
        # The managers' records of their last jobs are written when those end: done.
        await registry.flush()

    history = store.history()
    return {
        "commit": COMMIT,
        "versions": {
            "python": platform.python_version(),
            **{name: _version(name) for name in ("dask", "distributed", "numpy", "numba")},
        },
        "kernel_version": _kernel_version(),
        "store": "store",
        "frames": [
            {
                "key": config.key,
                "config": config.to_dict(),
                "shape": list(frame.shape),
                "dtype": str(frame.dtype),
                "sha256": _sha256(_np().ascontiguousarray(frame).tobytes()),
            }
            for config, frame in frames
        ],
        "call": {"key": call.key, "function": "math.comb", "args": [40, 20], "value": call_value},
        "graph": {"key": graph.key, "value": graph_value},
        "movie": {
            "key": movie_job.key,
            "frames_key": spec.frames_key,
            "spec": spec.to_dict(),
            "files": {
                fmt: {"bytes": len(data), "sha256": _sha256(data)}
                for fmt, data in sorted(movie.files.items())
            },
        },
        "history": {
            "count": len(history),
            # Oldest first, as FrameStore.history() lists them.
            "records": [
                {"key": r.key, "kind": r.kind, "state": r.state, "owner": r.owner} for r in history
            ],
        },
    }


def _np():
    import numpy

    return numpy


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def _kernel_version():
    from compute.kernels import KERNEL_VERSION

    return KERNEL_VERSION


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder (gets store/ and manifest.json)")
    args = parser.parse_args(argv)
    # The location is passed explicitly; make sure nothing reads the environment's.
    os.environ.pop("FRACTAL_STORE", None)
    out = args.out.resolve()
    location = out / "store"
    if location.exists() and any(location.iterdir()):
        parser.error(f"{location} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    import compute

    print("compute from", compute.__file__, file=sys.stderr)
    manifest = asyncio.run(write_store(str(location)))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(json.dumps(manifest, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
