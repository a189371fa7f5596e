"""JobStatus drawing real jobs on the LocalCluster: badge, progress, text, Cancel button.

What the browser draws is the status bar's one ``value``; it is read after the event
loop's next turn, when the status draws the changes of the turn before.
"""

from __future__ import annotations

import asyncio

import pytest

from components import JobStatus
from compute.engine import JobManager
from compute.fractal.testing import SlippedThrough, heavy, light

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio]


async def drawn(status: JobStatus) -> dict:
    """What the status bar shows once the pending drawing (if any) has run."""
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return status.bar.value


async def test_without_a_job_it_is_idle():
    status = JobStatus()
    assert status.state == "idle"
    shown = await drawn(status)
    assert (shown["state"], shown["text"], shown["cancellable"]) == ("idle", "No job yet.", False)
    assert (shown["done"], shown["total"]) == (0, 1)


async def test_follows_a_job_from_queued_through_running_to_cancelled(registry, eventually):
    manager = JobManager(registry)
    job = manager.submit(heavy(1, c_imag=0.12))
    status = JobStatus(job=job)
    shown = await drawn(status)
    assert (shown["state"], shown["label"]) == ("queued", "queued")
    assert shown["text"] == "queued: 16 tiles waiting for a worker"
    assert shown["cancellable"] is True
    assert (shown["done"], shown["total"]) == (0, 16)

    await eventually(lambda: status.bar.value["state"] == "running", "the badge to say running")
    assert status.bar.value["cancellable"] is True

    manager.cancel()
    assert job.state == "cancelled"
    shown = await drawn(status)
    assert (shown["state"], shown["text"], shown["cancellable"]) == (
        "cancelled",
        "cancelled by you",
        False,
    )


async def test_progress_is_drawn_at_most_every_interval(registry, eventually):
    manager = JobManager(registry)
    job = manager.submit(heavy(3, c_imag=0.12))
    status = JobStatus(job=job, interval=5)
    await eventually(lambda: job.state == "running", "a tile to start")
    await eventually(lambda: job.parts_done >= 2, "two tiles")
    # Two tiles arrived within a few seconds of "running" being drawn: their progress
    # waits for the interval.
    shown = await drawn(status)
    assert (shown["state"], shown["done"]) == ("running", 0)
    manager.cancel()
    # The end of the job is a change of state: drawn at once, with the progress it has.
    shown = await drawn(status)
    assert (shown["state"], shown["done"]) == ("cancelled", job.parts_done)


async def test_a_done_job_then_a_cached_one(registry):
    config = light(1)
    job = JobManager(registry).submit(config)
    status = JobStatus(job=job)
    await job.result()
    shown = await drawn(status)
    assert (shown["state"], shown["label"], shown["cancellable"]) == ("done", "done", False)
    assert (shown["done"], shown["total"]) == (1, 1)
    assert shown["text"] == job.describe()
    assert job.describe().startswith("done in ")

    status.job = JobManager(registry).submit(config)
    shown = await drawn(status)
    assert (shown["state"], shown["label"]) == ("cached", "from cache")
    assert shown["text"] == "from cache: no task ran"


async def test_a_failed_job(registry):
    job = JobManager(registry).submit(SlippedThrough(max_iter=130, width=256, height=256))
    status = JobStatus(job=job)
    await job.wait()
    shown = await drawn(status)
    assert (shown["state"], shown["cancellable"]) == ("failed", False)
    assert shown["text"] == job.describe()
    assert job.describe().startswith("failed: ValueError: max_iter must be at least 1")


async def test_the_sessions_phase_overrides_the_job(registry):
    job = JobManager(registry).submit(light(2, size=1024))
    status = JobStatus(job=job, phase="cancelled")
    shown = await drawn(status)
    assert (shown["state"], shown["text"], shown["cancellable"]) == (
        "cancelled",
        "cancelled by you",
        False,
    )
    await job.result()  # somebody else's frame finishes: the badge tells the truth
    shown = await drawn(status)
    assert (shown["state"], shown["done"], shown["total"]) == ("done", 16, 16)
    status.phase = "previewing"  # a drag: previews, and no job for them yet
    shown = await drawn(status)
    assert shown["state"] == "previewing"
    assert shown["text"].startswith("previews follow your change")


async def test_the_cancel_button_fires_the_cancel_event(registry):
    manager = JobManager(registry)
    status = JobStatus(job=manager.submit(heavy(2, c_imag=0.12)))
    await drawn(status)
    pressed = []
    status.param.watch(lambda event: pressed.append(event.name), "cancel")
    status.bar._handle_msg("cancel")  # what the button's click sends from the browser
    assert pressed == ["cancel"]
    manager.cancel()
    await drawn(status)
    status.bar._handle_msg("cancel")  # disabled now: a late click does nothing
    assert pressed == ["cancel"]


async def test_progress_follows_jobs_of_different_sizes(registry):
    small = JobManager(registry).submit(light(3))
    big = JobManager(registry).submit(light(3, size=1024))
    await small.result()
    await big.result()
    status = JobStatus(job=small)
    assert ((await drawn(status))["done"], status.bar.value["total"]) == (1, 1)
    status.job = big
    assert ((await drawn(status))["done"], status.bar.value["total"]) == (16, 16)
    status.job = small
    assert ((await drawn(status))["done"], status.bar.value["total"]) == (1, 1)
