"""What cancellation, de-duplication and caching save on a real LocalCluster.

Run: ``.venv/bin/python bench/jobs.py``. Prints, for a burst of config changes arriving
while a heavy frame renders, the work the workers actually executed (counted on the
workers, in frames' worth): with every change submitted to the engine, through a
plain trailing debouncer, and through a ``RenderSession`` (what the app does: the
first change at once, the rest of the burst when it ends); and the latency of a
repeated config against computing it. Then the engine's overhead: the default frame as a
Dask job (16 tiles, and the few tiles its cost calls for) and a 128 px preview (a Dask
round trip, and in-process) against ``render()``, on a ``LocalCluster`` (scheduler in
this process) and on the app's embedded cluster (scheduler in a subprocess).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from distributed import Client, LocalCluster

from compute.engine import JobManager
from compute.engine.cluster import local_cluster
from compute.engine.debounce import Debouncer
from compute.engine.diagnostics import ExecutionCounter, executed_tasks
from compute.engine.testing import eventually, workers_idle
from compute.fractal import (
    FractalConfig,
    KernelWarmup,
    RenderSession,
    fractal_connection,
    fractal_engine,
    fractal_registry,
    render,
)
from compute.fractal.frame import TILE_TASK
from compute.fractal.testing import heavy

#: Hang guards, not timings: a round waits for its frames as long as they take.
LIMIT = 600.0


class Unseen:
    """A painter that draws nothing: the session's work is what is measured."""

    def show_preview(self, config, indices) -> None:
        pass

    def show_tiles(self, config, tiles) -> None:
        pass


async def wait_idle(client) -> None:
    """Until no worker holds any task (cancelled tiles still running included)."""
    await eventually(lambda: workers_idle(client), "the workers to be idle", LIMIT)


async def tiles_ran(client) -> list[tuple[str, float]]:
    """``(key, seconds)`` of the tiles the workers executed since the counts were reset."""
    return await executed_tasks(client, TILE_TASK)


async def through_session(client, changes, interval, debounce, base) -> tuple[set, object]:
    """The burst through a RenderSession: what the app's widgets drive (on an engine of
    its own, as the app's)."""
    engine = fractal_engine(fractal_connection(client.scheduler.address))
    session = RenderSession(Unseen(), engine=engine, debounce=debounce)
    try:
        session.request(heavy(base))
        await eventually(
            lambda: session.job is not None and session.job.state == "running",
            "the first frame to run",
            LIMIT,
        )
        submitted = {session.job.key}
        for n in range(1, changes + 1):
            session.request(heavy(base + n))
            if session.job is not None:
                submitted.add(session.job.key)
            await asyncio.sleep(interval)
        final = heavy(base + changes)
        await eventually(
            lambda: session.job is not None and session.job.key == final.key,
            "the last change's frame",
            LIMIT,
        )
        submitted.add(session.job.key)
        await session.job.result()
        return submitted, session.job
    finally:
        session.close()
        await engine.close()


async def burst(client, registry, changes: int, interval: float, debounce, base: int) -> dict:
    await client.register_plugin(ExecutionCounter())  # fresh counts
    if debounce == "session":
        submitted, final = await through_session(client, changes, interval, 0.25, base)
        await wait_idle(client)
        return tally(await tiles_ran(client), final, submitted)
    manager = JobManager(registry)
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
    return tally(await tiles_ran(client), final, submitted)


def tally(ran, final, submitted) -> dict:
    tiles_per_frame = final.parts_total
    final_seconds = sum(s for k, s in ran if final.key in k)
    total_seconds = sum(s for _, s in ran)
    return {
        "jobs submitted": len(submitted),
        "tiles executed": len(ran),
        "frames' worth (tiles)": len(ran) / tiles_per_frame,
        "frames' worth (task time)": total_seconds / final_seconds,
        "superseded tiles executed": sum(final.key not in k for k, _ in ran),
    }


async def median_job_ms(registry, configs, **submit) -> float:
    """Median submit-to-result time of fresh frames (each config computed once)."""
    manager, times = JobManager(registry), []
    for config in configs:
        start = time.perf_counter()
        await manager.submit(config, **submit).result()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def overhead(registry, label: str) -> None:
    """What a light frame and a preview cost as Dask jobs against in-process render()."""
    from compute.fractal.tiles import expected_iterations

    light = [FractalConfig(c_real=-0.8 + n * 1e-4, c_imag=0.2) for n in range(7)]
    planned = {"iterations": expected_iterations(light[0], render(light[0].preview()))}
    default = await median_job_ms(registry, light[:3] + [c.copy(max_iter=501) for c in light])
    tiled = await median_job_ms(registry, [c.copy(max_iter=502) for c in light], **planned)
    grid = JobManager(registry).submit(light[0].copy(max_iter=503), **planned)
    await grid.result()
    previews = [c.copy(max_iter=504).preview() for c in light]
    remote = await median_job_ms(registry, previews, preview=True)
    local = await median_job_ms(
        registry, [c.copy(max_iter=505).preview() for c in light], local=True
    )
    renders = []
    for config in light:
        start = time.perf_counter()
        render(config)
        renders.append((time.perf_counter() - start) * 1000)
    print(
        f"  {label}: default 1024x1024 frame as a Dask job {default:.0f} ms in 16 tiles, "
        f"{tiled:.0f} ms in the {grid.parts_total} tiles its cost calls for; in-process "
        f"render() {statistics.median(renders):.0f} ms. 128 px preview: a Dask round trip "
        f"{remote:.1f} ms, in this process (a thread) {local:.1f} ms"
    )


async def repeated(client, registry) -> dict:
    config = heavy(100).copy(max_iter=1000)
    start = time.perf_counter()
    await JobManager(registry).submit(config).result()
    computed = time.perf_counter() - start

    await client.register_plugin(ExecutionCounter())
    start = time.perf_counter()
    job = JobManager(registry).submit(config)  # another session asks for the same view
    await job.result()
    cached = time.perf_counter() - start
    return {
        "first request (s)": computed,
        "repeated request (s)": cached,
        "state": job.state,
        "tasks executed": len(await tiles_ran(client)),
        "speed-up": computed / cached,
    }


async def main(args) -> None:
    with LocalCluster(
        n_workers=args.workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0"
    ) as cluster:
        async with Client(cluster.scheduler_address, asynchronous=True) as client:
            await client.register_plugin(KernelWarmup())
            # One registry for every manager on this client, as an engine keeps: a view
            # asked for again is served from its cache.
            registry = fractal_registry(client)
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
                    ("through a RenderSession", "session"),
                )
            ):
                # Distinct configs in each round: a repeat would be served from the cache.
                result = await burst(
                    client,
                    registry,
                    args.changes,
                    args.interval,
                    debounce,
                    base * (args.changes + 1),
                )
                figures = ", ".join(
                    f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in result.items()
                )
                print(f"  {label:24} {figures}")
            await overhead(registry, "LocalCluster (scheduler in this process)")
            result = await repeated(client, registry)
            print(
                "repeated config: first {first request (s)[.3f} s, repeated "
                "{repeated request (s)[.4f} s ({state}, {tasks executed} tasks), "
                "{speed-up[.0f}x faster".replace("[", ":").format(**result)
            )
            registry.close()
    # The app's embedded cluster: the same, with the scheduler in a process of its own.
    cluster = await asyncio.to_thread(local_cluster, args.workers)
    try:
        async with Client(
            cluster.scheduler_address, asynchronous=True, direct_to_workers=True
        ) as client:
            await client.register_plugin(KernelWarmup())
            registry = fractal_registry(client)
            try:
                await overhead(
                    registry, "compute.engine.cluster.local_cluster (scheduler in a subprocess)"
                )
            finally:
                registry.close()
    finally:
        await asyncio.to_thread(cluster.close)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--changes", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--debounce", type=float, default=0.2)
    asyncio.run(main(parser.parse_args()))
