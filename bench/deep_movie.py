"""A deep zoom movie on the cluster against the same frames rendered here one by one.

Run: ``.venv/bin/python bench/deep_movie.py`` (``--frames``, ``--size``, ``--span``).
Prints, side by side in one run, for a zoom from the whole Mandelbrot set into the
seahorse valley at ``--span`` (1e-50 by default, iterations following the depth) made as
a job on a fresh embedded cluster (two single-threaded workers, kernels warmed first):

1. The movie: submit to done, and the part spent on its one reference orbit (its first
   parts), against a shallow movie of the same frames and size (into 1e-10, float64
   only: what a movie cost before it could go deep).
2. The same deep frames rendered in this process one after another with
   ``render(threads=1)``: each computes its own reference orbit, as frames rendered one by
   one would; the movie computes one for all.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from distributed import Client

from compute.engine import JobManager
from compute.engine.cluster import local_cluster
from compute.fractal import FractalConfig, KernelWarmup, MovieSpec, fractal_registry, render
from compute.fractal.bla import warm_up as bla_warm_up
from compute.fractal.extended import warm_up as extended_warm_up
from compute.fractal.kernels import warm_up

SEAHORSE = ("-0.743643887037158704752191506114774", "0.131825904205311970493132056385139")


def spec_into(span: str, args) -> MovieSpec:
    end = FractalConfig(
        fractal="mandelbrot",
        center_real=SEAHORSE[0],
        center_imag=SEAHORSE[1],
        span=span,
        max_iter=None,  # following the depth
    )
    start = FractalConfig(fractal="mandelbrot", max_iter=200)
    return MovieSpec(start=start, end=end, frames=args.frames, width=args.size, height=args.size)


async def on_cluster(address: str, spec: MovieSpec) -> tuple[float, float]:
    """Seconds submit to done, and to the reference's last chunk (0 without one)."""
    async with Client(address, asynchronous=True, set_as_default=False) as client:
        await client.register_plugin(KernelWarmup())
        registry = fractal_registry(client)
        try:
            chunks = 0 if spec.reference is None else spec.reference.chunks
            start = time.perf_counter()
            job = JobManager(registry).submit(spec)
            reference = 0.0
            while not job.done:
                if not reference and chunks and job.parts_done >= chunks:
                    reference = time.perf_counter() - start
                await asyncio.sleep(0.01)
            await job.result()
            return time.perf_counter() - start, reference
        finally:
            registry.close()


def here(spec: MovieSpec) -> float:
    start = time.perf_counter()
    for config in spec.frame_configs():
        render(config, threads=1)
    return time.perf_counter() - start


async def main(args) -> None:
    warm_up(), bla_warm_up(), extended_warm_up()
    deep, shallow = spec_into(args.span, args), spec_into("1e-10", args)
    n = sum(c.deep for c in deep.frame_configs())
    print(
        f"{args.frames} frames of {args.size}x{args.size} from the whole set into the seahorse "
        f"valley; {n} beyond float64 at {args.span} (max_iter {deep.end.max_iter}, reference "
        f"{deep.reference.chunks} chunks of 10,000)"
    )
    cluster = await asyncio.to_thread(local_cluster, 2, 1)
    try:
        shallow_s, _ = await on_cluster(cluster.scheduler_address, shallow)
        deep_s, reference_s = await on_cluster(cluster.scheduler_address, deep)
    finally:
        await asyncio.to_thread(cluster.close)
    alone = here(deep)
    print(f"{'':38}{'seconds':>10}{'ratio':>8}")
    print(f"{'shallow movie into 1e-10 (baseline)':38}{shallow_s:>10.2f}{1:>8.2f}")
    print(f"{'deep movie into ' + args.span:38}{deep_s:>10.2f}{deep_s / shallow_s:>8.2f}")
    print(f"{'  of which its one reference orbit':38}{reference_s:>10.2f}")
    print(f"{'deep frames here, one by one':38}{alone:>10.2f}{alone / shallow_s:>8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--span", default="1e-50")
    asyncio.run(main(parser.parse_args()))
