"""Deep frames: a view float64 cannot resolve, by perturbation, on the cluster.

A :class:`~.config.FractalConfig` whose pixels float64 cannot tell apart
(:attr:`~.config.FractalConfig.deep`) is computed as float64 offsets from a reference
orbit computed in arbitrary precision (:mod:`.reference`, :mod:`.perturbation`). On the
cluster a deep frame is one graph:

* the reference orbit, a chain of tasks, each a chunk of iterations that carries the
  MPFR state to the next: it reports progress chunk by chunk (each is one of the job's
  parts), and a cancelled job's queued chunks never run;
* the orbit joined, then **replicated** to every worker before any tile is submitted:
  the scheduler places a task where its inputs are, and every tile would otherwise be
  pulled onto the one worker that holds it;
* the orbit's BLA tables (:mod:`.bla`: bilinear steps that skip iterations, for this
  frame's scale and the largest offset of its pixels), built once from the orbit on a
  worker and replicated as it is;
* the tiles, each reading the shared orbit and tables.

Which reference
---------------
Rebasing (Zhuoran's method, :mod:`.perturbation`) lets any point of the view serve as
the reference, so the reference is chosen to be *shared*: the view's centre rounded to
the power of ten of its span (:func:`reference_for`; at most half a span from the
centre, inside the view), its precision rounded up to a multiple of 32 bits and its
length to a multiple of :data:`CHUNK`. A pan by part of a view, a zoom within a decade,
a preview and its frame, another size or a recoloured request: all find the same orbit,
kept by its own key (:attr:`ReferenceSpec.key`) in the engine's memory cache and store
within their bounds (16 bytes an iteration), and broadcast to the workers instead of
computed. The choice is a function of the frame's parameters alone, so one key is one
picture in every process.

A larger ``max_iter`` needs a longer orbit of the same point: it is *extended* from the
longest shorter one kept in memory, from that orbit's last MPFR state (kept beside it,
in memory only), so only the new chunks run; an orbit that escaped is complete, and
serves any length as it is.

A Julia set's frame reads two orbits (:mod:`.julia_deep`): its view's point under
``z -> z**2 + c``, and the critical orbit of 0 (the Mandelbrot orbit of ``c``, shared
with any view of the Mandelbrot set there), each its own chain, kept by its own key.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

import dask
import numpy as np

from ..engine.codecs import Codec
from ..engine.driver import BACKGROUND_PRIORITY, Driver
from ..engine.reports import report_started
from ..engine.store import MISSING
from .bla import BlaTable, bla_table, escape_bla, frame_radius
from .extended import ExtendedTable, escape_extended, extended_table, view_exponent
from .julia_deep import escape_julia_deep, julia_precision_bits
from .kernels import ESCAPE_RADIUS, smooth
from .perturbation import MIN_SPAN_EXPONENT, pixel_offsets
from .reference import Orbit, ReferenceState, extend, precision_bits
from .tiles import Tile
from .viewport import MAX_CHARS, canonical

#: Part of deep frames' and reference orbits' keys: bumped when the values for given
#: parameters change (3: BLA).
DEEP_VERSION = 3
#: Iterations per reference task: about 30 ms of one core at 1e-300 (bench/deep.py).
CHUNK = 10_000
#: A reference's precision is rounded up to a multiple of this many bits (shared wider).
BITS_STEP = 32
#: The name of a deep frame's tasks: ``("fractal-deep-<frame key>-<what>", ...)``.
TASK = "fractal-deep"


@dataclass(frozen=True)
class ReferenceSpec:
    """Which reference orbit a deep view uses: the point, the precision, the length."""

    center_real: str
    center_imag: str
    bits: int
    length: int
    #: A Julia set's constant (the float64s' exact decimals): the orbit of the point under
    #: ``z -> z**2 + c``; None for the Mandelbrot orbit of the point (from 0).
    c_real: str | None = None
    c_imag: str | None = None

    @property
    def key(self) -> str:
        """Names the orbit's values, in the cache and the store."""
        fields = [self.center_real, self.center_imag, self.bits, self.length, DEEP_VERSION]
        if self.c_real is not None:
            fields += ["julia", self.c_real, self.c_imag]
        return f"orbit-{hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:24]}"

    def start(self) -> ReferenceState:
        """The state its chain starts from."""
        if self.c_real is None:
            return ReferenceState.start(self.center_real, self.center_imag, self.bits)
        return ReferenceState.julia(
            self.center_real, self.center_imag, float(self.c_real), float(self.c_imag), self.bits
        )

    @property
    def chunks(self) -> int:
        """Tasks of its chain."""
        return -(-self.length // CHUNK)


def reference_for(config) -> ReferenceSpec:
    """The reference orbit of a deep ``config`` (see the module docstring)."""
    real, imag, span = config.viewport.decimals()
    quantum = Decimal(1).scaleb(span.adjusted())
    with localcontext() as context:
        context.prec = 2 * MAX_CHARS
        point = [
            canonical(value.quantize(quantum, rounding=ROUND_HALF_EVEN)) for value in (real, imag)
        ]
    julia = config.fractal == "julia"
    bits = (julia_precision_bits if julia else precision_bits)(config.span)
    bits = -(-bits // BITS_STEP) * BITS_STEP
    length = -(-(config.max_iter + 1) // CHUNK) * CHUNK
    if julia:
        return ReferenceSpec(*point, bits, length, *_constant(config))
    return ReferenceSpec(*point, bits, length)


def _constant(config) -> tuple[str, str]:
    # A float64's exact decimal: the constant as the kernels read it.
    return str(Decimal(float(config.c_real))), str(Decimal(float(config.c_imag)))


def critical_for(config) -> ReferenceSpec | None:
    """A deep Julia ``config``'s second orbit, of the critical point 0 (where rebasing
    sends pixels, :mod:`.julia_deep`): the Mandelbrot orbit of ``c``, at the precision
    and length of the view's own; None for a Mandelbrot view."""
    if config.fractal != "julia":
        return None
    primary = reference_for(config)
    return ReferenceSpec(primary.c_real, primary.c_imag, primary.bits, primary.length)


@dataclass(frozen=True)
class DeepTile:
    """What a worker needs for one tile of a deep frame (the orbit comes apart).

    ``shift`` is the view's centre minus the reference point, in units of the view's
    scale (:func:`.perturbation.view_scale`): float64 holds it to far below a pixel.
    """

    job: str
    tile: Tile
    span: str
    width: int
    height: int
    max_iter: int
    shift: tuple[float, float]


def deep_tiles(config, tiles, reference: ReferenceSpec, job: str = "") -> list[DeepTile]:
    """The tasks of ``config``'s tiles, drawn against ``reference``."""
    real, imag, _ = config.viewport.decimals()
    exponent, _ = view_exponent(config.span)
    with localcontext() as context:
        context.prec = 2 * MAX_CHARS
        shift = tuple(
            float((value - Decimal(ref)) / Decimal(2) ** exponent)
            for value, ref in ((real, reference.center_real), (imag, reference.center_imag))
        )
    return [
        DeepTile(job, t, config.span, config.width, config.height, config.max_iter, shift)
        for t in tiles
    ]


def reference_chunk(state: ReferenceState, n: int, job: str) -> tuple[ReferenceState, Orbit]:
    """The next ``n`` values of a reference orbit (the function Dask workers run)."""
    report_started(job)
    return extend(state, n)


def _offsets(task: DeepTile) -> tuple[int, np.ndarray, np.ndarray]:
    # The frame's pixel offsets from the reference point, in units of its scale 2**e.
    exponent, mantissa = view_exponent(task.span)
    xs, ys = pixel_offsets(task.width, task.height, mantissa)
    return exponent, xs + task.shift[0], ys + task.shift[1]


def extended(task: DeepTile) -> bool:
    """Whether ``task``'s offsets are past float64's range, where :mod:`.extended` draws
    them (a float64 mantissa and an integer exponent); :mod:`.bla`'s scaled float64 down
    to ``2**MIN_SPAN_EXPONENT``, faster."""
    return view_exponent(task.span)[0] < MIN_SPAN_EXPONENT


def table_radius(task: DeepTile) -> int:
    """``k``: the BLA tables of ``task``'s frame serve offsets up to ``2**k`` (in units of
    its scale) from the reference point: its farthest pixel's, rounded up to a power of
    two, so that the frames of one reference and scale share one table."""
    _, xs, ys = _offsets(task)
    return math.frexp(frame_radius(xs, ys))[1]


def tables_key(reference: ReferenceSpec, task: DeepTile) -> str:
    """Names the BLA tables of ``reference``'s orbit for ``task``'s frame: the same for
    every frame of that orbit, scale and :func:`table_radius` (they are the same values)."""
    exponent, _ = view_exponent(task.span)
    return f"bla-{reference.key.removeprefix('orbit-')}-{exponent}-{table_radius(task)}"


def tables_for(orbit: Orbit, task: DeepTile) -> BlaTable | ExtendedTable:
    """The BLA tables of ``orbit`` for ``task``'s frame (its scale, and offsets up to
    ``2**table_radius(task)``): built once per :func:`tables_key` (on a Dask worker)."""
    exponent, _ = view_exponent(task.span)
    radius = math.ldexp(1.0, table_radius(task))
    if extended(task):
        return extended_table(orbit, exponent, radius)
    return bla_table(orbit, scale=math.ldexp(1.0, exponent), scaled_radius=radius)


def deep_tile(
    orbit: Orbit,
    tables: BlaTable | ExtendedTable | None,
    task: DeepTile,
    critical: Orbit | None = None,
) -> tuple[np.ndarray, float]:
    """One tile's smooth escape values, and the steps the kernel took for them (the
    function Dask workers run): what a preview tells of its frame's cost. A Julia tile
    has a ``critical`` orbit and no tables (every iteration a step)."""
    if task.job:
        report_started(task.job)
    exponent, xs, ys = _offsets(task)
    rows, cols = task.tile.slices
    x, y, scale = xs[None, cols], ys[rows, None], math.ldexp(1.0, exponent)
    if critical is not None:
        counts, mag2 = escape_julia_deep(orbit, critical, x, y, scale, task.max_iter)
        steps = np.where(counts < 0, task.max_iter, counts)
    elif extended(task):
        counts, mag2, steps = escape_extended(
            orbit, tables, x, y, exponent, task.max_iter, steps=True
        )
    else:
        counts, mag2, steps = escape_bla(orbit, tables, x, y, scale, task.max_iter, steps=True)
    return smooth(counts, mag2), float(steps.sum())


def compute_orbit(reference: ReferenceSpec, prefix=None) -> tuple[Orbit, ReferenceState]:
    """The whole orbit of ``reference`` in this process (what the chain computes), and
    its last state; from ``prefix`` (a shorter orbit and its state) if given."""
    state = reference.start()
    chunks = []
    if prefix is not None:
        chunks, state = [prefix[0]], prefix[1]
    while state.iteration < reference.length and not state.escaped:
        state, part = extend(state, min(CHUNK, reference.length - state.iteration))
        chunks.append(part)
    return Orbit.join(chunks), state


def state_key(reference: ReferenceSpec) -> str:
    """Names the last state of ``reference``'s orbit (kept in memory, for extending it)."""
    return f"orbit-state-{reference.key.removeprefix('orbit-')}"


def kept_prefix(results, reference: ReferenceSpec):
    """The longest orbit of ``reference``'s point and precision kept in memory with fewer
    values, and its last state: ``(orbit, state)``; ``(orbit, None)`` for one that escaped
    (it is complete); None if there is none."""
    for length in range(reference.length - CHUNK, 0, -CHUNK):
        shorter = replace(reference, length=length)
        orbit = results.cached(shorter.key)
        if orbit is MISSING:
            continue
        if orbit.escaped:
            return orbit, None
        state = results.cached(state_key(shorter))
        if state is not MISSING:
            return orbit, state
    return None


def render_deep_frame(
    config,
    tiles,
    orbit: Orbit | None = None,
    tables: BlaTable | ExtendedTable | None = None,
    stats=None,
    reference: ReferenceSpec | None = None,
    critical: Orbit | None = None,
) -> list[np.ndarray]:
    """Every tile of a deep ``config`` in this process (previews, tests, ``render``).

    ``orbit`` and ``tables`` are computed when not given (``tables`` must be those of
    :func:`tables_key`); ``stats``, a dict, gets ``"steps"`` (the kernel's, all tiles)
    and ``"tables"``. ``reference`` is :func:`reference_for` ``config`` unless another
    is given with its ``orbit`` (a movie's frames share the deepest frame's: it has the
    precision and length of each). A Julia ``config`` also reads its ``critical`` orbit
    (:func:`critical_for`), computed when not given.
    """
    reference = reference or reference_for(config)
    if orbit is None:
        orbit, _ = compute_orbit(reference)
    tasks = deep_tiles(config, tiles, reference)
    if critical_for(config) is not None:
        if critical is None:
            critical, _ = compute_orbit(critical_for(config))
    elif tables is None:
        tables = tables_for(orbit, tasks[0])
    done = [deep_tile(orbit, tables, task, critical) for task in tasks]
    if stats is not None:
        stats.update(steps=sum(steps for _, steps in done), tables=tables)
    return [values for values, _ in done]


class OrbitCodec(Codec):
    """A reference orbit as an ``(n, 2)`` float64 array in the store, whether it escaped
    read off its last value; and its values float64 cannot hold
    (:attr:`.reference.Orbit.small_index`) as a ``(k, 4)`` one beside it: index, real
    and imaginary mantissas, exponent (integers below 2**53 are exact in float64)."""

    def save(self, store, key: str, orbit: Orbit) -> None:
        store.put(key, np.stack([orbit.real, orbit.imag], axis=1))
        small = (orbit.small_index, orbit.small_real, orbit.small_imag, orbit.small_exponent)
        store.put(f"{key}-small", np.stack([np.asarray(a, np.float64) for a in small], axis=1))

    def load(self, store, key: str):
        found = store.get(key, None, np.float64)
        small = store.get(f"{key}-small", None, np.float64)
        if found is None or found.ndim != 2 or found.shape[1] != 2 or len(found) < 2:
            return MISSING
        if small is None or small.ndim != 2 or small.shape[1] != 4:
            return MISSING  # without them an orbit is wrong past 2**-1000
        real, imag = found[:, 0].copy(), found[:, 1].copy()
        index, exponent = (small[:, k].astype(np.int64) for k in (0, 3))
        return Orbit(
            0,
            real,
            imag,
            bool(real[-1] ** 2 + imag[-1] ** 2 > ESCAPE_RADIUS**2),
            index,
            small[:, 1].copy(),
            small[:, 2].copy(),
            exponent,
        )

    def names(self, key: str) -> list[str]:
        return [key, f"{key}-small"]


#: How reference orbits are kept in a store.
ORBIT_CODEC = OrbitCodec()


async def kept_orbit(results, reference: ReferenceSpec):
    """``(orbit, prefix)``: the orbit of ``reference`` from the memory cache or the store
    (or a shorter one that escaped: complete), else MISSING and the shorter orbit to
    extend with its state (:func:`kept_prefix`, None if there is none)."""
    orbit = results.cached(reference.key)
    if orbit is MISSING:
        orbit = await results.stored(reference.key, ORBIT_CODEC)
    prefix = None
    if orbit is MISSING:
        prefix = kept_prefix(results, reference)
        if prefix is not None and prefix[1] is None:
            orbit, prefix = prefix[0], None
    if orbit is not MISSING:
        results.keep(reference.key, orbit)
    return orbit, prefix


def keep_orbit(results, reference: ReferenceSpec, orbit: Orbit, state: ReferenceState) -> None:
    """Keep a computed orbit (memory and store) and its last state (memory)."""
    results.keep(reference.key, orbit)
    results.keep(state_key(reference), state)
    results.save(reference.key, orbit, ORBIT_CODEC)


async def shared_orbit(
    driver: Driver, reference: ReferenceSpec, name: str, priority, done, label: str = "reference"
):
    """The orbit of ``reference`` on every worker, for ``driver``'s job: kept (in memory or
    the store) and scattered, else computed as a chain of tasks ``(f"{name}-{label}", k)``
    (from the longest shorter orbit kept, if any), kept and replicated. ``done(k)`` is
    called as chunk ``k`` of :attr:`ReferenceSpec.chunks` is (kept: all at once).
    Returns the orbit's future (tracked by ``driver`` as ``"orbit"``, or
    ``f"{label}-orbit"`` for another label than the first), or None if the job ended
    meanwhile."""
    own = "" if label == "reference" else f"{label}-"
    results, client = driver.registry.results, driver.registry.client
    orbit, prefix = await kept_orbit(results, reference)
    if orbit is not MISSING:
        for k in range(reference.chunks):
            done(k)
        # To every worker at once: the tiles then spread over them.
        [future] = await client.scatter([orbit], broadcast=True, hash=False)
        driver.track({f"{own}orbit": future})
        return future
    state = reference.start()
    first, joined = 0, []
    if prefix is not None:
        kept, state = prefix
        first = len(kept) // CHUNK
        [future] = await client.scatter([kept], hash=False)
        joined.append(future)
        for k in range(first):
            done(k)
    chunks = []
    with dask.annotate(priority=priority, retries=0):
        for k in range(first, reference.chunks):
            n = min(CHUNK, reference.length - k * CHUNK)
            step = dask.delayed(reference_chunk, nout=2)(
                state, n, driver.job.key, dask_key_name=(f"{name}-{label}", k)
            )
            state = step[0]
            chunks.append(step[1])
        orbit = dask.delayed(Orbit.join)([*joined, *chunks], dask_key_name=f"{name}-{own}orbit")
    futures = client.compute([*chunks, orbit, state], optimize_graph=False)
    parts = [(label, k) for k in range(first, reference.chunks)]
    names = [*parts, f"{own}orbit", f"{own}state"]
    driver.track(dict(zip(names, futures, strict=True)))
    for part in parts:
        # Progress, chunk by chunk; the chunk's own values come with the orbit.
        if await driver.collect(part) is MISSING:
            return None
        done(part[1])
    future = driver.futures[f"{own}orbit"]
    value = await driver.received(future)
    last = await driver.received(driver.futures[f"{own}state"])
    keep_orbit(results, reference, value, last)
    await client.replicate([future])
    return future


class DeepDriver(Driver):
    """The reference chain (or a kept orbit), replicated, then the tiles.

    Its job has ``config``, ``tiles``, ``reference`` (a :class:`ReferenceSpec`),
    ``critical`` (a Julia view's second one, else None), ``frame`` and ``place(tile,
    values)``, and counts the references' chunks among its parts (parts
    ``("reference", k)`` and ``("critical", k)`` with no value).
    """

    def __init__(self, job, work, registry, *, priority: float = BACKGROUND_PRIORITY):
        super().__init__(job, work, registry)
        self._priority = priority

    async def compute(self) -> np.ndarray:
        job, client = self.job, self.registry.client
        reference = job.reference
        name = f"{TASK}-{job.key}"
        orbit_future = await shared_orbit(
            self, reference, name, self._priority, lambda k: job.part_done(None, ("reference", k))
        )
        if orbit_future is None:
            return job.frame
        tasks = deep_tiles(job.config, job.tiles, reference, job.key)
        tables = critical = None
        if job.critical is not None:
            critical = await shared_orbit(
                self,
                job.critical,
                name,
                self._priority,
                lambda k: job.part_done(None, ("critical", k)),
                label="critical",
            )
            if critical is None:
                return job.frame
        else:
            # Built once, where the orbit is, then sent to every worker (as the orbit
            # was); named after what they are, so frames in flight share one task.
            tables = client.submit(
                tables_for,
                orbit_future,
                tasks[0],
                key=tables_key(reference, tasks[0]),
                priority=self._priority,
                pure=False,
            )
            self.track({"tables": tables})
            await client.replicate([tables])  # (waits for them; failed, the tiles say why)
        submitted = {
            (task.tile.row, task.tile.col): client.submit(
                deep_tile,
                orbit_future,
                tables,
                task,
                critical,
                key=(f"{name}-tile", task.tile.row, task.tile.col),
                priority=self._priority,
                pure=False,
            )
            for task in tasks
        }
        self.track(submitted)
        placed = {(t.tile.row, t.tile.col): t.tile for t in tasks}
        await self.gather_all(lambda place: self._collect(place, placed[place]), placed)
        return job.frame

    async def _collect(self, place, tile: Tile) -> None:
        done = await self.collect(place)
        if done is not MISSING:
            values, steps = done
            self.job.add_steps(steps)
            self.job.place(tile, values)


__all__ = [
    "CHUNK",
    "DEEP_VERSION",
    "ORBIT_CODEC",
    "DeepDriver",
    "DeepTile",
    "ReferenceSpec",
    "compute_orbit",
    "critical_for",
    "deep_tile",
    "deep_tiles",
    "extended",
    "keep_orbit",
    "kept_orbit",
    "kept_prefix",
    "reference_for",
    "render_deep_frame",
    "shared_orbit",
    "table_radius",
    "tables_for",
    "tables_key",
]
