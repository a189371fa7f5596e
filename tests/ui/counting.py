"""Work the test's `dask worker` did, counted by the worker itself (ExecutionCounter)."""

from __future__ import annotations

import itertools
import re

from compute.engine.diagnostics import ExecutionCounter, executed_tasks, start_order
from compute.engine.testing import scheduler_tasks
from compute.fractal import FractalConfig
from compute.fractal.frame import TILE_TASK

#: A tile's key: ("fractal-tile-<frame key>", "<rows>x<cols>", row, col).
TILE_KEY = re.compile(r"fractal-tile-([a-z]+-[0-9a-f]{24})', '(\d+)x(\d+)'")


def frames_worth(keys: list[str]) -> float:
    """Executed tiles as frames' worth: each tile of an R x C grid is 1/(R*C) of a frame."""
    total = 0.0
    for key in keys:
        match = TILE_KEY.search(key)
        total += 1 / (int(match[2]) * int(match[3]))
    return total


def grid_size(keys: list[str]) -> int:
    """The number of tiles of the frame whose tiles these are (one grid for all of them)."""
    (size,) = {int(m[2]) * int(m[3]) for m in map(TILE_KEY.search, keys)}
    return size


class Counter:
    """Tasks executed on the test's worker, counted by the worker itself."""

    def __init__(self, client):
        self.client = client
        self.reset()

    def reset(self) -> None:
        # Registering again replaces the plugin on the worker: counts start at zero.
        self.client.register_plugin(ExecutionCounter())

    def keys(self) -> list[str]:
        """Keys of executed tile tasks (every frame's)."""
        return self.executed(TILE_TASK)

    def executed(self, prefix: str) -> list[str]:
        """Keys of executed tasks whose name starts with ``prefix``."""
        return [key for key, _ in self.client.sync(executed_tasks, self.client, prefix)]

    def tiles_of(self, config: FractalConfig) -> list[str]:
        """Executed tile tasks of ``config``'s frame (its preview is another frame)."""
        return [key for key in self.keys() if f"-{config.key}'" in key]

    def frames(self) -> dict[str, list[str]]:
        """Executed tile tasks by frame key."""
        out: dict[str, list[str]] = {}
        for key in self.keys():
            out.setdefault(TILE_KEY.search(key)[1], []).append(key)
        return out

    def held(self, config: FractalConfig) -> int:
        """Tasks of ``config``'s frame the scheduler still holds, in any state."""
        return len(self.client.sync(scheduler_tasks, self.client, config.key))

    def started(self) -> list[str]:
        """Tile keys in the order the (one) worker started them."""
        (order,) = self.client.sync(start_order, self.client).values()
        return [key for key in order if TILE_KEY.search(key)]


def frame_of(key: str) -> str:
    """The frame key a tile's key names."""
    return TILE_KEY.search(key)[1]


def longest_run(owners: list[str], who: str) -> int:
    """The most entries ``who`` has in a row in ``owners``."""
    runs = (len(list(run)) for name, run in itertools.groupby(owners) if name == who)
    return max(runs, default=0)
