"""Zoom movies: the spec's arithmetic, and movies rendered on the real LocalCluster,
checked with a real decoder (PyAV, Pillow): shared, reused, resumed, and surviving a
killed worker and a killed server process."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from distributed import Client

from components.testing import ROOT
from compute.engine import PART_STARTED_TOPIC, JobManager
from compute.engine.diagnostics import executed_tasks
from compute.engine.testing import workers_idle
from compute.fractal import FractalConfig, FrameStore, MovieSpec, Normalizer, render
from compute.fractal.deep import compute_orbit
from compute.fractal.movie import FIT_SAMPLES, PREVIEW_EDGE, movie_sample
from compute.fractal.video import probe

END = FractalConfig(x_range=(-0.35, 0.05), y_range=(-0.2, 0.2), max_iter=400)


def small(frames: int = 8, **changes) -> MovieSpec:
    params = dict(
        start=FractalConfig(max_iter=100), end=END, frames=frames, width=64, height=48, fps=12
    )
    return MovieSpec(**{**params, **changes})


def widths(spec: MovieSpec) -> list[float]:
    return [c.x_range[1] - c.x_range[0] for c in spec.frame_configs()]


# -- the spec ---------------------------------------------------------------------------------
def test_the_zoom_has_constant_speed_and_ends_on_the_end_view():
    spec = small(frames=20)
    configs = spec.frame_configs()
    ratios = np.diff(np.log(widths(spec)))
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)
    # The first and last frames are the start and end views (centre and span), at the
    # movie's size: the same x range, and the y range the movie's aspect gives them.
    view = ("center_real", "center_imag", "span")
    for frame, given in ((configs[0], spec.start), (configs[-1], END)):
        assert [getattr(frame, k) for k in view] == [getattr(given, k) for k in view]
        assert frame.x_range == given.x_range
        assert frame.y_range == given.copy(width=64, height=48).y_range
    assert configs[-1].y_range == (-0.15, 0.15)  # 0.4 wide, 0.4 * 48 / 64 high
    # The end's centre is the fixed point: every frame's centre lies on the line from
    # the start's centre to it, at a distance that shrinks with the frame's width.
    end_cx = (END.x_range[0] + END.x_range[1]) / 2
    cx = [(c.x_range[0] + c.x_range[1]) / 2 for c in configs]
    w = widths(spec)
    scaled = [(x - end_cx) / (wk - w[-1]) for x, wk in zip(cx[:-1], w[:-1], strict=True)]
    np.testing.assert_allclose(scaled, scaled[0], rtol=1e-9)
    assert scaled[0] != 0  # the centre does move: from 0 to -0.15
    # Every frame's pixels are square, at the movie's aspect.
    for c in configs:
        assert (c.y_range[1] - c.y_range[0]) / (c.x_range[1] - c.x_range[0]) == pytest.approx(
            48 / 64, rel=1e-12
        )


def test_iterations_grow_with_depth_from_the_start_to_the_end_view():
    its = [c.max_iter for c in small(frames=16).frame_configs()]
    assert its[0] == 100
    assert its[-1] == 400
    assert its == sorted(its)
    assert len(set(its)) > 8


def test_refusals_say_what_to_change():
    # Shallow at the view's 16 px (a pixel of 6e-12), too deep for float64 at the movie's
    # 256 (4e-13, under 2**-40): a deep Mandelbrot frame, drawn by perturbation.
    deep = dict(width=16, height=16, center_real="0.1", center_imag="0.1", span="1e-10")
    mandelbrot = FractalConfig(fractal="mandelbrot", max_iter=400, **deep)
    assert not mandelbrot.deep
    assert mandelbrot.copy(width=256, height=256).deep
    start = FractalConfig(fractal="mandelbrot", max_iter=100)
    spec = small(start=start, end=mandelbrot, width=256, height=256)
    assert [c.deep for c in spec.frame_configs()] == [False] * 7 + [True]
    assert spec.reference is not None
    assert small(start=start, end=mandelbrot, width=16, height=16).reference is None
    # A Julia set's deep frames are drawn in the explorer, not in movies (yet).
    with pytest.raises(ValueError, match=r"Frame 8 of 8 cannot be rendered in a movie: a Julia"):
        small(end=END.copy(**deep), width=256, height=256)
    with pytest.raises(ValueError, match="same fractal"):
        small(end=END.copy(fractal="mandelbrot"))
    with pytest.raises(ValueError, match="budget"):
        small(frames=600, width=1024, height=512, end=END.copy(max_iter=20_000))
    with pytest.raises(ValueError, match="Mpx"):
        small(frames=600, width=1920, height=1920)
    with pytest.raises(ValueError, match="frames"):
        small(frames=1)
    spec = small()
    with pytest.raises(ValueError, match="fps"):
        spec.fps = 0


def test_keys_name_the_request_and_frames_ignore_colour_and_rate():
    spec = small()
    assert spec.key == small().key
    assert spec.key != small(frames=9).key
    recoloured = small(colormap="bmy", fps=30)
    assert recoloured.key != spec.key
    assert recoloured.frames_key == spec.frames_key
    assert small(normalization="log").frames_key != spec.frames_key
    assert MovieSpec.from_dict(json.loads(json.dumps(spec.to_dict()))).key == spec.key
    code = (
        "import json, sys; from compute.fractal import MovieSpec;"
        "print(MovieSpec.from_dict(json.loads(sys.argv[1])).key)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(spec.to_dict())],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.stdout.strip() == spec.key


# -- on the cluster ---------------------------------------------------------------------------
async def frame_runs(client, spec: MovieSpec) -> int:
    ran = await executed_tasks(client, "fractal-movieframe")
    return sum(spec.frames_key in key for key, _ in ran)


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_a_movie_renders_with_one_colour_fit_and_decodes(client, registry):
    spec = small()
    job = JobManager(registry).submit(spec)
    assert job.kind == "movie"
    frames = {}
    async for part in job:
        frames[part.index] = part.value
    movie = await job.result()
    assert sorted(frames) == list(range(8))
    mp4, gif, webp = (probe(movie.data(f)) for f in ("mp4", "gif", "webp"))
    assert (mp4.codec, mp4.frames, mp4.width, mp4.height, mp4.fps) == ("h264", 8, 64, 48, 12)
    assert (gif.frames, gif.width, gif.height) == (8, 64, 48)
    assert webp.frames == 8
    # One fit for all frames, from coarse previews over the zoom.
    configs = spec.frame_configs()
    sample = [c.preview(64) for c in configs[:: max(1, len(configs) // FIT_SAMPLES)]]
    fit = Normalizer.fit(movie_sample([*sample, configs[-1].preview(64)]), spec.normalization)
    for k in (0, 7):
        np.testing.assert_array_equal(frames[k], fit(render(configs[k])))
    assert await frame_runs(client, spec) == 8


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_another_colormap_reuses_the_frames_without_a_store(client, registry):
    spec = small(frames=6)
    await JobManager(registry).submit(spec).result()
    job = JobManager(registry).submit(small(frames=6, colormap="bgy", fps=30))
    movie = await job.result()
    assert job.state == "done"  # encoded anew, from the indices kept in memory
    assert probe(movie.data("gif")).frames == 6
    assert await frame_runs(client, spec) == 6


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_identical_movies_share_a_job_across_clients_and_reuse_frames(
    client, registries, local_cluster, tmp_path
):
    store = FrameStore(tmp_path / "store")
    spec = small(frames=10)
    async with (
        Client(local_cluster.scheduler_address, asynchronous=True) as a,
        Client(local_cluster.scheduler_address, asynchronous=True) as b,
    ):
        one, two = registries(store=store, on=a), registries(store=store, on=b)
        # The last frame was explored before (a float64 frame in the store): not computed.
        last = spec.frame_configs()[-1]
        await JobManager(one).submit(last).result()
        await one.flush()
        ja, jb = one.detach(spec), two.detach(small(frames=10))
        (ma, mb) = await asyncio.gather(ja.result(), jb.result())
        # The same movie: every frame's colour indices equal. (Not the MP4s' bytes:
        # libx264 made two byte variants of these very frames, all equal, in about one
        # full suite run in four, never in a process of its own nor in 20 concurrent
        # encodes; the frames are what this code computes.)
        fa, fb = [{p.index: p.value async for p in job} for job in (ja, jb)]
        assert sorted(fa) == sorted(fb) == list(range(10))
        differ = [k for k in fa if not np.array_equal(fa[k], fb[k])]
        assert not differ, (differ, ja.resumed, jb.resumed)
        assert probe(ma.data("mp4")) == probe(mb.data("mp4"))
        assert await frame_runs(client, spec) == 9
        await asyncio.gather(one.flush(), two.flush())
        # Another colormap and rate: the same colour indices, no frame computed.
        recoloured = small(frames=10, colormap="kbc", fps=5)
        job = one.detach(recoloured)
        movie = await job.result()
        assert probe(movie.data("mp4")).frames == 10
        assert await frame_runs(client, spec) == 9
        # Asked again: served from the store, no task at all.
    async with Client(local_cluster.scheduler_address, asynchronous=True) as c:
        again = registries(store=store, on=c).detach(small(frames=10))
        await again.result()
        assert again.state == "cached"


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_a_worker_killed_mid_movie_costs_only_its_frames(
    client, registries, local_cluster, eventually
):
    async with Client(local_cluster.scheduler_address, asynchronous=True) as own:
        spec = small(frames=24, width=160, height=120, end=END.copy(max_iter=3000))
        job = registries(on=own).detach(spec)
        await eventually(lambda: job.parts_done >= 4, "a few frames")
        victim = next(iter((await own.scheduler.identity())["workers"]))
        (pid,) = (await own.run(os.getpid, workers=[victim])).values()
        received = {part.index for part in job.parts}

        def held(dask_scheduler, prefix, indices):
            return [k[1] for k in dask_scheduler.tasks if k[0] == prefix and k[1] in indices]

        # Received frames are released; the release reaches the scheduler a moment later
        # (until then the scheduler would recompute a lost copy for us): wait for it.
        prefix = f"fractal-movieframe-{spec.frames_key}"

        async def forgotten():
            return not await own.run_on_scheduler(held, prefix=prefix, indices=sorted(received))

        await eventually(forgotten, "the scheduler to forget the received frames")
        os.kill(pid, signal.SIGKILL)  # its nanny starts another
        movie = await job.result()
        assert probe(movie.data("mp4")).frames == 24
        # Each frame's start as the workers reported it (its task key: the frames' name
        # and its index): a frame the server had received before the kill started once;
        # only those the dead worker held (computing, or finished and not yet sent) ran
        # again.
        starts = [
            msg["key"][1]
            for _, msg in await own.get_events(PART_STARTED_TOPIC)
            if msg.get("job") == spec.key
            and isinstance(msg.get("key"), (list, tuple))
            and msg["key"][0] == prefix
        ]
        assert sorted(set(starts)) == list(range(24))
        assert all(starts.count(k) == 1 for k in received)
        assert len(received) >= 4

    async def two_workers():
        return len((await client.scheduler.identity())["workers"]) == 2

    await eventually(two_workers, "the nanny's restart")


MOVIE_SCRIPT = """
import asyncio, json, sys
from distributed import Client
from compute.fractal import FrameStore, MovieSpec, fractal_registry

async def main(address, store, spec):
    async with Client(address, asynchronous=True) as client:
        registry = fractal_registry(client, store=FrameStore(store))
        job = registry.detach(MovieSpec.from_dict(json.loads(spec)))
        job.param.watch(lambda e: print(e.new, flush=True), "parts_done")
        await job.result()

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_a_server_killed_mid_movie_leaves_it_interrupted_and_it_resumes(
    client, registries, local_cluster, tmp_path, eventually
):
    store = FrameStore(tmp_path / "store")
    spec = small(frames=30, width=160, height=120, end=END.copy(max_iter=2000))
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        MOVIE_SCRIPT,
        local_cluster.scheduler_address,
        str(tmp_path / "store"),
        json.dumps(spec.to_dict()),
        stdout=subprocess.PIPE,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        while True:  # until it has finished (and stored) some frames
            line = await asyncio.wait_for(server.stdout.readline(), 120)
            assert line, "the movie process ended early"
            if int(line) >= 8:
                break
        await eventually(
            lambda: (
                len([n for n in os.listdir(tmp_path / "store" / "blobs") if n.endswith(".part")])
                >= 6
            ),
            "frames in the store",
        )
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        assert await asyncio.wait_for(server.wait(), 60) == -signal.SIGKILL
    (record,) = store.history(quiet_after=0)
    assert (record.key, record.state, record.kind) == (spec.key, "interrupted", "movie")
    assert "stopped" in record.error
    registry = registries(store=store)
    restored = registry.kinds.restore(record)
    assert isinstance(restored, MovieSpec)
    assert math.isclose(restored.zoom, spec.zoom)
    stored = len([n for n in os.listdir(tmp_path / "store" / "blobs") if n.endswith(".part")])

    # The dead process's frames still running finish first.
    await eventually(
        lambda: workers_idle(client), "the workers to finish what the dead process asked for"
    )
    before = await frame_runs(client, spec)
    job = registry.detach(restored)
    movie = await job.result()
    assert probe(movie.data("mp4")).frames == 30
    # Resumed: the frames in the store were not computed again.
    assert await frame_runs(client, spec) - before <= 30 - stored


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_a_deep_movie_draws_every_deep_frame_against_one_reference(client, registry):
    # From the whole set to c = i at 1e-60 (a Misiurewicz point: detail at every depth):
    # six of the eight frames are beyond float64 at 48 px.
    end = FractalConfig(
        fractal="mandelbrot", center_real="0", center_imag="1", span="1e-60", max_iter=12_000
    )
    spec = MovieSpec(
        start=FractalConfig(fractal="mandelbrot", max_iter=200),
        end=end, frames=8, width=48, height=48, fps=8,
    )  # fmt: skip
    configs = spec.frame_configs()
    assert [c.deep for c in configs] == [False] * 2 + [True] * 6
    assert configs[-1].viewport == end.copy(width=48, height=48).viewport
    reference = spec.reference
    assert reference.chunks == 2
    job = JobManager(registry).submit(spec)
    frames = {}
    async for part in job:
        if part is not None:
            frames[part.index] = part.value
    movie = await job.result()
    # Progress covered the reference's chunks, then the frames.
    assert job.parts_total == job.parts_done == 8 + 2
    assert probe(movie.data("mp4")).frames == 8
    # One chain of reference tasks for the whole movie: none per frame or preview.
    ran = [key for key, _ in await executed_tasks(client, "fractal-moviereference")]
    assert len([k for k in ran if "-reference" in k and "orbit" not in k]) == 2
    assert not await executed_tasks(client, "fractal-deep")
    # The frames are the movie's reference drawn here, coloured by the movie's one fit.
    orbit, _ = compute_orbit(reference)
    step = max(1, len(configs) // FIT_SAMPLES)
    previews = [c.preview(PREVIEW_EDGE) for c in configs[::step]] + [configs[-1].preview(64)]
    fit = Normalizer.fit(movie_sample(previews, orbit, reference), spec.normalization)
    for k in (2, 5, 7):
        [values] = [movie_sample([configs[k]], orbit, reference).reshape(48, 48)]
        np.testing.assert_array_equal(frames[k], fit(values))
        assert len(np.unique(frames[k])) > 8  # detail, not a flat frame
        # ... and agree with the frame drawn on its own, against its own reference.
        alone = render(configs[k])
        assert (np.isnan(alone) == np.isnan(values)).all()
        same = np.floor(alone) == np.floor(values)
        assert same[~np.isnan(alone)].mean() >= 0.99, k
