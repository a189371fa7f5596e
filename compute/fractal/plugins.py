"""The fractal's worker plugin: its kernels compiled as a worker starts."""

from __future__ import annotations

import asyncio

from distributed import WorkerPlugin


class KernelWarmup(WorkerPlugin):
    """Compile the numba kernels when a worker starts (or restarts).

    Without it the first tile on each worker pays 1-2 s of JIT compilation, which the
    user sees as a frozen first frame. ``setup`` runs on every current worker at
    registration and on every worker that joins later.
    """

    name = "fractal-kernel-warmup"

    async def setup(self, worker) -> None:
        # Imported here: a worker imports the kernels (and numba) only when it gets one.
        from .kernels import warm_up

        # In a thread: compiling takes seconds the worker's event loop (heartbeats,
        # transfers) should not lose.
        await asyncio.to_thread(warm_up)
