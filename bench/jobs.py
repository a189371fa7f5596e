"""What cancellation, de-duplication and caching save on a real LocalCluster.

Run: ``.venv/bin/python bench/jobs.py``. Prints, for a burst of config changes arriving
while a heavy frame renders, the work the workers actually executed (counted on the
workers, in frames' worth), first with every change submitted to the engine, then
through the UI's debouncer; and the latency of a repeated config against computing it.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from distributed import Client, LocalCluster

from compute import Debouncer, FractalConfig, JobManager, render
from compute.diagnostics import ExecutionCounter, KernelWarmup, executed_tasks


def heavy(n: int) -> FractalConfig:
    """About 4 s of one core: c lies in the Mandelbrot set, so every pixel is inside."""
    return FractalConfig(
        c_real=-0.1 + n * 1e-3,
        c_imag=0.1,
        x_range=(-0.5, 0.5),
        y_range=(-0.5, 0.5),
        max_iter=4000,
    )


async def wait_idle(client) -> None:
    """Until no worker holds any task (cancelled tiles still running included)."""
    # Remote state: there is nothing to wait on locally, so poll.
    while any((await client.run(lambda dask_worker: len(dask_worker.state.tasks))).values()):  # noqa: ASYNC110
        await asyncio.sleep(0.02)


async def burst(client, changes: int, interval: float, debounce: float | None, base: int) -> dict:
    await client.register_plugin(ExecutionCounter())  # fresh counts
    manager = JobManager(client)
    first = manager.submit(heavy(base))
    started = asyncio.Event()
    first.param.watch(lambda event: started.set(), "state")
    await started.wait()  # a worker reported the heavy frame's first tile

    debouncer = Debouncer(manager.submit, delay=debounce) if debounce else None
    submitted = {first.key}
    for n in range(1, changes + 1):
        if debouncer:
            debouncer.trigger(heavy(base + n))
        else:
            submitted.add(manager.submit(heavy(base + n)).key)
        await asyncio.sleep(interval)
    if debouncer:
        submitted.add((await debouncer.flush() or manager.job).key)
    final = manager.job
    await final.result()
    await wait_idle(client)

    ran = await executed_tasks(client)
    tiles_per_frame = final.tiles_total
    final_seconds = sum(s for k, s in ran if final.key in k)
    total_seconds = sum(s for _, s in ran)
    return {
        "jobs submitted": len(submitted),
        "tiles executed": len(ran),
        "frames' worth (tiles)": len(ran) / tiles_per_frame,
        "frames' worth (task time)": total_seconds / final_seconds,
        "superseded tiles executed": sum(final.key not in k for k, _ in ran),
    }


async def repeated(client) -> dict:
    config = heavy(100).copy(max_iter=1000)
    start = time.perf_counter()
    await JobManager(client).submit(config).result()
    computed = time.perf_counter() - start

    await client.register_plugin(ExecutionCounter())
    start = time.perf_counter()
    job = JobManager(client).submit(config)  # another session asks for the same view
    await job.result()
    cached = time.perf_counter() - start
    return {
        "first request (s)": computed,
        "repeated request (s)": cached,
        "state": job.state,
        "tasks executed": len(await executed_tasks(client)),
        "speed-up": computed / cached,
    }


async def main(args) -> None:
    with LocalCluster(
        n_workers=args.workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0"
    ) as cluster:
        async with Client(cluster.scheduler_address, asynchronous=True) as client:
            await client.register_plugin(KernelWarmup())
            start = time.perf_counter()
            render(heavy(0))
            print(
                f"{args.workers} workers; heavy frame 1024x1024, max_iter 4000: "
                f"{time.perf_counter() - start:.2f} s in-process; "
                f"burst of {args.changes} changes every {args.interval * 1000:.0f} ms"
            )
            for base, (label, debounce) in enumerate(
                (
                    ("every change submitted", None),
                    (f"debounced {args.debounce * 1000:.0f} ms", args.debounce),
                )
            ):
                # Distinct configs in each round: a repeat would be served from the cache.
                result = await burst(
                    client, args.changes, args.interval, debounce, base * (args.changes + 1)
                )
                figures = ", ".join(
                    f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in result.items()
                )
                print(f"  {label:24} {figures}")
            result = await repeated(client)
            print(
                "repeated config: first {first request (s)[.3f} s, repeated "
                "{repeated request (s)[.4f} s ({state}, {tasks executed} tasks), "
                "{speed-up[.0f}x faster".replace("[", ":").format(**result)
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--debounce", type=float, default=0.2)
    asyncio.run(main(parser.parse_args()))
