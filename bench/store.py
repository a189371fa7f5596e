"""Reading a finished frame from the persistent store against computing it again.

Run: ``.venv/bin/python bench/store.py``. For 1024x1024 frames (the app's default view,
and a costly 4000-iteration view), prints median times, side by side in one run, and
their ratio to the baseline, recomputing the frame as a Dask job:

- a Dask job that computes the frame (16 tile tasks on a 2-worker LocalCluster);
- in-process ``render()`` (both cores, no Dask);
- ``FrameStore.get`` of the stored frame (local disk; the OS page cache is warm after
  the first read, as on a server that serves a frame more than once);
- a Dask job served from the store (submit to result, no task);
- ``FrameStore.put`` of the frame (what finishing a job adds, in a background thread).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time

from distributed import Client, LocalCluster

from compute.engine import JobManager
from compute.fractal import (
    FractalConfig,
    FrameCache,
    FrameStore,
    KernelWarmup,
    fractal_registry,
    render,
)
from compute.fractal.testing import heavy


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def median_job_seconds(registry, config, repeats: int, expect: str) -> float:
    times = []
    for _ in range(repeats):
        manager = JobManager(registry, history=False)
        start = time.perf_counter()
        job = manager.submit(config)
        await job.result()
        times.append(time.perf_counter() - start)
        assert job.state == expect, (job.state, expect)
        manager.close()
    return statistics.median(times)


async def measure(cluster, store: FrameStore, config: FractalConfig, repeats: int) -> dict:
    results = {}
    async with Client(cluster.scheduler_address, asynchronous=True) as client:
        await client.register_plugin(KernelWarmup())
        # No memory cache in either registry: every request is a computation or a read.
        computing = fractal_registry(client, cache=FrameCache(0))
        try:
            results["Dask job, computed (baseline)"] = await median_job_seconds(
                computing, config, repeats, expect="done"
            )
        finally:
            computing.close()
        results["render() in-process"] = median_seconds(lambda: render(config), repeats)
        frame = render(config)
        results["FrameStore.put"] = median_seconds(lambda: store.put(config.key, frame), repeats)
        results["FrameStore.get"] = median_seconds(lambda: store.get(config.key), repeats)
    async with Client(cluster.scheduler_address, asynchronous=True) as client:
        reading = fractal_registry(client, cache=FrameCache(0), store=store)
        try:
            results["Dask job, served from the store"] = await median_job_seconds(
                reading, config, repeats, expect="cached"
            )
        finally:
            reading.close()
    return results


async def main(repeats: int) -> None:
    # The app's default view, and a costly one (c inside the Mandelbrot set, so nearly
    # every pixel runs all 4000 iterations): reading costs the same for both.
    configs = [FractalConfig(), heavy()]
    render(configs[0])  # compile the kernel in this process
    with (
        tempfile.TemporaryDirectory() as location,
        LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1") as cluster,
    ):
        store = FrameStore(location)
        for config in configs:
            results = await measure(cluster, store, config, repeats)
            baseline = results["Dask job, computed (baseline)"]
            print(f"1024x1024 frame, {config.max_iter} iterations (8 MiB), median of {repeats}:")
            print(f"  {'':34s} {'time':>11s}   {'baseline / time':>15s}")
            for name, seconds in results.items():
                print(f"  {name:34s} {seconds * 1000:8.1f} ms   {baseline / seconds:14.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    asyncio.run(main(parser.parse_args().repeats))
