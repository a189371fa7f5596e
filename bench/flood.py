"""A flood of result requests: the server's memory, CPU and ``/liveness`` under it.

    python bench/flood.py [--baseline PATH] [--callers N]

Starts `panel serve app.py --plugins api` (as `make serve`, the embedded local cluster)
from this tree, and, with ``--baseline``, from another checkout (a ``git worktree`` of an
earlier commit) in the same run, and floods each with requests for one finished
4096x4096 frame's result:

1. six concurrent ``format=npy`` requests (128 MiB of values each);
2. eight concurrent PNG requests;
3. ``--callers`` (default 400) clients polling a frame still computing with
   ``?wait=30``, all served the PNG when it is done.

For each: the server process's peak resident memory (sampled every 20 ms) above its
level before, the server's CPU seconds, and ``/liveness`` (asked every 50 ms) at its
median and worst. The baseline's figures are printed beside this tree's, with ratios.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil

from components.testing import ROOT, AppServer
from compute.engine.testing import wait_until

SIZE = 4096
#: Seconds any request may take (a hang guard, not a measurement).
TIMEOUT = 300


def frame(c_imag: float) -> dict:
    return {
        "width": SIZE,
        "height": SIZE,
        "max_iter": 64,
        "c_real": -0.8,
        "c_imag": c_imag,
        "x_range": [-1.5, 1.5],
        "y_range": [-1.5, 1.5],
    }


def post(server: AppServer, params: dict) -> str:
    status, _, body = server.request(
        "POST", "/api/jobs", {"kind": "frame", "params": params}, timeout=TIMEOUT
    )
    assert status == 202, body
    return json.loads(body)["id"]


def done(server: AppServer, job: str) -> bool:
    _, _, body = server.request("GET", f"/api/jobs/{job}", timeout=TIMEOUT)
    return json.loads(body)["state"] in ("done", "cached")


class Watch:
    """Samples the server's memory and ``/liveness`` on threads while a flood runs."""

    def __init__(self, server: AppServer):
        self.server, self.process = server, psutil.Process(server.proc.pid)
        self.stop = threading.Event()
        self.rss: list[int] = []
        self.alive: list[float] = []

    def __enter__(self) -> Watch:
        self.base = self.process.memory_info().rss
        times = self.process.cpu_times()
        self.cpu = times.user + times.system
        self.threads = [
            threading.Thread(target=self._memory, daemon=True),
            threading.Thread(target=self._liveness, daemon=True),
        ]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=TIMEOUT)
        times = self.process.cpu_times()
        self.cpu = times.user + times.system - self.cpu

    def _memory(self) -> None:
        while not self.stop.wait(0.02):
            self.rss.append(self.process.memory_info().rss)

    def _liveness(self) -> None:
        while not self.stop.wait(0.05):
            started = time.perf_counter()
            self.server.request("GET", "/liveness", timeout=TIMEOUT)
            self.alive.append(time.perf_counter() - started)

    def figures(self) -> dict:
        return {
            "peak MB above": (max(self.rss, default=self.base) - self.base) / 2**20,
            "CPU s": self.cpu,
            "liveness median ms": statistics.median(self.alive) * 1000,
            "liveness worst ms": max(self.alive) * 1000,
        }


def flood(server: AppServer, path: str, n: int) -> list[int]:
    def one(_) -> int:
        return server.request("GET", path, timeout=TIMEOUT)[0]

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def run(server: AppServer, callers: int) -> dict[str, dict]:
    results = {}
    job = post(server, frame(0.156))
    wait_until(lambda: done(server, job), f"frame {job}", limit=TIMEOUT)
    for name, path, n in (
        ("6 x npy", f"/api/jobs/{job}/result?format=npy", 6),
        ("8 x png", f"/api/jobs/{job}/result", 8),
    ):
        with Watch(server) as watch:
            statuses = flood(server, path, n)
        assert set(statuses) == {200}, statuses
        results[name] = watch.figures()
    # The callers wait for a frame still being computed, then all want its PNG at once.
    job = post(server, frame(0.157))
    with Watch(server) as watch:
        statuses = flood(server, f"/api/jobs/{job}/result?wait=30", callers)
    assert set(statuses) <= {200, 202}, statuses
    results[f"{callers} x wait"] = watch.figures()
    return results


def serve(logs: Path, root: Path, name: str) -> AppServer:
    # PYTHONPATH first: a baseline checkout imports its own compute/, api/, components/.
    env = {"PYTHONPATH": str(root), "FRACTAL_STORE": "off"}
    return AppServer(logs, env, name, ("--plugins", "api"), root=root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    parser.add_argument("--callers", type=int, default=400)
    args = parser.parse_args()
    trees = [("this tree", ROOT)]
    if args.baseline is not None:
        trees.insert(0, ("baseline", args.baseline.resolve()))
    figures = {}
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as logs:
        for n, (label, root) in enumerate(trees):
            server = serve(Path(logs), root, f"flood-{n}")
            server.start()
            try:
                figures[label] = run(server, args.callers)
            finally:
                server.stop()
    print(f"\nResult floods of a {SIZE}x{SIZE} frame (embedded cluster, store off)")
    for scenario in figures["this tree"]:
        print(f"\n{scenario}")
        for measure in figures["this tree"][scenario]:
            row = [f"  {measure:<20}"]
            for label in figures:
                row.append(f"{label} {figures[label][scenario][measure]:>9.1f}")
            if "baseline" in figures:
                base, now = (figures[k][scenario][measure] for k in ("baseline", "this tree"))
                row.append(f"ratio {now / base:.2f}" if base else "")
            print("   ".join(row))


if __name__ == "__main__":
    main()
