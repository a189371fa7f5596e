"""What a zoom movie costs on the cluster, what it keeps, and what asking again costs.

Run: ``.venv/bin/python bench/movie.py`` (``--frames``, ``--width``, ``--height`` size the
movie). Prints, side by side in one run, for a zoom movie into the default Julia set made
as a detached job on a fresh embedded cluster (``compute.engine.local_cluster``: two
single-threaded worker processes, as the app starts by default; kernels warmed first):

1. Throughput, submit to done, split into rendering (the colour fit and every frame,
   until the last frame arrived) and encoding (MP4, GIF and WebP in a thread), against
   rendering the same frames in this process one after another (``render(threads=1)``
   and ``render()`` on every core, plus the colour indexing), as frames per second and
   their ratio. Each is measured several times: median (min-max).
2. What a movie keeps: float64 frames against one-byte colour indices, raw and as the
   store keeps them (zlib, ``.part`` entries), and the encoded files; and the same
   arithmetic for 300 frames of 1024x1024.
3. Asking again: the identical request (memory cache, and another process through the
   store) and one that differs only in its colormap (every frame's indices reused).
4. The event loop while the movie encodes: how late a task that sleeps 10 ms wakes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from distributed import Client

from compute.engine import JobManager, JobRegistry
from compute.engine.cluster import local_cluster
from compute.engine.diagnostics import ExecutionCounter, executed_tasks, task_spans
from compute.fractal import FractalConfig, FrameStore, KernelWarmup, fractal_registry, render
from compute.fractal.colour import Normalizer, lookup_table
from compute.fractal.kernels import warm_up
from compute.fractal.movie import (
    ANIMATION_EDGE,
    FIT_SAMPLES,
    PREVIEW_EDGE,
    MovieSpec,
    movie_sample,
)
from compute.fractal.video import FORMATS, encode

MiB, GiB = 2**20, 2**30


# -- the event loop's lag ---------------------------------------------------------------------
class LagMeter:
    """A task that sleeps ``period`` in a loop and records how late it wakes."""

    def __init__(self, period: float = 0.01):
        self.period = period
        #: (went to sleep, woke, seconds late) of every sleep.
        self.samples: list[tuple[float, float, float]] = []
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            slept = time.perf_counter()
            await asyncio.sleep(self.period)
            woke = time.perf_counter()
            self.samples.append((slept, woke, max(woke - slept - self.period, 0.0)))

    def __enter__(self) -> LagMeter:
        self._task = asyncio.ensure_future(self._run())
        return self

    def __exit__(self, *exc) -> None:
        self._task.cancel()

    def during(self, start: float, end: float) -> list[float]:
        """Lags of the sleeps that overlapped ``[start, end]``."""
        return [lag for slept, woke, lag in self.samples if woke > start and slept < end]


def p99(values: list[float]) -> float:
    return float(np.percentile(values, 99)) if values else float("nan")


# -- formatting -------------------------------------------------------------------------------
def spread(values: list[float], unit: str = "s", digits: int = 2) -> str:
    """``"1.23 s (1.20-1.30)"``: the median and the range."""
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f} {unit}"
    return f"{med:.{digits}f} {unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def size(n: float) -> str:
    if n >= GiB:
        return f"{n / GiB:.2f} GiB"
    if n >= MiB:
        return f"{n / MiB:.1f} MiB"
    return f"{n / 2**10:.0f} KiB"


# -- the movie --------------------------------------------------------------------------------
def movie_spec(args, **changes) -> MovieSpec:
    end = FractalConfig(x_range=(-0.1, 0.1), y_range=(-0.1, 0.1), max_iter=args.end_iter)
    params = dict(
        start=FractalConfig(max_iter=args.start_iter),
        end=end,
        frames=args.frames,
        width=args.width,
        height=args.height,
        fps=args.fps,
    )
    return MovieSpec(**{**params, **changes})


async def made(
    registry: JobRegistry, spec: MovieSpec, encoding: asyncio.Event | None = None
) -> dict:
    """Detach ``spec`` on ``registry`` and time its phases (perf_counter seconds).

    ``encoding`` is set when the movie starts encoding (every frame has arrived).
    """
    marks: dict[str, float] = {}
    cpu = {"submitted": time.process_time()}
    submitted = time.perf_counter()
    job = registry.detach(spec)

    def phase(event) -> None:
        marks.setdefault(event.new, time.perf_counter())
        cpu.setdefault(event.new, time.process_time())
        if event.new == "encoding" and encoding is not None:
            encoding.set()

    def arrived(event) -> None:
        if event.new >= job.parts_total:
            marks.setdefault("last frame", time.perf_counter())

    job.param.watch(phase, "phase")
    job.param.watch(arrived, "parts_done")
    movie = await job.result()
    done = time.perf_counter()
    encoded_from = marks.get("encoding", done)
    rendered = marks.get("last frame", encoded_from)
    return {
        "job": job,
        "movie": movie,
        "state": job.state,
        "submitted": submitted,
        "fit": marks.get("rendering", submitted) - submitted,
        "rendering": rendered - submitted,
        # This process's CPU (every thread) until encoding began: submitting, gathering.
        "server cpu": cpu.get("encoding", time.process_time()) - cpu["submitted"],
        "encoding started": encoded_from,
        "encoding": done - encoded_from,
        "done": done,
        "total": done - submitted,
    }


def in_process(spec: MovieSpec, threads: int | None) -> tuple[float, float]:
    """Seconds (wall, CPU) to fit the colours and render every frame's indices here."""
    configs = spec.frame_configs()
    start, cpu = time.perf_counter(), time.process_time()
    step = max(1, len(configs) // FIT_SAMPLES)
    sample = [c.preview(PREVIEW_EDGE) for c in configs[::step]] + [configs[-1].preview(64)]
    fit = Normalizer.fit(movie_sample(sample), spec.normalization)
    for config in configs:
        fit(render(config, threads=threads))
    return time.perf_counter() - start, time.process_time() - cpu


async def movie_tasks(client, spec: MovieSpec) -> int:
    """Tasks of ``spec``'s frames (and its colour fit) that workers executed."""
    ran = await executed_tasks(client, "fractal-movie")
    return sum(spec.frames_key in key for key, _ in ran)


@contextlib.asynccontextmanager
async def fresh_client(address: str):
    """A new client: a new registry, so nothing of a previous run is in its memory."""
    async with Client(
        address, asynchronous=True, direct_to_workers=True, set_as_default=False
    ) as client:
        yield client


@contextlib.asynccontextmanager
async def registry_on(client, store: FrameStore | None = None):
    """A registry for the fractal's kinds on ``client`` (an engine's, without the engine:
    the client is the bench's own), closed before the client."""
    registry = fractal_registry(client, store=store)
    try:
        yield registry
    finally:
        registry.close()


# -- the sections -----------------------------------------------------------------------------
async def throughput(address: str, spec: MovieSpec, args) -> tuple[list, list, list]:
    """Section 1; returns the runs, their loops' lags by phase, and the idle loop's lags."""
    runs, alone, threaded, lags, loads = [], [], [], [], []
    with LagMeter() as meter:
        for _ in range(args.repeats):
            async with fresh_client(address) as client:
                await client.register_plugin(ExecutionCounter())  # fresh counts
                before = await client.run(time.process_time)
                encoding = asyncio.Event()
                async with registry_on(client) as registry:
                    making = asyncio.ensure_future(made(registry, spec, encoding))
                    await encoding.wait()
                    after = await client.run(time.process_time)  # the workers are done
                    run = await making
                run["worker cpu"] = sum(after[w] - before[w] for w in after)
                spans = [s for s in await task_spans(client) if spec.frames_key in s[0]]
                run["frame tasks"] = [end - start for key, start, end in spans if "frame" in key]
                runs.append(run)
            lags.append(
                {
                    "encoding": meter.during(run["encoding started"], run["done"]),
                    "rendering": meter.during(run["submitted"], run["encoding started"]),
                }
            )
            # In-process baselines, interleaved so that drift hits every figure alike.
            alone.append(await asyncio.to_thread(in_process, spec, 1))
            threaded.append(await asyncio.to_thread(in_process, spec, None))
            loads.append(os.getloadavg()[0])

    n = spec.frames
    rendering = [r["rendering"] for r in runs]
    cluster_fps = statistics.median(n / s for s in rendering)
    print("1. Throughput")
    print(
        f"  cluster, detached job: submit to done {spread([r['total'] for r in runs])} = "
        f"rendering {spread(rendering)} (of which the colour fit "
        f"{spread([r['fit'] for r in runs])}) + encoding "
        f"{spread([r['encoding'] for r in runs])}"
    )
    print(
        f"  {'cluster rendering':38} {spread([n / s for s in rendering], 'frames/s', 1)}; "
        f"submit to done {spread([n / r['total'] for r in runs], 'frames/s', 1)}"
    )
    # Where rendering goes: a frame task's wall time on a worker, the CPU the worker
    # processes and this one spent, against one in-process frame.
    per_task = [statistics.mean(r["frame tasks"]) * 1000 for r in runs]
    worker_cpu = [r["worker cpu"] * 1000 / n for r in runs]
    server_cpu = [r["server cpu"] * 1000 / n for r in runs]
    print(
        f"  {'  a frame on the cluster':38} {spread(per_task, 'ms', 0)} of wall time in its "
        f"task; CPU of the worker processes {spread(worker_cpu, 'ms', 0)}, of this process "
        f"{spread(server_cpu, 'ms', 1)} (from submit to encoding, over the frames)"
    )
    print(
        f"  {'  a frame in-process, one thread':38} "
        f"{spread([w / n * 1000 for w, _ in alone], 'ms', 0)} of wall time, CPU "
        f"{spread([c / n * 1000 for _, c in alone], 'ms', 0)}"
    )
    for label, measured in (
        ("in-process render(threads=1) + colour", alone),
        ("in-process render() + colour", threaded),
    ):
        times = [wall for wall, _ in measured]
        fps = statistics.median(n / s for s in times)
        print(
            f"  {label:38} {spread([n / s for s in times], 'frames/s', 1)} "
            f"({spread(times)}); cluster/in-process {cluster_fps / fps:.2f}x"
        )

    # Where encoding goes: each format alone, on the same frames, in a thread.
    job = runs[-1]["job"]
    frames = [part.value for part in sorted(job.parts, key=lambda p: p.index)]
    table = lookup_table(spec.colormap)
    per_format = []
    with LagMeter() as meter:
        await asyncio.sleep(1.0)  # a control: the loop's lag with nothing running
        idle = meter.during(0.0, time.perf_counter())
        for fmt in FORMATS:
            start = time.perf_counter()
            await asyncio.to_thread(
                encode,
                iter(frames),
                table,
                fps=spec.fps,
                format=fmt,
                max_edge=None if fmt == "mp4" else ANIMATION_EDGE,
            )
            end = time.perf_counter()
            lag = max(meter.during(start, end), default=0.0)
            per_format.append(f"{fmt} {end - start:.2f} s (loop lag max {lag * 1000:.1f} ms)")
    print(f"  encoding each format alone, in a thread: {', '.join(per_format)}")
    print(f"  (1-minute load average after each run: {', '.join(f'{x:.2f}' for x in loads)})")
    print()
    return runs, lags, idle


def keeps(spec: MovieSpec, store: FrameStore, movie) -> None:
    pixels = spec.frames * spec.width * spec.height
    parts = sorted(Path(store.location, "blobs").glob(f"{spec.frames_key}-*.part"))
    packed = sum(p.stat().st_size for p in parts)
    print(f"2. What a movie keeps ({spec.frames} frames of {spec.width}x{spec.height})")
    print(f"  float64 frames (frames x w x h x 8)       {size(pixels * 8):>10}  1.00x")
    print(
        f"  one-byte indices, raw                     {size(pixels):>10}  "
        f"{pixels / (pixels * 8):.3f}x"
    )
    print(
        f"  indices zlib-compressed ({len(parts)} .part files)  {size(packed):>10}  "
        f"{packed / (pixels * 8):.3f}x ({pixels / packed:.1f}x smaller than raw indices)"
    )
    for fmt in FORMATS:
        data = movie.data(fmt)
        print(
            f"  {fmt.upper():4} file{'':37}{size(len(data)):>10}  "
            f"{len(data) / (pixels * 8):.4f}x ({len(data) * 8 / spec.frames / 1000:.0f} kbit "
            "a frame)"
        )
    readme = 300 * 1024 * 1024
    print(
        f"  300 frames of 1024x1024 (README): float64 {size(readme * 8)} "
        f"({readme * 8 / 1e9:.2f} GB), indices raw {size(readme)}, zlib at this movie's "
        f"ratio about {size(readme * packed / pixels)}; the store's default bound 2 GiB"
    )
    print()


async def again(address: str, args, spec: MovieSpec, store_dir: str, runs: list[dict]) -> None:
    store = FrameStore(store_dir)
    recoloured = movie_spec(args, colormap="kbc")
    async with fresh_client(address) as client, registry_on(client, store) as registry:
        await client.register_plugin(ExecutionCounter())
        first = await made(registry, spec)
        await registry.flush()  # the .part files are written in the background
        first_tasks = await movie_tasks(client, spec)
        keeps(spec, store, first["movie"])

        print("3. Asking again")
        print(
            f"  first request (with a store): {first['total']:.2f} s, {first['state']}, "
            f"{first_tasks} tasks (fit + {spec.frames} frames)"
        )
        await client.register_plugin(ExecutionCounter())  # fresh counts
        same = await made(registry, movie_spec(args))
        print(
            f"  identical request, same process:    {same['total'] * 1000:7.2f} ms, "
            f"{same['state']}, {await movie_tasks(client, spec)} tasks"
        )
        await client.register_plugin(ExecutionCounter())
        recolour = await made(registry, recoloured)
        print(
            f"  only the colormap differs (kbc):    {recolour['total']:7.2f} s, "
            f"{recolour['state']}, {await movie_tasks(client, spec)} tasks: frames from the "
            f"store {recolour['encoding started'] - recolour['submitted']:.2f} s + encoding "
            f"{recolour['encoding']:.2f} s (first movie's encoding "
            f"{spread([r['encoding'] for r in runs])})"
        )
        await registry.flush()
    async with fresh_client(address) as client:  # another server process on the store
        await client.register_plugin(ExecutionCounter())
        async with registry_on(client, FrameStore(store_dir)) as registry:
            other = await made(registry, movie_spec(args))
        print(
            f"  identical request, another process: {other['total'] * 1000:7.2f} ms, "
            f"{other['state']}, {await movie_tasks(client, spec)} tasks (read from the store)"
        )
    async with fresh_client(address) as client, registry_on(client) as registry:
        # No store: the frames are not kept.
        await client.register_plugin(ExecutionCounter())
        await made(registry, spec)
        await client.register_plugin(ExecutionCounter())
        bare = await made(registry, recoloured)
        print(
            f"  only the colormap differs, without a store: {bare['total']:.2f} s, "
            f"{bare['state']}, {await movie_tasks(client, spec)} tasks"
        )
    print()


def loop_lag(lags: list[dict], idle: list[float]) -> None:
    encoding = [lag for run in lags for lag in run["encoding"]]
    rendering = [lag for run in lags for lag in run["rendering"]]
    per_run = ", ".join(f"{max(run['encoding']) * 1000:.1f}" for run in lags)
    print("4. The event loop (a task sleeping 10 ms in a loop: how late it wakes)")
    print(
        f"  while the movie encodes ({len(encoding)} wake-ups in {len(lags)} runs): max "
        f"{max(encoding) * 1000:.1f} ms, p99 {p99(encoding) * 1000:.1f} ms "
        f"(max per run: {per_run} ms)"
    )
    print(
        f"  while its frames render and arrive ({len(rendering)} wake-ups): max "
        f"{max(rendering) * 1000:.1f} ms, p99 {p99(rendering) * 1000:.1f} ms"
    )
    print(
        f"  idle, for comparison ({len(idle)} wake-ups in 1 s): max {max(idle) * 1000:.1f} ms, "
        f"p99 {p99(idle) * 1000:.1f} ms"
    )


async def beside(address: str, args) -> None:
    """An explorer's frame alone, and while a movie renders: movies go behind it."""
    light = FractalConfig(c_real=-0.7, c_imag=0.27, max_iter=300, width=512, height=512)
    alone, meanwhile = [], []
    for n in range(args.repeats):
        async with fresh_client(address) as client, registry_on(client) as registry:
            config = light.copy(c_real=-0.7 + n * 1e-3)
            started = time.perf_counter()
            await JobManager(registry).submit(config).result()
            alone.append(time.perf_counter() - started)
            # A movie of its own each time (another end), so that nothing is cached.
            end = FractalConfig(
                x_range=(-0.1, 0.1), y_range=(-0.1, 0.1), max_iter=args.end_iter + n + 1
            )
            movie = registry.detach(movie_spec(args, end=end))
            busy = asyncio.Event()  # the workers are busy with its frames
            movie.param.watch(lambda e, busy=busy: e.new >= 2 and busy.set(), "parts_done")
            await busy.wait()
            config = light.copy(c_real=-0.6 - n * 1e-3)
            started = time.perf_counter()
            await JobManager(registry).submit(config).result()
            meanwhile.append(time.perf_counter() - started)
            registry.cancel(movie)
    print("5. An explorer's 512x512 frame (submit to done), alone and while a movie renders")
    print(f"  alone                 {spread(alone)}")
    print(
        f"  while a movie renders {spread(meanwhile)} "
        f"({statistics.median(meanwhile) / statistics.median(alone):.2f}x): its tiles go "
        "first, after the movie frames already running"
    )
    print()


async def main(args) -> None:
    spec = movie_spec(args)
    warm_up()  # this process's kernels, for the in-process baseline
    for fmt in FORMATS:  # load PyAV's and Pillow's codecs before anything is timed
        encode([np.zeros((16, 16), np.uint8)] * 2, lookup_table("fire"), fps=24, format=fmt)
    cost = sum(c.pixel_iterations for c in spec.frame_configs())
    print(
        f"{spec.summary()}; at most {cost / 1e9:.1f} billion pixel-iterations. "
        f"{args.workers} single-threaded workers, scheduler in a {args.scheduler}; "
        f"{args.repeats} runs of each, median (min-max); load average "
        f"{os.getloadavg()[0]:.2f} (1 min, before)"
    )
    started = time.perf_counter()
    cluster = await asyncio.to_thread(local_cluster, args.workers, 1, args.scheduler)
    try:
        address = cluster.scheduler_address
        async with fresh_client(address) as client:
            await client.register_plugin(KernelWarmup())
            # Untimed: the workers import compute.fractal.movie (and PyAV) at their first
            # frame.
            async with registry_on(client) as registry:
                await made(registry, movie_spec(args, frames=2, width=32, height=32))
        print(f"  (cluster started and warmed in {time.perf_counter() - started:.1f} s)\n")
        runs, lags, idle = await throughput(address, spec, args)
        with tempfile.TemporaryDirectory(prefix="bench-movie-") as store_dir:
            await again(address, args, spec, store_dir, runs)
        loop_lag(lags, idle)
        print()
        await beside(address, args)
        print(f"(load average at the end {os.getloadavg()[0]:.2f})")
    finally:
        await asyncio.to_thread(cluster.close)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--height", type=int, default=384)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--start-iter", type=int, default=200)
    parser.add_argument("--end-iter", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scheduler", choices=("process", "thread"), default="process")
    asyncio.run(main(parser.parse_args()))
