"""A deep frame: a Mandelbrot view of any depth, by perturbation, on the cluster.

The view is a centre and a span as decimal strings (:class:`~.viewport.Viewport`), so it
is exact at any depth; its pixels are float64 offsets from a reference orbit computed in
arbitrary precision (:mod:`.reference`, :mod:`.perturbation`). On the cluster a deep frame
is one graph:

* the reference orbit, a chain of tasks, each a chunk of iterations that carries the
  MPFR state to the next: it reports progress chunk by chunk (each is one of the job's
  parts), and a cancelled job's queued chunks never run;
* the orbit joined, then **replicated** to every worker before any tile is submitted:
  the scheduler places a task where its inputs are, and every tile would otherwise be
  pulled onto the one worker that holds the orbit. The orbit is kept by its own key (the
  centre, the precision, the length: :meth:`DeepView.reference_key`) in the engine's
  memory cache and store, within their bounds (16 bytes an iteration): a later frame of
  the same centre and limits (another size, a recoloured request after eviction) sends
  it to the workers instead of computing it;
* the tiles, as a frame's, each reading the shared orbit.

Every name in it derives from the frame's parameters alone (no attempt counter, nothing
of this process): the same view asked for anywhere is computed once.

Not yet here: the explorer's page (it still draws float64 frames), Julia sets, an orbit
reused by other views (rebasing would let one anywhere in the view serve) or extended for
a larger ``max_iter``, previews at depth.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import dask
import numpy as np
import param

from ..engine.codecs import ArrayCodec, Codec
from ..engine.driver import BACKGROUND_PRIORITY, Driver
from ..engine.job import Job
from ..engine.reports import report_started
from ..engine.schema import from_json, json_schema
from ..engine.store import MISSING
from ..engine.work import Work
from .colour import COLORMAPS, NORMALIZATIONS
from .config import Count
from .frame import ENCODE_COST, encode_frame
from .kernels import ESCAPE_RADIUS, KERNEL_VERSION, smooth
from .perturbation import escape_deep, pixel_offsets, view_scale
from .reference import Orbit, ReferenceState, extend, precision_bits
from .tiles import Tile, split
from .viewport import Viewport, auto_max_iter

#: Part of every deep frame's key: bumped when the values for given parameters change.
DEEP_VERSION = 1
#: The most iterations a deep frame may ask for.
MAX_ITER = 1_000_000
#: Iterations per reference task: about 30 ms of one core at 1e-300 (bench/deep.py).
CHUNK = 10_000
#: The name of a deep frame's tasks: ``("deep-<what>-<frame key>", ...)``.
TASK = "fractal-deep"


class DeepView(param.Parameterized):
    """One deep view of the Mandelbrot set: an exact centre and span, square pixels.

    The centre and span are decimal strings in their canonical form (see
    :class:`~.viewport.Viewport`): ``"0.1"``, ``"0.10"`` and ``"1e-1"`` are one view and
    one key. Invalid values raise ``ValueError`` naming the parameter.
    """

    center_real = param.String(default="-0.75", doc="Real part of the centre, a decimal.")
    center_imag = param.String(default="0", doc="Imaginary part of the centre, a decimal.")
    span = param.String(
        default="3", doc="Width of the view along the real axis, a decimal (e.g. '3.2e-213')."
    )
    max_iter = Count(
        default=None,
        allow_None=True,
        bounds=(1, MAX_ITER),
        doc="Iterations before a point counts as inside; left out (None): a number that "
        "grows with depth (viewport.auto_max_iter), resolved before the key is made.",
    )
    width = Count(default=512, bounds=(16, 4096), doc="Frame width in pixels.")
    height = Count(default=512, bounds=(16, 4096), doc="Frame height in pixels.")
    colormap = param.Selector(default="fire", objects=list(COLORMAPS), doc="Display only.")
    normalization = param.Selector(
        default="eq_hist", objects=list(NORMALIZATIONS), doc="Display only."
    )

    def __init__(self, **params):
        super().__init__(**params)
        view = Viewport.from_strings(self.center_real, self.center_imag, self.span)
        view_scale(view.span)  # the kernel's own depth limit, said as a ValueError
        self.center_real, self.center_imag, self.span = view.to_strings()
        if self.max_iter is None:
            self.max_iter = min(auto_max_iter(self.span), MAX_ITER)

    @property
    def key(self) -> str:
        """Names the computed values: the canonical view, the limits, the kernel."""
        fields = [self.center_real, self.center_imag, self.span, self.max_iter]
        fields += [self.width, self.height, KERNEL_VERSION, DEEP_VERSION]
        digest = hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:24]
        return f"deep-{digest}"

    @property
    def reference_key(self) -> str:
        """Names the reference orbit: the centre, the precision, the length."""
        fields = [self.center_real, self.center_imag, self.bits, self.max_iter + 1]
        digest = hashlib.sha256(json.dumps([*fields, DEEP_VERSION]).encode()).hexdigest()[:24]
        return f"orbit-{digest}"

    @property
    def bits(self) -> int:
        """The reference orbit's MPFR precision at this span."""
        return precision_bits(self.span)

    def summary(self) -> str:
        view = Viewport.from_strings(self.center_real, self.center_imag, self.span)
        return f"deep {view.describe()}, {self.max_iter} it, {self.width}x{self.height}"

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.param if name != "name"}


@dataclass(frozen=True)
class DeepTile:
    """What a worker needs for one tile of a deep frame (the orbit comes apart)."""

    job: str
    tile: Tile
    span: str
    width: int
    height: int
    max_iter: int


def reference_chunk(state: ReferenceState, n: int, job: str) -> tuple[ReferenceState, Orbit]:
    """The next ``n`` values of a reference orbit (the function Dask workers run)."""
    report_started(job)
    return extend(state, n)


def deep_tile(orbit: Orbit, task: DeepTile) -> np.ndarray:
    """One tile's smooth escape values (the function Dask workers run)."""
    report_started(task.job)
    scale, mantissa = view_scale(task.span)
    xs, ys = pixel_offsets(task.width, task.height, mantissa)
    rows, cols = task.tile.slices
    counts, mag2 = escape_deep(orbit, xs[None, cols], ys[rows, None], scale, task.max_iter)
    return smooth(counts, mag2)


class OrbitCodec(Codec):
    """A reference orbit as one ``(n, 2)`` float64 array in the store; whether it escaped
    is read off its last value."""

    def save(self, store, key: str, orbit: Orbit) -> None:
        store.put(key, np.stack([orbit.real, orbit.imag], axis=1))

    def load(self, store, key: str):
        found = store.get(key, None, np.float64)
        if found is None or found.ndim != 2 or found.shape[1] != 2 or not len(found):
            return MISSING
        real, imag = found[:, 0].copy(), found[:, 1].copy()
        return Orbit(0, real, imag, bool(real[-1] ** 2 + imag[-1] ** 2 > ESCAPE_RADIUS**2))


#: How reference orbits are kept in a store.
ORBIT_CODEC = OrbitCodec()


class DeepFrameJob(Job):
    """A deep frame: its parts are the reference's chunks, then the tiles."""

    view = param.ClassSelector(class_=DeepView, constant=True, doc="The requested view.")

    noun = ("part", "parts")

    def __init__(self, view: DeepView, **params):
        self.tiles = split(view.width, view.height)
        self.chunks = max(1, -(-(view.max_iter + 1) // CHUNK))
        super().__init__(
            view.key,
            kind=DeepFrameWork.kind,
            summary=view.summary(),
            view=view,
            parts_total=self.chunks + len(self.tiles),
            request=view.to_dict(),
            **params,
        )
        self._value = np.empty((view.height, view.width))

    @property
    def frame(self) -> np.ndarray:
        """The frame as assembled so far (tiles not yet received hold garbage)."""
        return self._value

    def split(self, value: np.ndarray) -> list:
        return [value[t.slices] for t in self.tiles]

    def place(self, tile: Tile, values: np.ndarray) -> None:
        """Tile ``tile`` arrived with ``values``."""
        self._value[tile.slices] = values
        self.part_done(self._value[tile.slices], (tile.row, tile.col))


@dataclass
class DeepFrameWork(Work):
    """A deep frame of ``view`` (see the module docstring)."""

    kind = "deep"
    http = True
    formats = ("png", "npy")

    view: DeepView
    key: str = field(init=False)
    cost: float = field(init=False)

    def __post_init__(self):
        self.key = self.view.key
        # Every pixel to max_iter, the worst case: a preview's estimate is not made yet.
        self.cost = float(self.view.width * self.view.height * self.view.max_iter)

    def to_dict(self) -> dict:
        return self.view.to_dict()

    @classmethod
    def from_dict(cls, values: dict) -> DeepFrameWork:
        return cls(DeepView(**values))

    @classmethod
    def parameters(cls) -> dict:
        return json_schema(DeepView)

    @classmethod
    def from_params(cls, params) -> DeepFrameWork:
        return cls(from_json(DeepView, params, "the deep view's"))

    @classmethod
    def encode(cls, job: DeepFrameJob, fmt: str, options: dict[str, str]) -> tuple[str, bytes]:
        """The frame as a PNG (colours from the query, else the view's) or ``.npy``."""
        return encode_frame(job.frame, fmt, options, job.view)

    @classmethod
    def encode_cost(cls, job: DeepFrameJob, fmt: str) -> float:
        return job.frame.size * ENCODE_COST[fmt]

    @property
    def codec(self) -> Codec:
        return ArrayCodec((self.view.height, self.view.width), np.float64)

    def job(self) -> DeepFrameJob:
        return DeepFrameJob(self.view)

    def driver(self, job: DeepFrameJob, registry, holder=None) -> Driver:
        return _DeepDriver(job, self, registry)


class _DeepDriver(Driver):
    """The reference chain, the orbit replicated, then the tiles (see the module)."""

    job: DeepFrameJob
    work: DeepFrameWork

    async def compute(self) -> np.ndarray:
        job, view, client = self.job, self.job.view, self.registry.client
        orbit = await self._kept_orbit()
        if orbit is not MISSING:
            for k in range(job.chunks):
                job.part_done(None, ("reference", k))
            # To every worker at once: the tiles then spread over them.
            [orbit_future] = await client.scatter([orbit], broadcast=True, hash=False)
            self.track({"orbit": orbit_future})
        else:
            orbit_future = await self._reference()
            if orbit_future is None:
                return job.frame
        name = f"{TASK}-{job.key}"
        tiles = {
            (t.row, t.col): DeepTile(job.key, t, view.span, view.width, view.height, view.max_iter)
            for t in job.tiles
        }
        submitted = {
            place: client.submit(
                deep_tile,
                orbit_future,
                task,
                key=(f"{name}-tile", *place),
                priority=BACKGROUND_PRIORITY,
                pure=False,
            )
            for place, task in tiles.items()
        }
        self.track(submitted)
        await self.gather_all(lambda place: self._collect(place, tiles[place].tile), tiles)
        return job.frame

    async def _kept_orbit(self):
        key, results = self.job.view.reference_key, self.registry.results
        orbit = results.cached(key)
        if orbit is MISSING:
            orbit = await results.stored(key, ORBIT_CODEC)
            if orbit is not MISSING:
                results.keep(key, orbit)
        return orbit

    async def _reference(self):
        """The reference chain on the cluster, chunk by chunk; the orbit's future, kept
        and replicated to every worker (None if the job ended meanwhile)."""
        job, view, client = self.job, self.job.view, self.registry.client
        name = f"{TASK}-{job.key}"
        state = ReferenceState.start(view.center_real, view.center_imag, view.bits)
        chunks = []
        # Background work: below every interactive tile, filling the gaps between them.
        with dask.annotate(priority=BACKGROUND_PRIORITY, retries=0):
            for k in range(job.chunks):
                n = min(CHUNK, view.max_iter + 1 - k * CHUNK)
                step = dask.delayed(reference_chunk, nout=2)(
                    state, n, job.key, dask_key_name=(f"{name}-reference", k)
                )
                state = step[0]
                chunks.append(step[1])
            orbit = dask.delayed(Orbit.join)(chunks, dask_key_name=f"{name}-orbit")
        futures = client.compute([*chunks, orbit], optimize_graph=False)
        parts = [("reference", k) for k in range(job.chunks)]
        self.track(dict(zip([*parts, "orbit"], futures, strict=True)))
        for part in parts:
            # Progress, chunk by chunk; the chunk's own values come with the orbit.
            if await self.collect(part) is MISSING:
                return None
            job.part_done(None, part)
        orbit_future = self.futures["orbit"]
        value = await self.received(orbit_future)
        key = view.reference_key
        self.registry.results.keep(key, value)
        self.registry.results.save(key, value, ORBIT_CODEC)
        await client.replicate([orbit_future])
        return orbit_future

    async def _collect(self, place, tile: Tile) -> None:
        values = await self.collect(place)
        if values is not MISSING:
            self.job.place(tile, values)
