"""Caps per payer (compute.engine.limits): the ledger's arithmetic, then the caps on a real
LocalCluster through JobManager, JobRegistry.detach_for and a RenderSession.

The ledger takes a clock: its window is a minute, which a test steps through instead of
waiting out. Everything else is the real engine: what a worker executed is counted on
the worker.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from compute.engine import JobManager, Ledger, LimitExceeded, Limits, consumer
from compute.engine.limits import ANONYMOUS, WINDOW
from compute.fractal import (
    PIXEL_ITERATIONS,
    FractalConfig,
    MovieSpec,
    RenderSession,
    fractal_connection,
    fractal_engine,
    fractal_limits,
    render,
)
from compute.fractal.setup import BACKGROUND_ENV, JOBS_ENV, PIXEL_ITERATIONS_ENV
from compute.fractal.testing import executed_tiles, heavy


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Done:
    """Stands for a job in the ledger's arithmetic: only ``done`` is read."""

    def __init__(self, done: bool = False):
        self.done = done


# -- the ledger ----------------------------------------------------------------------------------
def test_a_user_pays_before_an_address_and_a_notebook_is_nobody():
    # The explorer and the API pass a user and the client's address: a new anonymous tab
    # or API client from the same address is the same payer (it gets no new allowance).
    assert consumer(user="ann", address="10.0.0.1") == "user:ann"
    assert consumer(address="10.0.0.1") == "address:10.0.0.1"
    assert consumer() is None


def test_new_anonymous_addresses_draw_on_one_pool():
    # Each address has a user's allowance, and all of them together the pool's: twice a
    # user's here. A user's work is not counted in the pool.
    ledger = Ledger(Limits(jobs=1, cost=100.0, anonymous_users=2), clock=Clock())
    jobs = [Done(), Done()]  # (the ledger holds jobs weakly)
    for address, job in zip(("10.0.0.1", "10.0.0.2"), jobs, strict=True):
        ledger.admit(f"address:{address}", cost=10.0, background=False)
        ledger.charge(f"address:{address}", job, cost=10.0, background=False)
    with pytest.raises(LimitExceeded) as refused:
        ledger.admit("address:10.0.0.3", cost=10.0, background=False)
    assert refused.value.cap == "jobs"
    assert "Anonymous users have 2 jobs in flight" in str(refused.value)
    assert "Logging in" in str(refused.value)
    ledger.admit("user:ann", cost=10.0, background=False)
    assert ledger.usage(ANONYMOUS)["jobs"] == 2


def test_the_pool_bounds_anonymous_cost_too_and_take_charges_work_outside_jobs():
    clock = Clock()
    ledger = Ledger(Limits(cost=100.0, anonymous_users=1.5, unit=PIXEL_ITERATIONS), clock=clock)
    ledger.take("address:10.0.0.1", 90.0)
    ledger.take("address:10.0.0.2", 50.0)
    with pytest.raises(LimitExceeded) as refused:
        ledger.take("address:10.0.0.3", 20.0)
    assert "Anonymous users together asked for" in str(refused.value)
    assert refused.value.retry_after == pytest.approx(WINDOW)
    with pytest.raises(LimitExceeded):  # the address's own cap
        ledger.take("address:10.0.0.1", 20.0)
    assert ledger.usage("address:10.0.0.1")["pixel_iterations"] == 90.0
    clock.now += WINDOW
    ledger.take("address:10.0.0.3", 20.0)


def test_pixel_iterations_are_counted_over_a_sliding_minute():
    clock = Clock()
    ledger = Ledger(Limits(cost=100.0, unit=PIXEL_ITERATIONS), clock=clock)
    first, second = Done(), Done()
    ledger.admit("a", cost=60.0, background=False)
    ledger.charge("a", first, cost=60.0, background=False)
    clock.now += 20
    ledger.admit("a", cost=40.0, background=False)
    ledger.charge("a", second, cost=40.0, background=False)
    with pytest.raises(LimitExceeded) as refused:
        ledger.admit("a", cost=30.0, background=False)
    # The first charge expires 40 s from now, and that frees enough.
    assert refused.value.cap == "pixel_iterations"
    assert refused.value.retry_after == pytest.approx(WINDOW - 20)
    assert "It can start in 40 s" in str(refused.value)
    # Another consumer has its own allowance.
    ledger.admit("b", cost=100.0, background=False)
    clock.now += WINDOW - 20
    ledger.admit("a", cost=30.0, background=False)
    assert ledger.usage("a")["pixel_iterations"] == 40.0


def test_work_larger_than_a_minute_is_refused_for_good():
    ledger = Ledger(Limits(cost=100.0, unit=PIXEL_ITERATIONS), clock=Clock())
    with pytest.raises(LimitExceeded) as refused:
        ledger.admit("a", cost=101.0, background=False)
    assert refused.value.retry_after is None
    assert "Lower max_iter or the resolution" in str(refused.value)


def test_jobs_and_background_jobs_in_flight_are_capped_until_one_ends():
    ledger = Ledger(Limits(jobs=2, background=1, unit=PIXEL_ITERATIONS), clock=Clock())
    a, b = Done(), Done()
    ledger.charge("u", a, cost=0, background=True)
    with pytest.raises(LimitExceeded) as refused:
        ledger.admit("u", cost=0, background=True)
    assert refused.value.cap == "background"
    ledger.admit("u", cost=0, background=False)  # a frame is no background job
    ledger.charge("u", b, cost=0, background=False)
    with pytest.raises(LimitExceeded) as refused:
        ledger.admit("u", cost=0, background=False)
    assert (refused.value.cap, refused.value.retry_after) == ("jobs", None)
    # The job a request supersedes is let go at once: not counted.
    ledger.admit("u", cost=0, background=False, replacing=b)
    a.done = True
    ledger.admit("u", cost=0, background=True)
    assert ledger.usage("u") == {"jobs": 1, "background": 0, "pixel_iterations": 0.0}


def test_a_refund_gives_back_what_a_job_was_charged():
    ledger = Ledger(Limits(cost=100.0, unit=PIXEL_ITERATIONS), clock=Clock())
    job = Done()
    ledger.charge("a", job, cost=90.0, background=False)
    ledger.refund(job)
    ledger.admit("a", cost=100.0, background=False)


def test_limits_from_the_environment():
    assert fractal_limits({}) == Limits(unit=PIXEL_ITERATIONS)
    limits = fractal_limits({JOBS_ENV: "3", BACKGROUND_ENV: "off", PIXEL_ITERATIONS_ENV: "5e9"})
    assert limits == Limits(jobs=3, background=math.inf, cost=5e9, unit=PIXEL_ITERATIONS)
    for bad in ("many", "-1", "nan"):
        with pytest.raises(ValueError, match=JOBS_ENV):
            fractal_limits({JOBS_ENV: bad})


# -- on a cluster ------------------------------------------------------------------------------
on_cluster = [pytest.mark.cluster, pytest.mark.asyncio]


def cluster_test(fn):
    for mark in on_cluster:
        fn = mark(fn)
    return fn


@cluster_test
async def test_a_consumer_over_its_minute_is_refused_and_sharing_stays_free(client, registry):
    clock = Clock()
    first = heavy(1)
    limits = Limits(cost=first.pixel_iterations * 1.5, unit=PIXEL_ITERATIONS)
    registry.ledger = Ledger(limits, clock=clock)
    alice = JobManager(registry, payer="user:alice")
    bob = JobManager(registry, payer="user:bob")
    job = alice.submit(first)
    with pytest.raises(LimitExceeded) as refused:
        alice.submit(heavy(2))
    assert refused.value.cap == "pixel_iterations"
    assert alice.job is job  # the refused request left the current job alone
    # Bob asking for the frame alice started joins it: computed once, charged to nobody else.
    assert bob.submit(first) is job
    assert registry.ledger.usage("user:bob")["pixel_iterations"] == 0.0
    frame = await job.result()
    np.testing.assert_array_equal(frame, render(first))
    assert await executed_tiles(client, first.key) == job.parts_total
    # A cached result is never refused, and costs nothing.
    again = JobManager(registry, payer="user:alice")  # another tab
    assert again.submit(first).state == "cached"
    clock.now += WINDOW
    assert alice.submit(heavy(2)).state in ("queued", "running")
    alice.cancel()
    bob.cancel()


@cluster_test
async def test_background_jobs_of_one_user_are_capped_frames_are_not(registries):
    registry = registries(limits=Limits(background=1, unit=PIXEL_ITERATIONS))
    end = FractalConfig(x_range=(-0.5, 0.5), y_range=(-0.5, 0.5), max_iter=200)

    def movie(max_iter: int) -> MovieSpec:
        return MovieSpec(end=end.copy(max_iter=max_iter), frames=4, width=64, height=64)

    first = registry.detach_for(movie(200), payer="user:a", owner="a")
    with pytest.raises(LimitExceeded) as refused:
        registry.detach_for(movie(300), payer="user:a")
    assert refused.value.cap == "background"
    assert "1 background jobs running" in str(refused.value)
    # A frame over the API is detached but no background job; another user has their own.
    frame = registry.detach_for(FractalConfig(max_iter=50, width=64, height=64), payer="user:a")
    other = registry.detach_for(movie(400), payer="user:b", owner="b")
    # Whose they are (the registry forgets it once they end).
    assert (registry.users(first), registry.users(other)) == ({"a"}, {"b"})
    assert [await first.wait(), await frame.wait(), await other.wait()] == ["done"] * 3
    # Ended: the cap is free again.
    assert await registry.detach_for(movie(300), payer="user:a").wait() == "done"


class Painter:
    def show_preview(self, config, indices):
        pass

    def show_tiles(self, config, tiles):
        pass


@cluster_test
async def test_a_session_over_its_cap_says_so_and_renders_when_it_may(local_cluster, eventually):
    """A session refused for its consumer's caps shows why, and asks again by itself."""
    engine = fractal_engine(
        fractal_connection(local_cluster.scheduler_address),
        limits=Limits(jobs=1, unit=PIXEL_ITERATIONS),
    )
    session = RenderSession(Painter(), engine=engine, payer="session:s", debounce=0)
    try:
        registry = await session.registry()
        # The payer's one job in flight: a frame it asked for elsewhere.
        blocker = JobManager(registry, payer="session:s")
        blocking = blocker.submit(heavy(3))
        wanted = FractalConfig(max_iter=80, width=128, height=128)
        session.request(wanted)
        await eventually(lambda: session.state == "refused", "the session refused")
        assert "jobs in flight" in session.message
        blocker.cancel()
        await blocking.wait()
        await eventually(lambda: session.state == "done", "the session rendered it by itself")
        assert session.message == ""
        assert session.job.key == wanted.key
    finally:
        session.close()
        await engine.close()
