"""A deep frame as work on a real LocalCluster: the reference orbit a chain of tasks, the
orbit replicated, the tiles spread over the workers; equal to the frame computed in this
process, and to perturbation from the view's own centre (itself checked against ball
arithmetic in test_perturbation.py)."""

from __future__ import annotations

import numpy as np
import pytest

from compute.engine import JobManager
from compute.engine.diagnostics import start_order
from compute.engine.store import MISSING, ResultStore
from compute.fractal import FractalConfig, FrameWork, render
from compute.fractal.deep import (
    CHUNK,
    ORBIT_CODEC,
    TASK,
    deep_tiles,
    extended,
    reference_for,
)
from compute.fractal.kernels import escape_time
from compute.fractal.perturbation import render_deep
from compute.fractal.reference import Orbit
from compute.fractal.testing import tiles_held
from compute.fractal.tiles import pixel_centers
from compute.fractal.viewport import auto_max_iter

# c = i, a Misiurewicz point on the boundary: escaping pixels of every count near it.
AT_I = {"fractal": "mandelbrot", "center_real": "0", "center_imag": "1.0", "span": "1e-40"}


AT_I_VIEW = {k: v for k, v in AT_I.items() if k != "fractal"}


def DeepView(**values):
    return FractalConfig(**{"width": 512, "height": 512, **values})


def DeepFrameWork(config):
    return FrameWork(config)


def close_to(frame, other):
    """Escape counts equal on 99.9% of the pixels, smooth values within 1e-3 there."""
    inside = np.isnan(frame) | np.isnan(other)
    assert (np.isnan(frame) == np.isnan(other)).mean() >= 0.999
    same = ~inside & (np.floor(frame) == np.floor(other))
    assert same.sum() >= 0.999 * (~inside).sum()
    assert np.abs(frame - other)[same].max() < 1e-3


def test_a_view_is_canonical_and_bad_values_name_their_parameter():
    one = DeepView(**AT_I, max_iter=500, width=64, height=48)
    other = DeepView(fractal="mandelbrot", center_real="0.0", center_imag="1", span="1E-40",
                     max_iter=500, width=64, height=48)  # fmt: skip
    assert (one.center_imag, one.span) == ("1", "1e-40")
    assert one.key == other.key
    assert one.key != DeepView(**AT_I, max_iter=501, width=64, height=48).key
    assert one.deep
    assert not DeepView(**{**AT_I, "span": "1e-9"}).deep
    for name, bad in (("span", "0"), ("span", "1e-1001"), ("center_real", "abc")):
        with pytest.raises(ValueError, match=name):
            DeepView(**{**AT_I, name: bad})
    assert DeepView(**{**AT_I, "fractal": "julia"}).deep  # by perturbation of z


def test_nearby_views_share_one_reference_and_the_shift_is_exact():
    view = DeepView(**{**AT_I, "center_real": "3.3e-41"})
    panned = DeepView(**{**AT_I, "center_real": "4.1e-41"})
    zoomed = DeepView(**{**AT_I, "span": "5e-41"}, max_iter=view.max_iter)
    reference = reference_for(view)
    assert (reference.center_real, reference.center_imag) == ("0", "1")
    assert reference_for(panned) == reference == reference_for(zoomed)
    assert reference_for(view.preview(64)) == reference
    assert reference.length % CHUNK == 0
    assert reference.length > view.max_iter
    assert reference_for(DeepView(**{**AT_I, "span": "1e-60"})) != reference


def test_without_max_iter_a_view_gets_one_that_grows_with_depth_before_its_key():
    shallow, deep = (
        DeepView(**{**AT_I, "span": "1e-20"}, max_iter=None),
        DeepView(**{**AT_I, "span": "1e-100"}, max_iter=None),
    )
    assert shallow.max_iter == auto_max_iter("1e-20") < deep.max_iter == auto_max_iter("1e-100")
    explicit = DeepView(**{**AT_I, "span": "1e-100"}, max_iter=deep.max_iter)
    assert explicit.key == deep.key
    stored = DeepFrameWork(deep).to_dict()
    assert stored["max_iter"] == deep.max_iter  # a record keeps the count it resolved to
    assert FrameWork.from_dict(stored).key == deep.key
    # A request without a count, as the API's JSON null, names the same frame.
    assert FrameWork.from_params({**stored, "max_iter": None}).key == deep.key


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_a_deep_frame_on_the_cluster_equals_the_one_computed_here(registry, client):
    view = DeepView(**AT_I, max_iter=2 * CHUNK + 5, width=512, height=384)
    job = JobManager(registry).submit(DeepFrameWork(view))
    frame = await job.result()
    # Three chunks of the reference, then the tiles: each a part, each reported.
    assert job.parts_total == 3 + len(job.tiles)
    assert job.parts_done == job.parts_total
    np.testing.assert_array_equal(frame, render(view))
    close_to(frame, render_deep(**AT_I_VIEW, width=512, height=384, max_iter=view.max_iter))
    assert np.isfinite(frame).any()
    # Every tile read the one orbit, replicated: the tiles ran on both workers.
    started = await start_order(client)
    tiles = {w: [k for k in keys if f"{TASK}-{job.key}-tile" in k] for w, keys in started.items()}
    assert sum(map(len, tiles.values())) == len(job.tiles)
    assert all(tiles.values()), tiles


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_a_cancelled_deep_frame_leaves_nothing_on_the_cluster(registry, client, eventually):
    # A long reference (a hundred chunks): cancelled while it runs, no tile ever starts.
    view = DeepView(**AT_I, max_iter=100 * CHUNK, width=64, height=64)
    manager = JobManager(registry)
    job = manager.submit(DeepFrameWork(view))
    await eventually(lambda: job.parts_done >= 1, "a chunk of the reference done")
    manager.cancel()
    await eventually(lambda: job.state == "cancelled", "the job cancelled")
    await eventually(
        lambda: _none_held(client, job.key), "the reference's and tiles' tasks released"
    )
    started = await start_order(client)
    assert not any(f"{TASK}-{job.key}-tile" in k for keys in started.values() for k in keys)


async def _none_held(client, key: str) -> bool:
    return not await tiles_held(client, key) and not [
        k for k in await client.run_on_scheduler(_keys) if f"{TASK}-{key}" in k
    ]


def _keys(dask_scheduler) -> list[str]:
    return [str(k) for k in dask_scheduler.tasks]


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_a_later_frame_of_the_same_centre_and_limit_reuses_the_kept_orbit(
    registries, client, tmp_path
):
    store = ResultStore(tmp_path)
    first = DeepView(**AT_I, max_iter=CHUNK + 1, width=384, height=384)
    one = registries(store)
    job = JobManager(one).submit(DeepFrameWork(first))
    await job.result()
    await one.results.flush()  # the orbit's write (in a thread) done
    # Another size of the same view, through a registry of its own (another process's
    # memory: the orbit comes from the store): no reference task, tiles on both workers.
    again = DeepView(**AT_I, max_iter=CHUNK + 1, width=512, height=384)
    assert reference_for(again) == reference_for(first)
    later = JobManager(registries(store)).submit(DeepFrameWork(again))
    frame = await later.result()
    started = await start_order(client)
    ran = [k for keys in started.values() for k in keys]
    assert not [k for k in ran if f"{TASK}-{later.key}-reference" in k]
    assert [k for k in ran if f"{TASK}-{job.key}-reference" in k]
    tiles = {
        w: [k for k in keys if f"{TASK}-{later.key}-tile" in k] for w, keys in started.items()
    }
    assert all(tiles.values()), tiles
    assert later.parts_done == later.parts_total
    np.testing.assert_array_equal(frame, render(again))


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_a_deep_frame_whose_reference_escapes_early_renders(registry):
    # i + 1.2e-271 at a span of 1e-280: its reference (the centre, to the span's decade)
    # escapes after 725 values, in the first of two chunks; the second is empty.
    view = DeepView(
        **{**AT_I, "center_imag": "1." + "0" * 270 + "123456789", "span": "1e-280"},
        max_iter=CHUNK + 5, width=64, height=64,
    )  # fmt: skip
    job = JobManager(registry).submit(DeepFrameWork(view))
    frame = await job.result()
    np.testing.assert_array_equal(frame, render(view))
    assert np.isfinite(frame).all()


def test_a_deep_frame_from_a_shared_reference_agrees_with_its_centre_and_float64():
    # 3e-10 over 512 pixels: deep by the switch's margin, yet float64 still resolves each
    # pixel (about 5,000 ulps). The shared reference is the centre rounded to the span's
    # decade, off the centre: rebasing makes it serve, and the frame agrees with one
    # perturbed from its own centre (checked against ball arithmetic in
    # test_perturbation.py) as closely as any two deep renderings, and with float64 as
    # closely as float64's own error allows there (see test_perturbation.py).
    config = FractalConfig(
        fractal="mandelbrot", center_real="-0.74530000012345", center_imag="0.11270000006789",
        span="3.3e-10", max_iter=1000, width=512, height=384,
    )  # fmt: skip
    assert config.deep
    reference = reference_for(config)
    assert reference.center_real != config.center_real
    frame = render(config)
    own = render_deep(config.center_real, config.center_imag, config.span, 512, 384, 1000)
    close_to(frame, own)
    xs = pixel_centers(*config.x_range, config.width)
    ys = pixel_centers(*config.y_range, config.height)
    direct = escape_time(xs, ys, 0j, True, config.max_iter)
    both = ~np.isnan(frame) & ~np.isnan(direct)
    assert both.mean() > 0.5
    assert np.mean(np.floor(frame[both]) == np.floor(direct[both])) >= 0.98


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_a_larger_max_iter_extends_the_kept_orbit_instead_of_starting_over(registry, client):
    first = DeepView(**AT_I, max_iter=CHUNK + 1, width=128, height=128)  # 2 chunks
    job = JobManager(registry).submit(DeepFrameWork(first))
    await job.result()
    longer = first.copy(max_iter=3 * CHUNK + 1)  # 4 chunks: the same point and precision
    assert reference_for(longer).center_imag == reference_for(first).center_imag
    later = JobManager(registry).submit(DeepFrameWork(longer))
    frame = await later.result()
    ran = [k for keys in (await start_order(client)).values() for k in keys]
    extended = sorted(k for k in ran if f"{TASK}-{later.key}-reference" in k)
    assert [k.rsplit(",", 1)[-1].strip(" )'") for k in extended] == ["2", "3"]
    assert later.parts_done == later.parts_total == 4 + len(later.tiles)
    np.testing.assert_array_equal(frame, render(longer))


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_an_orbit_that_escaped_serves_any_length(registry, client):
    # i + 1.2e-271 at 1e-280: its reference escapes after 725 values, so a frame of any
    # larger max_iter needs no reference task at all.
    escaping = {**AT_I, "center_imag": "1." + "0" * 270 + "123456789", "span": "1e-280"}
    first = DeepView(**escaping, max_iter=2000, width=64, height=64)
    await JobManager(registry).submit(DeepFrameWork(first)).result()
    deeper = first.copy(max_iter=5 * CHUNK)
    later = JobManager(registry).submit(DeepFrameWork(deeper))
    frame = await later.result()
    ran = [k for keys in (await start_order(client)).values() for k in keys]
    assert not [k for k in ran if f"{TASK}-{later.key}-reference" in k]
    np.testing.assert_array_equal(frame, render(deeper))


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_a_deep_julia_frame_reads_two_orbits_on_the_cluster(registry, client):
    # c = i (its critical point is in the Julia set: detail at 0 at every depth), a view
    # centred on 0 at 1e-60: point-symmetric, as every Julia set is under z -> -z.
    view = DeepView(
        fractal="julia", c_real=0.0, c_imag=1.0, center_real="0", center_imag="0",
        span="1e-60", max_iter=3000, width=96, height=64,
    )  # fmt: skip
    assert view.deep
    job = JobManager(registry).submit(DeepFrameWork(view))
    frame = await job.result()
    # Its point's orbit under z**2 + c, and the critical orbit of 0 (the Mandelbrot
    # orbit of c), each a chain of one chunk here, then the tiles.
    assert (job.reference.c_real, job.reference.c_imag) == ("0", "1")
    assert (job.critical.center_real, job.critical.center_imag) == ("0", "1")
    assert job.critical.c_real is None
    assert job.critical.key != job.reference.key
    assert job.parts_total == job.parts_done == 2 + len(job.tiles)
    started = await start_order(client)
    ran = [k for keys in started.values() for k in keys]
    assert [k for k in ran if f"{TASK}-{job.key}-reference" in k]
    assert [k for k in ran if f"{TASK}-{job.key}-critical" in k]
    np.testing.assert_array_equal(frame, render(view))
    assert len(np.unique(np.floor(frame[np.isfinite(frame)]))) > 10
    np.testing.assert_array_equal(frame, frame[::-1, ::-1])


def test_a_stored_orbit_keeps_the_values_float64_cannot_hold(tmp_path):
    # Near a deep nucleus |Z_n| can be 1e-600: kept as mantissa and exponent beside the
    # float64 values, and read back with them (without them an orbit is wrong there,
    # see test_extended.py); an entry stored without them is recomputed.
    store = ResultStore(tmp_path)
    orbit = Orbit(
        0, np.array([0.0, 0.5, 0.0, 0.25]), np.array([0.0, 0.1, 0.0, 0.0]), False,
        np.array([2]), np.array([0.75]), np.array([-0.5]), np.array([-2000]),
    )  # fmt: skip
    ORBIT_CODEC.save(store, "orbit-x", orbit)
    back = ORBIT_CODEC.load(store, "orbit-x")
    for name in ("real", "imag", "small_index", "small_real", "small_imag", "small_exponent"):
        np.testing.assert_array_equal(getattr(back, name), getattr(orbit, name))
        assert getattr(back, name).dtype == getattr(orbit, name).dtype
    store.put("orbit-y", np.stack([orbit.real, orbit.imag], axis=1))  # as stored before
    assert ORBIT_CODEC.load(store, "orbit-y") is MISSING


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_a_frame_past_float64s_range_is_drawn_on_the_cluster(registry):
    # c = i at 1e-500: offsets, the view's scale and dz**2 all below 2**-1022.
    view = DeepView(**{**AT_I, "span": "1e-500"}, max_iter=3000, width=64, height=48)
    job = JobManager(registry).submit(DeepFrameWork(view))
    frame = await job.result()
    [task] = deep_tiles(view, job.tiles[:1], job.reference)
    assert extended(task)
    np.testing.assert_array_equal(frame, render(view))
    assert len(np.unique(np.floor(frame[np.isfinite(frame)]))) > 10
