"""Fair order between consumers, on a `dask scheduler` + one single-threaded `dask worker`:
the order in which the worker started tiles shows who went first, with no timing."""

from __future__ import annotations

import contextlib
import itertools
import re

import pytest
from distributed import Client

from compute.engine import JobManager
from compute.engine.diagnostics import ExecutionCounter, start_order
from compute.fractal import KernelWarmup, fractal_registry
from compute.fractal.testing import heavy

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]

_TILE = re.compile(r"fractal-tile-([a-z]+-[0-9a-f]{24})")


def longest_run(order: list[str], who: str, until: int) -> int:
    """The most tiles of ``who`` that ran in a row among ``order[:until]``."""
    return max(
        (len(list(run)) for name, run in itertools.groupby(order[:until]) if name == who),
        default=0,
    )


@pytest.mark.parametrize(
    "pace",
    [
        # The next frame once a tile of the newest has run.
        "parts_done",
        # The next frame as soon as a tile of the newest starts: the consumer's new frames
        # arrive faster than the worker finishes tiles, each the newest job.
        "parts_started",
    ],
)
async def test_a_consumer_that_keeps_submitting_takes_turns_with_another(
    external_cluster, eventually, pace
):
    async with Client(external_cluster.address, asynchronous=True) as client:
        with contextlib.closing(fractal_registry(client)) as registry:
            await client.register_plugin(KernelWarmup())
            await client.register_plugin(ExecutionCounter())
            # Two consumers of one client: they meet in its registry's fair queue.
            other, dragging = JobManager(registry), JobManager(registry)
            frame = heavy(50)  # 16 tiles of about 0.25 s, one at a time on the one worker
            job = other.submit(frame)
            await eventually(lambda: job.parts_done >= 2, "the other consumer's frame to start")
            # A drag: each new frame supersedes the consumer's previous one; every one of
            # them is the newest job on the cluster.
            keys = set()
            for n in range(4):
                newest = dragging.submit(heavy(51 + n))
                keys.add(newest.key)
                await eventually(
                    lambda j=newest: getattr(j, pace) >= 1, f"the dragged frame's {pace}"
                )
            assert await job.wait() == "done"
            dragging.cancel()

            (order,) = (await start_order(client)).values()
            owners = []
            for key in order:
                match = _TILE.search(key)
                if match:
                    owners.append("other" if match[1] == frame.key else "drag")
            last_other = len(owners) - owners[::-1].index("other")
            # Newest-first ordering would run each dragged frame's 16 tiles before the other
            # frame's next one; fair ordering takes turns, tile by tile.
            assert owners.count("drag") >= 4
            assert longest_run(owners, "drag", last_other) <= 2, owners
            assert other.registry is dragging.registry is registry
            assert registry.client is client
