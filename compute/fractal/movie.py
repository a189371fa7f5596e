"""Zoom movies: a smooth zoom from one view into another, rendered on the cluster.

A :class:`MovieSpec` is the request: two views of one fractal, a number of frames, a
frame rate, a resolution and colours. It is a kind of work
(:class:`~compute.engine.work.Work`, named ``"movie"``), so it runs as a job like any
other (``manager.submit(spec)``, or ``registry.detach(spec)`` to outlive the page that
asked for it), with a deterministic key: identical requests share one job,
in flight or finished, across sessions and server processes.

What makes it a movie a person wants to watch:

* **Constant zoom speed**: the viewport's spans are interpolated exponentially
  (``w(t) = w0 * (w1 / w0) ** t``) and its centre moves so that the end view's centre
  stays the fixed point of the zoom: each frame is the previous one scaled by the same
  factor about the same point, the way a camera zooms.
* **Iterations grow with depth**: geometrically from the start view's ``max_iter`` to
  the end view's, in proportion to the zoom's depth (its logarithm), so deep frames keep
  their detail and shallow ones stay cheap.
* **One colour fit for the whole movie**, from coarse previews of frames spread over
  the zoom: a fit per frame would make colours flicker from frame to frame.
* **Deep zooms**: frames beyond float64 are drawn by perturbation (:mod:`.deep`), all of
  them against **one reference orbit**, the deepest frame's (:func:`movie_reference`):
  computed first, as a chain of tasks whose chunks are the movie's first parts (its
  progress), replicated to every worker, and read by the colour fit and each frame.
  Spans, centres and iterations are interpolated in decimals, at any depth.
* **A clear refusal** naming the first frame that cannot be rendered (a Julia set
  beyond float64's depth: its two orbits are not shared by a movie's frames yet), or
  over the budget of frames, pixels or pixel-iterations (every frame priced at its
  worst case: a movie has no preview to predict from).

What a movie keeps (measured in ``bench/movie.py``): float64 frames are 8 bytes a pixel
(300 frames of 1024x1024 are 2.3 GiB, over the store's default bound), so a movie stores
its frames as **one-byte colour indices**, zlib-compressed (``<frames key>-<k>.part``),
and its encoded files (MP4, GIF, WebP); the process also keeps the indices of its recent
movies in its memory cache. Indices do not depend on the colormap or the frame rate: a
movie that differs only in those reuses every frame, and a movie asked for again after
its process stopped resumes from the frames it had finished. Frames the
store holds as float64 (a view explored in the app) are reused too: no task for them.

Frames are gathered to the server as they finish, so a worker killed mid-movie costs
only the frames it was computing (Dask reschedules them); encoding runs in a thread
(PyAV and Pillow release the GIL for the heavy part), never on the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import zlib
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

import dask
import numpy as np
import param

from ..engine.codecs import Codec
from ..engine.driver import BACKGROUND_PRIORITY, Driver
from ..engine.job import Job, Part
from ..engine.reports import JOB_ANNOTATION, report_started
from ..engine.schema import OverBudget, from_json
from ..engine.store import MISSING
from ..engine.work import Work
from .colour import COLORMAPS, NORMALIZATIONS, Normalizer, lookup_table
from .config import PIXEL_BUDGET, FractalConfig
from .deep import ReferenceSpec, reference_for, render_deep_frame, shared_orbit
from .frame import render
from .tiles import assemble, split
from .video import FORMATS, MEDIA_TYPES, encode
from .viewport import canonical

logger = logging.getLogger(__name__)

#: Bounds of a movie.
MAX_FRAMES = 600
MAX_FPS = 60
MAX_EDGE = 1920
#: The whole movie's pixel-iterations: 16 frames' worth of the single-frame budget (about
#: a minute of one core at the kernel's speed; a few seconds on a real cluster).
MOVIE_BUDGET = 16 * PIXEL_BUDGET
#: All frames' pixels: their one-byte indices are held on the server while it encodes.
MAX_PIXELS = 300 * 2**20
#: Frames sampled (at PREVIEW_EDGE px) for the movie's colour fit.
FIT_SAMPLES = 24
PREVIEW_EDGE = 64
#: The largest edge of the GIF and WebP versions (a GIF of full-size frames is huge).
ANIMATION_EDGE = 480
MOVIE_PHASES = ("reference", "fitting", "rendering", "encoding")


def _views(start, end, frames: int) -> list[tuple[str, str, str]]:
    """The centre and span of each of ``frames`` frames zooming from the viewport
    ``start`` into ``end``, as decimal strings, at whatever depth.

    The span is exponential in time, ``w(t) = w0 (w1 / w0)**t``, and the end's centre is
    the zoom's fixed point: ``c - c1`` shrinks in proportion to ``w - w1``. Computed with
    decimals carrying every digit of the end's centre: a frame at 1e-300 needs 300 of
    them. The first and last frames are exactly the two views.
    """
    (r0, i0, w0), (r1, i1, w1) = start.decimals(), end.decimals()
    views = []
    with localcontext() as context:
        context.prec = 40 + max(len(str(v).replace("-", "")) for v in (r0, i0, r1, i1, w0, w1))
        rate = (w1 / w0).ln()
        for k in range(frames):
            t = Decimal(k) / Decimal(frames - 1)
            w = w0 * (rate * t).exp()
            share = t if w0 == w1 else (w - w1) / (w0 - w1)
            views.append((r1 + (r0 - r1) * share, i1 + (i0 - i1) * share, w))
    first = tuple(map(canonical, start.decimals()))
    last = tuple(map(canonical, end.decimals()))
    return [first, *[tuple(map(canonical, v)) for v in views[1:-1]], last]


class MovieSpec(Work, param.Parameterized):
    """A zoom movie from ``start`` into ``end``: what to render, and how it looks.

    Examples
    --------
    >>> end = FractalConfig(x_range=(-0.2, 0.2), y_range=(-0.2, 0.2))
    >>> spec = MovieSpec(start=FractalConfig(), end=end, frames=24, width=128, height=128)
    >>> len(spec.frame_configs())
    24
    """

    kind = "movie"
    http = True
    formats = FORMATS

    start = param.ClassSelector(class_=FractalConfig, doc="The first frame's view.")
    end = param.ClassSelector(class_=FractalConfig, doc="The last frame's view.")
    frames = param.Integer(default=48, bounds=(2, MAX_FRAMES), doc="Frames in the movie.")
    fps = param.Integer(default=24, bounds=(1, MAX_FPS), doc="Frames per second.")
    width = param.Integer(default=512, bounds=(16, MAX_EDGE), doc="Frame width in pixels.")
    height = param.Integer(default=512, bounds=(16, MAX_EDGE), doc="Frame height in pixels.")
    colormap = param.Selector(default="fire", objects=list(COLORMAPS), doc="Colormap.")
    normalization = param.Selector(
        default="eq_hist", objects=list(NORMALIZATIONS), doc="How values map to colours."
    )

    def __init__(self, **params):
        params.setdefault("start", FractalConfig())
        params.setdefault("end", FractalConfig())
        super().__init__(**params)
        self.validate()
        self.param.watch(lambda _: self.validate(), [p for p in self.param if p != "name"])

    # -- what it is ----------------------------------------------------------------------------
    def validate(self) -> MovieSpec:
        """Check the movie's constraints; raise ``ValueError`` saying what to change."""
        start, end = self.start, self.end
        if start.fractal != end.fractal or (
            start.fractal == "julia" and (start.c_real, start.c_imag) != (end.c_real, end.c_imag)
        ):
            raise ValueError(
                "A movie zooms within one fractal: the start and end views must be the same "
                "fractal (and, for Julia, the same c)."
            )
        pixels = self.frames * self.width * self.height
        if pixels > MAX_PIXELS:
            raise OverBudget(
                f"{self.frames} frames of {self.width}x{self.height} are {pixels / 2**20:.0f} "
                f"Mpx, over the movie's {MAX_PIXELS / 2**20:.0f} Mpx. Use fewer frames or a "
                "lower resolution."
            )
        configs = self._build_frame_configs()
        # Deep frames too at their worst case: a movie has no preview to predict from.
        cost = sum(c.pixel_iterations for c in configs)
        if cost > MOVIE_BUDGET:
            raise OverBudget(
                f"The movie costs {cost / 1e9:.0f} billion pixel-iterations, over its budget "
                f"of {MOVIE_BUDGET / 1e9:.0f} billion. Use fewer frames, a lower resolution "
                "or fewer iterations."
            )
        # The configs and keys, once per change (a registry asks for the keys often, the
        # driver for the configs; hundreds of configs cost tens of milliseconds).
        self._configs = configs
        self._cost = float(cost)
        self._reference = movie_reference(configs)
        keys = [c.key for c in configs]
        digest = hashlib.sha256(json.dumps([keys, self.normalization]).encode()).hexdigest()
        self._frames_key = f"frames-{digest[:24]}"
        digest = hashlib.sha256(
            json.dumps([self._frames_key, self.fps, self.colormap]).encode()
        ).hexdigest()
        self._key = f"movie-{digest[:24]}"
        return self

    def iterations(self, t: float) -> int:
        """``max_iter`` at position ``t`` (0..1) of the zoom: geometric in time, as the
        span is, so in proportion to the zoom's depth (its logarithm)."""
        a, b = self.start.max_iter, self.end.max_iter
        return max(1, round(a * (b / a) ** min(max(t, 0.0), 1.0)))

    def frame_configs(self) -> list[FractalConfig]:
        """Every frame's config, first to last (each validated when the spec was)."""
        return list(self._configs)

    @property
    def reference(self) -> ReferenceSpec | None:
        """The reference orbit every deep frame of the movie is drawn against (None if
        none is deep); see :func:`movie_reference`."""
        return self._reference

    def _build_frame_configs(self) -> list[FractalConfig]:
        """Every frame's config, first to last, each validated.

        Raises
        ------
        ValueError
            Naming the first frame that cannot be rendered (a Julia set beyond float64,
            a view beyond the deepest supported).
        """
        n, configs = self.frames, []
        views = _views(self.start.viewport, self.end.viewport, n)
        for k, (real, imag, span) in enumerate(views):
            try:
                config = self.end.copy(
                    max_iter=self.iterations(k / (n - 1)),
                    width=self.width,
                    height=self.height,
                    center_real=real,
                    center_imag=imag,
                    span=span,
                    colormap=self.colormap,
                    normalization=self.normalization,
                )
                config.validate()
            except ValueError as exc:
                raise type(exc)(f"Frame {k + 1} of {n} cannot be rendered: {exc}") from None
            if config.deep and config.fractal == "julia":
                raise ValueError(
                    f"Frame {k + 1} of {n} cannot be rendered in a movie: a Julia set beyond "
                    f"float64's depth (a span of {span} over {self.width} pixels) is drawn "
                    "in the explorer, not yet in movies. Choose a shallower end view or "
                    "fewer pixels."
                )
            configs.append(config)
        return configs

    @property
    def frames_key(self) -> str:
        """Key of the movie's colour indices: its frames and normalisation only (not the
        colormap or the frame rate, which do not change them)."""
        return self._frames_key

    @property
    def key(self) -> str:
        """Deterministic key of the movie: equal for equal requests in every process."""
        return self._key

    @property
    def cost(self) -> float:
        """Its worst-case pixel-iterations, charged to who starts it (compute.limits)."""
        return self._cost

    def __dask_tokenize__(self):
        return ("MovieSpec", self.key)

    @property
    def zoom(self) -> Decimal:
        """How many times the end view is magnified against the start view (a decimal:
        a deep zoom's is beyond float64)."""
        with localcontext() as context:
            context.prec = 12
            return self.start.viewport.decimals()[2] / self.end.viewport.decimals()[2]

    def summary(self) -> str:
        """One line for people."""
        what = self.end.summary().split(",")[0]
        real, imag, _ = self.end.viewport.decimals()
        return (
            f"{what}, {self.frames} frames at {self.fps} fps, {self.width}x{self.height}, "
            f"zoom x{self.zoom:.3g} into ({float(real):.6g}, {float(imag):.6g}), "
            f"{self.start.max_iter}->{self.end.max_iter} it"
        )

    def to_dict(self) -> dict:
        """JSON values; :meth:`from_dict` is the inverse (a job record keeps these)."""
        skip = ("name", "start", "end")
        values = {k: v for k, v in self.param.values().items() if k not in skip}
        return {**values, "start": self.start.to_dict(), "end": self.end.to_dict()}

    @classmethod
    def from_dict(cls, values: dict) -> MovieSpec:
        """A validated spec from :meth:`to_dict`'s values."""
        if not isinstance(values, dict):
            raise ValueError(f"A movie is a mapping of parameter names, not {values!r}.")
        values = dict(values)
        unknown = sorted(set(values) - set(cls.param) | ({"name"} & set(values)))
        if unknown:
            raise ValueError(f"Unknown movie parameter(s) {', '.join(map(str, unknown))}.")
        for view in ("start", "end"):
            if view in values:
                values[view] = FractalConfig.from_dict(values[view])
        return cls(**values)

    # -- as work -----------------------------------------------------------------------------
    @property
    def codec(self) -> Codec:
        return MovieCodec(self)

    @classmethod
    def from_params(cls, params) -> MovieSpec:
        return from_json(cls, params, "the movie's")

    @classmethod
    def encode(cls, job: MovieJob, fmt: str, options: dict[str, str]) -> tuple[str, bytes]:
        return MEDIA_TYPES[fmt], job.movie.data(fmt)

    def job(self) -> MovieJob:
        return MovieJob(self)

    def driver(self, job: MovieJob, registry, holder=None) -> Driver:
        return _MovieDriver(job, self, registry)


def movie_reference(configs: list[FractalConfig]) -> ReferenceSpec | None:
    """The one reference orbit of a movie's deep frames: the deepest frame's (its centre
    to the decade of its span, as :func:`.deep.reference_for` chooses), long enough for
    the largest ``max_iter`` of them. Its precision serves every shallower frame, and the
    zoom's fixed point, the end's centre, is in every frame (rebasing makes any point of
    the plane valid besides): one orbit computed, not one per frame or decade."""
    deep = [c for c in configs if c.deep]
    if not deep:
        return None
    deepest = min(deep, key=lambda c: c.viewport.decimals()[2])
    return reference_for(deepest.copy(max_iter=max(c.max_iter for c in deep)))


@dataclass(frozen=True)
class Movie:
    """A finished movie: its encoded files by format (``"mp4"``, ``"gif"``, ``"webp"``)."""

    key: str
    frames: int
    fps: int
    width: int
    height: int
    files: dict[str, bytes] = field(repr=False)

    def data(self, format: str = "mp4") -> bytes:
        """The encoded bytes in ``format``."""
        if format not in self.files:
            raise ValueError(f"Unknown format {format!r}; choose one of {', '.join(self.files)}.")
        return self.files[format]

    @property
    def nbytes(self) -> int:
        return sum(len(b) for b in self.files.values())

    def __sizeof__(self) -> int:  # what a cache bounded in bytes counts
        return self.nbytes


class MovieCodec(Codec):
    """A movie's encoded files in a store, one entry per format (``<key>.mp4``, ...)."""

    def __init__(self, spec: MovieSpec):
        self.spec = spec

    def save(self, store, key: str, movie: Movie) -> None:
        for fmt, data in movie.files.items():
            store.put_bytes(f"{key}.{fmt}", data)

    def load(self, store, key: str):
        spec, files = self.spec, {}
        for fmt in FORMATS:
            data = store.get_bytes(f"{key}.{fmt}")
            if data is None:
                return MISSING
            files[fmt] = data
        return Movie(key, spec.frames, spec.fps, spec.width, spec.height, files)

    def names(self, key: str) -> list[str]:
        return [f"{key}.{fmt}" for fmt in FORMATS]


class MovieJob(Job):
    """A movie as a job: its parts are frames (:class:`~compute.engine.job.Part` of colour
    indices), then it encodes; its result is a :class:`Movie`."""

    spec = param.ClassSelector(class_=MovieSpec, constant=True, doc="What is rendered.")
    phase = param.Selector(
        default="fitting", objects=list(MOVIE_PHASES), doc="What the movie is doing now."
    )

    noun = ("frame", "frames")

    def __init__(self, spec: MovieSpec, **params):
        super().__init__(
            spec.key,
            kind=MovieSpec.kind,
            summary=spec.summary(),
            request=spec.to_dict(),
            # A copy, as a frame job's config is: the caller's spec may change afterwards
            # (and may hold a session's live views).
            spec=MovieSpec.from_dict(spec.to_dict()),
            parts_total=spec.frames + _chunks(spec),
            **params,
        )

    @property
    def movie(self) -> Movie | None:
        """The finished movie (None until it is done or served from the cache)."""
        return self._value if self.state in ("done", "cached") else None

    def split(self, movie: Movie) -> list:
        # A finished movie's frames are not kept with it: a cached movie has no parts.
        return []

    def fill(self, movie: Movie) -> None:
        super().fill(movie)
        self.phase = "encoding"

    def describe(self) -> str:
        """``"frame 12 of 48, about 9 s left"``, ``"encoding"``, or the job's own words."""
        if self.state not in ("queued", "running"):
            return super().describe()
        chunks, frames = _chunks(self.spec), self.spec.frames
        if self.phase == "reference":
            return f"reference orbit: chunk {self.parts_done} of {chunks}"
        if self.phase == "fitting":
            return f"fitting colours: {frames} frames to render"
        if self.phase == "encoding":
            return f"encoding {frames} frames"
        eta = self.eta
        left = "" if eta is None else f", about {eta:.0f} s left"
        return f"frame {max(0, self.parts_done - chunks)} of {frames}{left}"


def _chunks(spec: MovieSpec) -> int:
    # A deep movie's parts: its reference's chunks, then its frames.
    return 0 if spec.reference is None else spec.reference.chunks


@dataclass(frozen=True)
class MovieFrameTask:
    """Everything a worker needs for one frame: plain data."""

    config: FractalConfig
    fit: Normalizer
    job: str
    index: int
    #: The movie's reference, for a deep frame (its orbit is the task's other input).
    reference: ReferenceSpec | None = None


def _values(config: FractalConfig, orbit, reference: ReferenceSpec | None) -> np.ndarray:
    # A deep frame against the movie's orbit; any other in float64.
    if not config.deep or orbit is None:
        return render(config, threads=1)
    tiles = split(config.width, config.height)
    values = render_deep_frame(config, tiles, orbit, reference=reference)
    return assemble(config.height, config.width, zip(tiles, values, strict=True))


def render_movie_frame(task: MovieFrameTask, orbit=None) -> np.ndarray:
    """One movie frame's colour indices (the function Dask workers run); a deep frame
    is drawn against ``orbit``, the movie's reference orbit."""
    report_started(task.job)
    return task.fit(_values(task.config, orbit, task.reference))


def movie_sample(configs: list[FractalConfig], orbit=None, reference=None) -> np.ndarray:
    """Escape values of coarse previews of ``configs``, pooled (for the colour fit); deep
    ones against the movie's reference ``orbit`` (see :func:`movie_reference`)."""
    return np.concatenate([_values(c, orbit, reference).ravel() for c in configs])


def _pack(indices: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(indices), allow_pickle=False)
    # Level 1: indices compress a few times over at a small fraction of a frame's cost.
    return zlib.compress(buffer.getvalue(), 1)


#: Room for a part's .npy header (128 bytes for a frame's indices; NumPy caps a version
#: 1.0 header at 64 KiB, but a frame's needs no more than this).
_NPY_HEADER_ROOM = 4096


def _unpack(data: bytes, shape: tuple[int, int]) -> np.ndarray | None:
    """A frame's colour indices from a stored part, or None if it is not one.

    Decompressed within the size a part of ``shape`` has: a part that would grow past
    it (a zlib bomb: a few hundred KB that inflate to gigabytes) is refused before it
    takes more memory than a frame.
    """
    bound = shape[0] * shape[1] + _NPY_HEADER_ROOM
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, bound)
    except zlib.error:
        return None
    # More output pending (a tail not consumed, or a stream that has not ended) is a
    # part larger than a frame; bytes after its end are no part written here either.
    if inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
        return None
    try:
        indices = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError):
        return None
    return indices if indices.shape == shape and indices.dtype == np.uint8 else None


def _stored_parts(store, spec: MovieSpec) -> dict[int, np.ndarray]:
    """The frames of ``spec`` whose colour indices ``store`` holds, by index (in a thread).

    A part that is damaged, of another frame size, or too large is left out: its frame
    is rendered again, and the part written again.
    """
    found = {}
    for k in range(spec.frames):
        data = store.get_bytes(f"{spec.frames_key}-{k:05d}.part")
        indices = None if data is None else _unpack(data, (spec.height, spec.width))
        if indices is not None:
            found[k] = indices
    return found


class _MovieDriver(Driver):
    """Fit, render (reusing what the store holds), gather frame by frame, encode."""

    job: MovieJob

    async def compute(self) -> Movie:
        job, results, spec = self.job, self.registry.results, self.job.spec
        store = results.store
        configs = spec.frame_configs()
        frames: dict[int, np.ndarray] = {}
        # This process's memory first (a movie in another colormap or frame rate made
        # these indices), then the store (an earlier process's, or a movie interrupted).
        kept = results.cached(spec.frames_key)
        if isinstance(kept, tuple) and len(kept) == len(configs):
            frames.update(enumerate(kept))
        elif store is not None:
            frames.update(await asyncio.to_thread(_stored_parts, store, spec))
        fit = orbit = None
        reference = spec.reference
        if len(frames) < len(configs) and any(configs[k].deep for k in range(len(configs))):
            # Deep frames to render: the movie's one reference orbit first, on every
            # worker (chunk by chunk in the progress), for the fit and the frames.
            job.phase = "reference"
            orbit = await shared_orbit(
                self,
                reference,
                f"fractal-moviereference-{spec.frames_key}",
                BACKGROUND_PRIORITY,
                lambda k: job.part_done(None, ("reference", k)),
            )
            if orbit is None:
                return None
            job.phase = "fitting"
        elif reference is not None:
            for k in range(reference.chunks):  # not needed: every frame is kept
                job.part_done(None, ("reference", k))
        if len(frames) < len(configs):
            fit = await self._fit(configs, orbit)
            # The memory cache is read here, on the loop (it is not thread-safe).
            cached = {
                k: v
                for k, c in enumerate(configs)
                if k not in frames and isinstance(v := results.cached(c.key), np.ndarray)
            }
            frames.update(
                await asyncio.to_thread(self._stored_values, configs, frames, cached, fit)
            )
        job.resumed = len(frames)
        for k in sorted(frames):
            job.part_done(Part(k, frames[k]), k)
        job.phase = "rendering"
        missing = [k for k in range(len(configs)) if k not in frames]
        if missing:
            self._submit_frames(configs, missing, fit, orbit)
            await self.gather_all(lambda k: self._collect(k, frames), missing)
        job.phase = "encoding"
        indices = tuple(frames[k] for k in range(len(configs)))
        results.keep(spec.frames_key, indices)
        return await asyncio.to_thread(self._encode, list(indices))

    async def _fit(self, configs: list[FractalConfig], orbit) -> Normalizer:
        spec = self.job.spec
        step = max(1, len(configs) // FIT_SAMPLES)
        sample = [c.preview(PREVIEW_EDGE) for c in configs[::step]] + [configs[-1].preview(64)]
        self.registry.reports.ensure_plugin()
        key = f"fractal-moviefit-{spec.frames_key}"
        with dask.annotate(**{JOB_ANNOTATION: self.job.key}, priority=BACKGROUND_PRIORITY):
            future = self.registry.client.submit(
                movie_sample, sample, orbit, spec.reference, key=key, pure=False
            )
        self.track({"fit": future})
        values = await self.collect("fit")
        return await asyncio.to_thread(Normalizer.fit, values, spec.normalization)

    def _submit_frames(self, configs, missing: list[int], fit: Normalizer, orbit) -> None:
        spec, job = self.job.spec, self.job
        frames, keys = [], {}
        for k in missing:
            keys[k] = (f"fractal-movieframe-{spec.frames_key}", k)
            deep = configs[k].deep and orbit is not None
            task = MovieFrameTask(configs[k], fit, job.key, k, spec.reference if deep else None)
            # Earlier frames first, all of them behind interactive work.
            with dask.annotate(priority=BACKGROUND_PRIORITY - k):
                frames.append(
                    dask.delayed(render_movie_frame)(
                        task, orbit if deep else None, dask_key_name=keys[k]
                    )
                )
        # One graph, as a frame's tiles are (see compute.fractal.frame): the scheduler
        # queues all of it by priority, where frames submitted one by one went straight to
        # the workers and sat in their queues ahead of interactive tiles that came later.
        futures = self.registry.client.compute(frames, optimize_graph=False)
        self.track(dict(zip(missing, futures, strict=True)), keys)

    async def _collect(self, k: int, frames: dict) -> None:
        indices = await self.collect(k)
        if indices is MISSING:
            return
        frames[k] = indices
        self.job.part_done(Part(k, indices), k)
        store = self.registry.store
        if store is not None:
            name = f"{self.job.spec.frames_key}-{k:05d}.part"
            # Compressed in the write's thread too: a large frame costs milliseconds.
            self.registry.in_background(lambda: store.put_bytes(name, _pack(indices)))

    # -- in threads ------------------------------------------------------------------------
    def _stored_values(self, configs, have, cached, fit: Normalizer) -> dict[int, np.ndarray]:
        # Frames explored in the app (float64 values) that the movie passes through.
        store, found = self.registry.store, {}
        for k, config in enumerate(configs):
            if k in have:
                continue
            values = cached.get(k)
            if values is None and store is not None:
                try:
                    values = store.get(config.key, (config.height, config.width), np.float64)
                except Exception:
                    values = None
            if isinstance(values, np.ndarray):
                found[k] = fit(values)
        return found

    def _encode(self, frames: list[np.ndarray]) -> Movie:
        spec = self.job.spec
        table = lookup_table(spec.colormap)
        files = {
            fmt: encode(
                iter(frames),
                table,
                fps=spec.fps,
                format=fmt,
                max_edge=None if fmt == "mp4" else ANIMATION_EDGE,
            )
            for fmt in FORMATS
        }
        return Movie(spec.key, spec.frames, spec.fps, spec.width, spec.height, files)
