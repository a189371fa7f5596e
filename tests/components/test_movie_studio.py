"""The movie studio inside explorers on the shared LocalCluster: what the widgets ask for,
what every session learns, and refusals."""

from __future__ import annotations

import pytest

from components import FractalExplorer
from compute.engine.diagnostics import ExecutionCounter, executed_tasks
from compute.fractal import FractalConfig, FrameStore, fractal_connection, fractal_engine
from compute.fractal.video import probe

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]

VIEW = FractalConfig(
    c_real=-0.8, c_imag=0.156, max_iter=400, width=320, height=240,
    x_range=(-0.2, 0.2), y_range=(-0.15, 0.15),
)  # fmt: skip


async def test_the_spec_zooms_from_the_default_view_into_the_current_one(explorers):
    explorer = explorers(VIEW.copy())
    studio = explorer.movies
    studio.param.update(frames=12, fps=10, edge=128)
    spec = studio.spec()
    assert (spec.end.x_range, spec.end.y_range) == (VIEW.x_range, VIEW.y_range)
    assert spec.start.viewport.to_strings() == ("0", "0", "3.2")
    assert (spec.width, spec.height) == (128, 96)  # the view's aspect, 128 on its longer side
    assert (spec.frames, spec.fps, spec.colormap) == (12, 10, VIEW.colormap)
    # "Start here": the zoom starts from the view on screen when it was pressed.
    studio.param.trigger("start_here")
    explorer.config.param.update(span="0.2")
    assert studio.spec().start.x_range == VIEW.x_range
    studio.param.trigger("start_default")
    assert studio.start is None


async def test_a_movie_made_in_one_session_is_announced_in_every_session(explorers, eventually):
    maker, watcher = explorers(VIEW.copy()), explorers(VIEW.copy())
    await maker.movies.watch()
    await watcher.movies.watch()
    maker.movies.param.update(frames=10, edge=128)
    maker.movies.param.trigger("make")
    await eventually(lambda: maker.movies.job is not None, "the movie to be asked for")
    job = maker.movies.job
    assert job.detached
    # The other session follows it while it runs, and both get its history row at the end.
    await eventually(lambda: watcher.movies.job is job, "the other session to follow it")
    await job.result()
    for explorer in (maker, watcher):
        await eventually(
            lambda e=explorer: e.history.records and e.history.records[-1].key == job.key,
            "the history row",
        )
        assert explorer.movies.state == "done"
        assert explorer.movies._player.visible
    info = probe(maker.movies._file("mp4").getvalue())
    assert (info.codec, info.frames, info.width, info.height) == ("h264", 10, 128, 96)
    # Asking again (here, from the history row) plays it with no new job.
    watcher.history.selected = watcher.history.records[-1]
    await eventually(lambda: watcher.movies.job is not job, "the movie to be reopened")
    assert watcher.movies.job.state == "cached"


async def test_a_refused_movie_says_why_and_asks_nothing(explorers):
    explorer = explorers(VIEW.copy(max_iter=4000, width=1024, height=1024))
    studio = explorer.movies
    studio.param.update(frames=600, edge=1024)
    await studio._make()
    assert studio.state == "refused"
    assert "budget" in studio.message or "Mpx" in studio.message
    assert studio.job is None


async def test_after_a_restart_the_history_lists_a_movie_and_it_plays(
    local_cluster, tmp_path, eventually
):
    """Two explorers on two engines, one after the other: a server and its restart."""
    store = FrameStore(tmp_path / "store")
    engine = fractal_engine(fractal_connection(local_cluster.scheduler_address), store=store)
    explorer = FractalExplorer(config=VIEW.copy(), engine=engine)
    try:
        await explorer.movies.watch()
        explorer.movies.param.update(frames=8, edge=128)
        await explorer.movies._make()
        job = explorer.movies.job
        await job.result()
        await (await explorer.session.registry()).flush()
    finally:
        explorer.close()
        await engine.close()

    engine = fractal_engine(fractal_connection(local_cluster.scheduler_address), store=store)
    explorer = FractalExplorer(config=VIEW.copy(), engine=engine)
    try:
        client = await engine.client()
        await client.register_plugin(ExecutionCounter())
        (record,) = [r for r in explorer.history.records if r.kind == "movie"]
        assert (record.key, record.state, record.parts_done) == (job.key, "done", 8)
        explorer.history._table._handle_msg({"row": explorer.history.records.index(record)})
        # The click asks for it in a task of its own.
        await eventually(
            lambda: explorer.movies.job is not None and explorer.movies.job.done, "the movie"
        )
        assert explorer.movies.job.state == "cached"
        assert explorer.movies._player.visible
        assert probe(explorer.movies._file("mp4").getvalue()).frames == 8
        assert await executed_tasks(client, "fractal-movieframe") == []
    finally:
        explorer.close()
        await engine.close()
