"""JobStatus drawing real jobs on the LocalCluster: badge, progress, text, Cancel button."""

from __future__ import annotations

import html
import re

import pytest
from bokeh.events import ButtonClick
from support import SlippedThrough, heavy

from components import JobStatus
from compute import FractalConfig, JobManager

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


def light(n: int, size: int = 256) -> FractalConfig:
    return FractalConfig(c_real=-0.7 + n * 1e-3, max_iter=100, width=size, height=size)


def badge(status: JobStatus) -> str:
    """The state the badge shows, from its ``data-state`` attribute."""
    states = re.findall(r'data-state="([a-z]+)"', status._badge.object)
    assert len(states) == 1, status._badge.object
    return states[0]


def label(status: JobStatus) -> str:
    return re.search(r">([^<]*)</span>", status._badge.object)[1]


def text(status: JobStatus) -> str:
    return status._text.object


def shows(status: JobStatus, state: str, words: str) -> bool:
    return text(status) == f'<span data-state="{state}">{html.escape(words)}</span>'


async def test_without_a_job_it_is_idle():
    status = JobStatus()
    assert status.state == "idle"
    assert badge(status) == "idle"
    assert shows(status, "idle", "No job yet.")
    assert status._cancel.disabled is True
    assert (status._progress.value, status._progress.max) == (0, 1)


async def test_follows_a_job_from_queued_through_running_to_cancelled(client, eventually):
    manager = JobManager(client)
    job = manager.submit(heavy(1, c_imag=0.12))
    status = JobStatus(job=job)
    assert badge(status) == "queued"
    assert shows(status, "queued", "queued: 16 tiles waiting for a worker")
    assert status._cancel.disabled is False
    assert (status._progress.value, status._progress.max) == (0, 16)

    await eventually(lambda: badge(status) == "running", "the badge to say running")
    assert status._cancel.disabled is False
    assert shows(status, "running", job.describe())

    manager.cancel()
    assert job.state == "cancelled"
    assert badge(status) == "cancelled"
    assert status._cancel.disabled is True
    assert shows(status, "cancelled", "cancelled by you")


async def test_a_done_job_then_a_cached_one(client):
    config = light(1)
    job = JobManager(client).submit(config)
    status = JobStatus(job=job)
    await job.result()
    assert badge(status) == "done"
    assert label(status) == "done"
    assert status._cancel.disabled is True
    assert (status._progress.value, status._progress.max) == (1, 1)
    assert shows(status, "done", job.describe())
    assert job.describe().startswith("done in ")

    status.job = JobManager(client).submit(config)
    assert badge(status) == "cached"
    assert label(status) == "from cache"
    assert status._cancel.disabled is True
    assert shows(status, "cached", "from cache: no task ran")


async def test_a_failed_job(client):
    job = JobManager(client).submit(SlippedThrough(max_iter=130, width=256, height=256))
    status = JobStatus(job=job)
    await job.wait()
    assert badge(status) == "failed"
    assert status._cancel.disabled is True
    assert status._progress.bar_color == "danger"
    assert shows(status, "failed", job.describe())
    assert job.describe().startswith("failed: ValueError: max_iter must be at least 1")


async def test_cancelled_by_this_session_while_another_still_runs_it(client):
    job = JobManager(client).submit(light(2, size=1024))
    status = JobStatus(job=job, cancelled=True)
    assert badge(status) == "cancelled"
    assert shows(status, "cancelled", "cancelled by you")
    assert status._cancel.disabled is True
    await job.result()  # somebody else's frame finishes: the badge tells the truth
    assert badge(status) == "done"
    assert (status._progress.value, status._progress.max) == (16, 16)


async def test_the_cancel_button_fires_the_cancel_event(client):
    manager = JobManager(client)
    status = JobStatus(job=manager.submit(heavy(2, c_imag=0.12)))
    pressed = []
    status.param.watch(lambda event: pressed.append(event.name), "cancel")
    status._cancel._process_event(ButtonClick(None))
    assert pressed == ["cancel"]
    manager.cancel()


async def test_progress_follows_jobs_of_different_sizes(client):
    small = JobManager(client).submit(light(3))
    big = JobManager(client).submit(light(3, size=1024))
    await small.result()
    await big.result()
    status = JobStatus(job=small)
    assert (status._progress.value, status._progress.max) == (1, 1)
    status.job = big  # 16 of 16 tiles, where the bar held 1 of 1
    assert (status._progress.value, status._progress.max) == (16, 16)
    status.job = small
    assert (status._progress.value, status._progress.max) == (1, 1)
