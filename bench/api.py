"""The HTTP API under load, against computing in-process: `python bench/api.py`.

Starts `panel serve app.py --plugins api` (as `make serve`, the embedded 2-worker local
cluster), then prints, in one run:

1. A light frame through the API (POST, poll, GET the PNG) and through
   ``/api/frame.png`` in one call, against ``render()`` + ``to_png()`` in this process.
2. The same request again: no task (the job's key is the request's).
3. Eight clients at once asking for distinct heavier frames: the time until all are
   served, and how fast the server answers ``/liveness`` meanwhile (it never computes a
   frame: its event loop stays free), against ``/liveness`` idle.
"""

from __future__ import annotations

import concurrent.futures
import json
import statistics
import tempfile
import time
import urllib.parse
from pathlib import Path

from components.testing import AppServer
from compute.engine.testing import wait_until
from compute.fractal import FractalConfig, render, to_png

LIGHT = {"max_iter": 200, "width": 512, "height": 512, "c_real": -0.7, "c_imag": 0.27}
#: Seconds a request may take: eight heavy frames at once on two workers, a hang guard.
TIMEOUT = 120


def request(server: AppServer, method: str, path: str, body=None) -> tuple[int, bytes]:
    """``(status, body)`` of one request to the server (HTTP errors are answers too)."""
    status, _, data = server.request(method, path, body, timeout=TIMEOUT)
    return status, data


def through_jobs(server: AppServer, params: dict) -> float:
    started = time.perf_counter()
    status, body = request(server, "POST", "/api/jobs", {"kind": "frame", "params": params})
    assert status == 202, body
    job = json.loads(body)["id"]

    def finished() -> bool:
        state = json.loads(request(server, "GET", f"/api/jobs/{job}")[1])["state"]
        return state in ("done", "cached")

    # Polled often: the time to the result is what is measured.
    wait_until(finished, f"job {job}", limit=TIMEOUT, interval=0.01)
    status, _ = request(server, "GET", f"/api/jobs/{job}/result")
    assert status == 200
    return time.perf_counter() - started


def one_call(server: AppServer, params: dict) -> float:
    query = urllib.parse.urlencode(
        {k: json.dumps(v) if isinstance(v, list) else v for k, v in params.items()}
    )
    started = time.perf_counter()
    status, _ = request(server, "GET", f"/api/frame.png?{query}&wait=30")
    assert status == 200
    return time.perf_counter() - started


def liveness(server: AppServer) -> float:
    started = time.perf_counter()
    request(server, "GET", "/liveness")
    return time.perf_counter() - started


def spread(values: list[float]) -> str:
    return (
        f"{statistics.median(values) * 1000:.0f} ms "
        f"[{min(values) * 1000:.0f}-{max(values) * 1000:.0f}]"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-api-") as logs:
        server = AppServer(Path(logs), name="bench-api", args=("--plugins", "api"))
        server.start()
        try:
            # Warm: the cluster, the kernels, the first registry.
            through_jobs(server, {**LIGHT, "c_real": -0.5})
            local, api, call, again = [], [], [], []
            for n in range(5):
                params = {**LIGHT, "c_real": -0.7 + n * 1e-3}
                started = time.perf_counter()
                to_png(render(FractalConfig(**params)), "fire", "eq_hist")
                local.append(time.perf_counter() - started)
                api.append(through_jobs(server, params))
                call.append(one_call(server, {**params, "c_imag": 0.28}))
                again.append(through_jobs(server, params))
            print("1. A light 512x512 frame (200 it), median [min-max] of 5")
            print(f"  in-process render() + to_png()   {spread(local)} (baseline)")
            print(
                f"  POST /api/jobs, poll, GET result {spread(api)} "
                f"({statistics.median(api) / statistics.median(local):.1f}x)"
            )
            print(
                f"  GET /api/frame.png (one call)    {spread(call)} "
                f"({statistics.median(call) / statistics.median(local):.1f}x)"
            )
            print(f"2. The same request again          {spread(again)} (no task)")
            idle = [liveness(server) for _ in range(20)]
            heavy = [
                {"max_iter": 2000, "width": 768, "height": 768, "c_real": -0.1 - n * 1e-3,
                 "c_imag": 0.1, "x_range": [-0.3, 0.3], "y_range": [-0.3, 0.3]}
                for n in range(8)
            ]  # fmt: skip
            started = time.perf_counter()
            busy = []
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                done = [pool.submit(one_call, server, p) for p in heavy]
                while not all(f.done() for f in done):
                    busy.append(liveness(server))
                    time.sleep(0.05)
                times = [f.result() for f in done]
            total = time.perf_counter() - started
            sequential = 0.0
            for p in heavy:
                begun = time.perf_counter()
                render(FractalConfig(**{**p, "x_range": tuple(p["x_range"]),
                                        "y_range": tuple(p["y_range"])}))  # fmt: skip
                sequential += time.perf_counter() - begun
            print("3. Eight clients at once, distinct 768x768 frames (2000 it)")
            print(
                f"  all served in {total:.2f} s (each {spread(times)}); in-process render() "
                f"of the same frames one after another {sequential:.2f} s"
            )
            print(
                f"  /liveness meanwhile {spread(busy)} ({len(busy)} probes), idle {spread(idle)}"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
