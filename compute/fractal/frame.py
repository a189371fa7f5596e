"""The frame: one view of a fractal as a kind of work, its parts the view's tiles.

A frame's tiles are Dask tasks named after the frame alone (its key, its grid, the
tile's place), so the same request from anywhere (another session, another server
process on the same scheduler) names the same tasks and Dask computes them once. Its
tiles take turns with other consumers' by their estimated cost
(:mod:`compute.engine.fairness`), a preview's ahead of all; a cheap preview may instead
be computed in this process, in a thread, where a Dask round trip costs more than the
frame (``local=True``; never stored).
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field
from typing import Any

import dask
import numpy as np
import param

from ..engine.codecs import ArrayCodec, Codec
from ..engine.driver import Driver
from ..engine.job import Job
from ..engine.schema import from_json, json_schema
from ..engine.store import MISSING
from ..engine.work import Work
from .colour import COLORMAPS, NORMALIZATIONS, to_png
from .config import FractalConfig
from .deep import (
    DeepDriver,
    compute_orbit,
    critical_for,
    deep_tiles,
    keep_orbit,
    kept_orbit,
    reference_for,
    render_deep_frame,
    tables_key,
)
from .locations import locations, with_location
from .tiles import Tile, assemble, compute_tile, plan, seconds, split, tile_tasks
from .tiles import render as render_shallow

#: What a step of the perturbation kernel costs in float64 iterations (bench/deep.py:
#: 0.10-0.13x without BLA; a BLA step costs about as much as a plain one).
DEEP_COST = 8.0
#: The name of a frame's tile tasks: ``("fractal-tile-<frame key>", "<rows>x<cols>", row, col)``.
TILE_TASK = "fractal-tile"


@dataclass(frozen=True)
class TileResult:
    """A finished tile: where it goes in the frame, and its escape values."""

    tile: Tile
    values: np.ndarray


def render(config: FractalConfig, *, threads: int | None = None) -> np.ndarray:
    """Compute a frame in this process, without Dask: float64, or perturbation when deep.

    Parameters
    ----------
    config : FractalConfig
        The view to compute; validated first.
    threads : int, optional
        Threads computing tiles in parallel (the kernels release the GIL). Defaults to the
        number of CPUs.

    Returns
    -------
    ndarray of float64, shape ``(config.height, config.width)``
        Smooth escape values, NaN inside the set; row 0 is the bottom of the view.
    """
    config.validate()
    if not config.deep:
        return render_shallow(config, threads=threads)
    tiles = split(config.width, config.height)
    return assemble(
        config.height, config.width, zip(tiles, render_deep_frame(config, tiles), strict=True)
    )


class FrameJob(Job):
    """One frame of one config: its parts are tiles (:class:`TileResult`), and for a deep
    frame the chunks of its reference orbit first (parts with no value, None)."""

    config = param.ClassSelector(
        class_=FractalConfig, constant=True, doc="A copy of the requested config."
    )

    noun = ("tile", "tiles")

    def __init__(self, config: FractalConfig, *, grid: tuple[int, int] | None = None, **params):
        tiles = split(config.width, config.height, grid)
        #: The deep frame's reference orbit (None for a float64 frame), and a Julia
        #: set's second, of its critical point (None for any other).
        self.reference = reference_for(config) if config.deep else None
        self.critical = critical_for(config) if config.deep else None
        chunks = sum(r.chunks for r in (self.reference, self.critical) if r is not None)
        super().__init__(
            config.key,
            kind=FrameWork.kind,
            summary=config.summary(),
            config=config.copy(),
            parts_total=chunks + len(tiles),
            request=config.to_dict(),
            **params,
        )
        self.tiles = tiles
        self._value = np.empty((config.height, config.width))
        #: Steps the perturbation kernel took for the tiles computed so far: what a deep
        #: frame's tiles cost (BLA skips most iterations); None for float64 frames and
        #: frames from a cache.
        self.steps: float | None = None

    @property
    def grid(self) -> tuple[int, int]:
        """``(rows, cols)`` of the frame's tiles."""
        return max(t.row for t in self.tiles) + 1, max(t.col for t in self.tiles) + 1

    @property
    def frame(self) -> np.ndarray:
        """The frame as assembled so far (tiles not yet received hold garbage)."""
        return self._value

    @property
    def finished_tiles(self) -> list[TileResult]:
        """The tiles received so far, in the order they arrived."""
        return [part for part in self.parts if part is not None]

    async def result(self) -> np.ndarray:
        """The finished frame, read-only: shape ``(height, width)``, NaN inside the set.

        Raises
        ------
        JobFailed
            With the worker's error message.
        JobCancelled
            If the job was cancelled before it finished.
        """
        return await super().result()

    # -- written by its driver ---------------------------------------------------------------
    def split(self, value: np.ndarray) -> list[TileResult]:
        # A finished frame from a cache: every tile at once, in the order tasks would run
        # (a deep frame's reference chunks first, as they would have come).
        chunks = [None] * (self.parts_total - len(self.tiles))
        return chunks + [TileResult(t, value[t.slices]) for t in self.tiles]

    def add_steps(self, steps: float) -> None:
        """A deep tile took ``steps`` kernel steps."""
        self.steps = (self.steps or 0.0) + steps

    def place(self, tile: Tile, values: np.ndarray) -> None:
        """Tile ``tile`` arrived with ``values``."""
        self._value[tile.slices] = values
        self.part_done(TileResult(tile, self._value[tile.slices]), (tile.row, tile.col))

    def finish(self, state: str, error: str | None = None, **kwargs) -> None:
        if state == "done" and not self.done:
            value = kwargs.get("value", self._value)
            value.setflags(write=False)
        super().finish(state, error, **kwargs)


@dataclass
class FrameWork(Work):
    """A frame of ``config``.

    Parameters
    ----------
    config : FractalConfig
        The view; validated.
    iterations : float, optional
        Its expected cost in kernel steps (from a preview: its escape values, see
        :func:`~compute.fractal.tiles.expected_iterations`, or for a deep frame the steps
        its preview's kernel took, BLA steps counting one each): it chooses the tiling,
        the tiles' place in the queue and whether the frame is within the budget;
        without it, every pixel is assumed to run ``max_iter``.
    preview : bool
        Ahead of every frame in the queue.
    local : bool
        Computed in this process, in a thread, instead of on the cluster (for cheap
        previews, where a Dask round trip costs more than the frame; not persisted).
    """

    kind = "frame"
    #: A frame is bounded by its pixel budget: it is no background job, even detached.
    background = False
    http = True
    #: A picture coloured as asked (or as the config says), or the values themselves.
    formats = ("png", "npy")

    config: FractalConfig
    iterations: float | None = None
    preview: bool = False
    local: bool = False
    key: str = field(init=False)
    cost: float = field(init=False)

    def __post_init__(self):
        self.config.validate()
        # A preview is bounded by its frame's budget (a 64th of its pixels); a frame by
        # its estimate, or its worst case without one.
        if not self.preview:
            self.config.check_budget(self.iterations)
        self.key = self.config.key
        # A preview computed in this process costs the cluster nothing; a frame costs its
        # estimate, or every pixel to max_iter without one.
        if self.local:
            self.cost = 0.0
        elif self.iterations is not None:
            self.cost = float(self.iterations)
        else:
            self.cost = float(self.config.pixel_iterations)

    @classmethod
    def accepts(cls, obj) -> bool:
        return isinstance(obj, FractalConfig)

    @classmethod
    def of(cls, obj, args: tuple, kwargs: dict, key: str | None) -> FrameWork:
        unknown = set(kwargs) - {"iterations", "preview", "local"}
        if args or key is not None or unknown:
            raise TypeError(f"a frame takes only iterations, preview and local: {unknown}")
        return cls(obj, **kwargs)

    def to_dict(self) -> dict:
        return self.config.to_dict()

    @classmethod
    def from_dict(cls, values: dict) -> FrameWork:
        return cls(FractalConfig.from_dict(values))

    @classmethod
    def parameters(cls) -> dict:
        schema = json_schema(FractalConfig)
        schema["properties"]["location"] = {
            "description": "A famous place's name (GET /api/locations): its view and "
            "iterations, but for the values given beside it.",
            "type": "string",
            "enum": [place.name for place in locations()],
        }
        return schema

    @classmethod
    def from_params(cls, params) -> FrameWork:
        return cls(from_json(FractalConfig, with_location(params), "the config's"))

    @classmethod
    def encode(cls, job: FrameJob, fmt: str, options: dict[str, str]) -> tuple[str, bytes]:
        """The frame as a PNG (``colormap`` and ``normalization`` from the query, else
        the config's: recoloured, no task) or as ``.npy`` values."""
        return encode_frame(job.frame, fmt, options, job.config)

    @classmethod
    def encode_cost(cls, job: FrameJob, fmt: str) -> float:
        return job.frame.size * ENCODE_COST[fmt]

    @property
    def codec(self) -> Codec | None:
        # A preview computed here is never stored. A stored frame is what render() makes:
        # float64 values of the config's shape; any other entry is damaged, recomputed.
        if self.local:
            return None
        return ArrayCodec((self.config.height, self.config.width), np.float64)

    @property
    def _iterations(self) -> float:
        # In float64 iterations: a perturbed one costs about DEEP_COST of them.
        iterations = self.iterations
        if iterations is None:
            iterations = float(self.config.pixel_iterations)
        return iterations * (DEEP_COST if self.config.deep else 1.0)

    def job(self) -> FrameJob:
        if self.local or self.iterations is None:
            return FrameJob(self.config)  # the default grid
        return FrameJob(self.config, grid=plan(self.config, self._iterations))

    def driver(self, job: FrameJob, registry, holder=None) -> Driver:
        if self.local:
            return _LocalFrameDriver(job, self, registry)
        if self.config.deep:
            # One place in the fair queue for the whole frame (its tiles share one orbit
            # and start together): a preview's ahead of every frame, as in float64.
            config = self.config
            cost = seconds(self._iterations, config.width * config.height)
            [(tag, _)] = registry.queue.plan([cost], holder, lead=self.preview)
            return DeepDriver(job, self, registry, priority=-tag)
        return _FrameDriver(job, self, registry, holder)


#: Pixel-iterations charged per pixel encoded in the server, by format: the kernel's
#: rate, measured here, prices an encoding's CPU time as work on the cluster is priced
#: (a 1024x1024 frame at max_iter 256: 0.055 s to render, 0.19 s to colour and
#: compress as PNG, 0.0065 s to write as .npy).
ENCODE_COST = {"png": 1000.0, "npy": 32.0}


def encode_frame(frame: np.ndarray, fmt: str, options: dict[str, str], shown) -> tuple[str, bytes]:
    """A frame's values as a PNG (``colormap`` and ``normalization`` from ``options``, else
    ``shown``'s: recoloured, no task) or as ``.npy``: what a frame kind's ``encode`` serves.

    Raises
    ------
    ValueError
        For a colormap or normalisation that does not exist.
    """
    if fmt == "npy":
        buffer = io.BytesIO()
        np.save(buffer, frame, allow_pickle=False)
        return "application/octet-stream", buffer.getvalue()
    colormap, normalization = display(options, shown)
    return "image/png", to_png(frame, colormap, normalization)


def display(options: dict[str, str], config: FractalConfig | None = None) -> tuple[str, str]:
    """``(colormap, normalization)`` from a request's ``options`` (else ``config``'s).

    Raises
    ------
    ValueError
        For a colormap or normalisation that does not exist.
    """
    config = config or FractalConfig()
    colormap = options.get("colormap", config.colormap)
    normalization = options.get("normalization", config.normalization)
    if colormap not in COLORMAPS:
        raise ValueError(f"Unknown colormap {colormap!r}.")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"Unknown normalization {normalization!r}.")
    return colormap, normalization


class _FrameDriver(Driver):
    """A frame's tiles on the cluster: one graph, in fair order, each tile a part."""

    job: FrameJob
    work: FrameWork

    def __init__(self, job: FrameJob, work: FrameWork, registry, holder):
        super().__init__(job, work, registry)
        config = job.config
        rows, cols = job.grid
        self._tasks = tile_tasks(config, job_key=job.key, grid=job.grid)
        # Nothing of this process in the key (no attempt counter): every process names a
        # frame's tiles alike, so Dask shares them. The grid is in it because tile
        # (row, col) means another rectangle on another grid.
        self._keys = [
            (f"{TILE_TASK}-{job.key}", f"{rows}x{cols}", t.tile.row, t.tile.col)
            for t in self._tasks
        ]
        pixels = config.width * config.height
        # Unknown: assume the worst, every pixel to max_iter.
        iterations = work.iterations if work.iterations is not None else pixels * config.max_iter
        costs = [seconds(iterations * t.tile.size / pixels, t.tile.size) for t in self._tasks]
        self._spans = registry.queue.plan(costs, holder, lead=work.preview)
        self._booking = registry.queue.book(dict(zip(self._keys, self._spans, strict=True)))

    @property
    def spans(self) -> list[tuple[float, float]]:
        """Start and finish tags of its tiles in the fair queue, in submission order."""
        return list(self._spans)

    def joined(self, holder) -> None:
        # Whoever wants the frame pays (in turns) for its tiles' starts.
        self._booking.payers.add(holder)

    def started(self, key) -> None:
        # A tile of an earlier job for this frame on another grid is not one of this job's.
        part = self._parts.get(key)
        if part is not None:
            self.job.part_started(part)

    async def compute(self) -> np.ndarray:
        tiles = []
        for task, key, (tag, _) in zip(self._tasks, self._keys, self._spans, strict=True):
            # Dask runs higher priorities first: lower start tags first.
            with dask.annotate(priority=-tag, retries=0):
                tiles.append(dask.delayed(compute_tile)(task, dask_key_name=key))
        # One graph for all tiles, not a submit each: the scheduler then sees the whole
        # group at once and queues all of it by priority (root-ish tasks), where tiles
        # submitted one by one had their first two sent straight to a worker, ahead of
        # tiles of other jobs with lower tags waiting in the scheduler's queue.
        futures = self.registry.client.compute(tiles, optimize_graph=False)
        # A tile is the part at its place, (row, col): what reports and streams name.
        places = [(t.tile.row, t.tile.col) for t in self._tasks]
        self._tiles = {place: t.tile for place, t in zip(places, self._tasks, strict=True)}
        self.track(
            dict(zip(places, futures, strict=True)), dict(zip(places, self._keys, strict=True))
        )
        await self.gather_all(self._collect, places)
        return self.job.frame

    async def _collect(self, place: tuple[int, int]) -> None:
        values = await self.collect(place)
        if values is not MISSING:
            self.job.place(self._tiles[place], values)

    def _release(self) -> None:
        super()._release()
        self._booking.close()


class _LocalFrameDriver(Driver):
    """In this process, in a thread (the kernels release the GIL): the event loop never
    computes. A thread cannot be stopped either: a cancelled local job's result is
    dropped when it arrives. A deep preview draws against its kept reference orbit, or
    computes it here and keeps it (its frame, on the cluster, then finds it)."""

    job: FrameJob

    async def compute(self) -> Any:
        loop = asyncio.get_running_loop()
        job, results = self.job, self.registry.results
        reference = job.reference
        orbit, prefix = (None, None) if reference is None else await kept_orbit(results, reference)
        critical = None if job.critical is None else await kept_orbit(results, job.critical)
        # Read on the loop: the memory cache is not thread-safe.
        tables_name = tables = None
        if reference is not None:
            [first] = deep_tiles(job.config, job.tiles[:1], reference)
            tables_name = tables_key(reference, first)
            tables = results.cached(tables_name)
        computed, stats = [], {}

        def compute() -> np.ndarray:
            loop.call_soon_threadsafe(job.part_started, (0, 0))
            if reference is None:
                return render_shallow(job.config, threads=1)
            found = orbit
            if found is MISSING:
                found, state = compute_orbit(reference, prefix)
                computed.append((reference, found, state))
            kept = None if tables is MISSING else tables
            second = None
            if critical is not None:
                second, before = critical
                if second is MISSING:
                    second, state = compute_orbit(job.critical, before)
                    computed.append((job.critical, second, state))
            values = render_deep_frame(job.config, job.tiles, found, kept, stats, critical=second)
            return assemble(
                job.config.height, job.config.width, zip(job.tiles, values, strict=True)
            )

        frame = await results.run_locally(compute)
        for spec, found, state in computed:
            keep_orbit(results, spec, found, state)
        if stats.get("tables") is not None:
            # Kept within the memory cache's bound, as orbits are (80 bytes an iteration).
            results.keep(tables_name, stats["tables"])
        if not job.done:
            job.steps = stats.get("steps")
            job.fill(frame)
        return frame
