"""A deep frame as work on a real LocalCluster: the reference orbit a chain of tasks, the
orbit replicated, the tiles spread over the workers; equal to the frame computed in this
process (itself checked against ball arithmetic in test_perturbation.py)."""

from __future__ import annotations

import numpy as np
import pytest

from compute.engine import JobManager
from compute.engine.diagnostics import start_order
from compute.engine.store import ResultStore
from compute.fractal.deep import CHUNK, TASK, DeepFrameWork, DeepView
from compute.fractal.perturbation import render_deep
from compute.fractal.testing import tiles_held
from compute.fractal.viewport import auto_max_iter

# c = i, a Misiurewicz point on the boundary: escaping pixels of every count near it.
AT_I = {"center_real": "0", "center_imag": "1.0", "span": "1e-40"}


def test_a_view_is_canonical_and_bad_values_name_their_parameter():
    one = DeepView(**AT_I, max_iter=500, width=64, height=48)
    other = DeepView(center_real="0.0", center_imag="1", span="1E-40", max_iter=500, width=64,
                     height=48)  # fmt: skip
    assert (one.center_imag, one.span) == ("1", "1e-40")
    assert one.key == other.key
    assert one.key != DeepView(**AT_I, max_iter=501, width=64, height=48).key
    for name, bad in (("span", "0"), ("span", "1e-400"), ("center_real", "abc")):
        with pytest.raises(ValueError, match=name):
            DeepView(**{**AT_I, name: bad})


def test_without_max_iter_a_view_gets_one_that_grows_with_depth_before_its_key():
    shallow, deep = DeepView(**{**AT_I, "span": "1e-20"}), DeepView(**{**AT_I, "span": "1e-100"})
    assert shallow.max_iter == auto_max_iter("1e-20") < deep.max_iter == auto_max_iter("1e-100")
    explicit = DeepView(**{**AT_I, "span": "1e-100"}, max_iter=deep.max_iter)
    assert explicit.key == deep.key
    assert DeepFrameWork.from_dict(DeepFrameWork(deep).to_dict()).key == deep.key


@pytest.mark.cluster
@pytest.mark.asyncio
async def test_a_deep_frame_on_the_cluster_equals_the_one_computed_here(registry, client):
    view = DeepView(**AT_I, max_iter=2 * CHUNK + 5, width=512, height=384)
    job = JobManager(registry).submit(DeepFrameWork(view))
    frame = await job.result()
    # Three chunks of the reference, then the tiles: each a part, each reported.
    assert job.parts_total == 3 + len(job.tiles)
    assert job.parts_done == job.parts_total
    here = render_deep(
        view.center_real, view.center_imag, view.span, view.width, view.height, view.max_iter
    )
    np.testing.assert_array_equal(frame, here)
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
    assert again.reference_key == first.reference_key
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
    here = render_deep(
        again.center_real, again.center_imag, again.span, again.width, again.height,
        again.max_iter,
    )  # fmt: skip
    np.testing.assert_array_equal(frame, here)
