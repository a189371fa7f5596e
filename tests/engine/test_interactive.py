"""The interactive policy: leading edge, quiet period, latest wins, what is stale.

Time comes from a ManualClock moved by hand: no sleeps, no durations asserted.
"""

from __future__ import annotations

import asyncio

import pytest

from compute.engine.interactive import Latest, ManualClock, Pacer, SingleFlight, Throttle, judge

QUIET = 0.25


class Starts:
    """Counts the full work the pacer starts."""

    def __init__(self):
        self.count = 0

    def __call__(self):
        self.count += 1


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=100.0)


def test_the_manual_clock_runs_callbacks_in_order_as_time_passes(clock):
    ran = []
    clock.call_later(0.2, lambda: ran.append(("b", clock.now())))
    clock.call_later(0.1, lambda: ran.append(("a", clock.now())))
    dropped = clock.call_later(0.15, lambda: ran.append(("dropped", clock.now())))
    dropped.cancel()
    assert clock.pending == 2
    clock.advance(0.05)
    assert ran == []
    clock.advance(0.2)
    assert ran == [("a", 100.1), ("b", 100.2)]
    assert clock.now() == 100.25
    assert clock.pending == 0


def test_a_discrete_change_after_quiet_is_a_leading_edge(clock):
    starts = Starts()
    pacer = Pacer(starts, QUIET, clock)
    assert pacer.leading()  # the first change ever: at once
    clock.advance(QUIET / 2)
    assert not pacer.leading()  # the second within the quiet period: a burst
    clock.advance(QUIET / 2)
    assert not pacer.leading()  # each change extends the burst
    clock.advance(QUIET)
    assert pacer.leading()  # quiet again: the next change starts at once
    assert starts.count == 0  # leading() only says; the caller starts the work


def test_a_burst_starts_its_work_once_when_it_ends(clock):
    starts = Starts()
    pacer = Pacer(starts, QUIET, clock)
    for _ in range(10):  # a drag: a change every 0.1 quiet period
        pacer.wait_quiet()
        clock.advance(QUIET / 10)
    assert starts.count == 0  # the hand still moves
    assert pacer.pending
    clock.advance(QUIET)
    assert starts.count == 1
    assert not pacer.pending
    clock.advance(10 * QUIET)
    assert starts.count == 1  # once per burst, not per change


def test_a_retry_timer_replaces_the_quiet_timer_and_cancel_drops_both(clock):
    starts, retried = Starts(), Starts()
    pacer = Pacer(starts, QUIET, clock)
    pacer.wait_quiet()
    pacer.after(2.0, retried)  # refused over a cap: asked again when it may start
    clock.advance(QUIET)
    assert (starts.count, retried.count) == (0, 0)
    clock.advance(2.0)
    assert (starts.count, retried.count) == (0, 1)
    pacer.wait_quiet()
    pacer.cancel()
    clock.advance(10.0)
    assert starts.count == 0
    assert clock.pending == 0


def test_the_quiet_period_can_change_between_bursts(clock):
    starts = Starts()
    pacer = Pacer(starts, QUIET, clock)
    pacer.quiet = 1.0
    pacer.wait_quiet()
    clock.advance(QUIET)
    assert starts.count == 0
    clock.advance(1.0 - QUIET)
    assert starts.count == 1


def test_latest_wins_nothing_older_than_what_is_shown_is_drawn():
    latest = Latest()
    first = latest.ask()
    second = latest.ask()
    assert latest.newer(first)
    assert latest.newer(second)
    latest.show(second)  # the newer answer arrived first
    assert not latest.newer(first)  # the older one is never drawn over it
    assert latest.stale(first)
    assert not latest.stale(second)
    third = latest.ask()
    assert latest.newer(third)
    latest.show()  # back to what is on screen: it is current again
    assert latest.shown == third
    assert not latest.newer(third)


@pytest.mark.asyncio
async def test_single_flight_runs_one_at_a_time_and_the_newest_waiting_replaces_the_rest():
    ran, dropped = [], []
    gate = asyncio.Event()

    async def work(item):
        ran.append(item)
        if item == "a":
            await gate.wait()

    flight = SingleFlight(work, dropped.append)
    flight.offer("a")  # starts
    await asyncio.sleep(0)
    assert flight.busy
    for item in "bcd":  # while "a" runs: each replaces the one waiting
        flight.offer(item)
    assert flight.waiting == "d"
    assert dropped == ["b", "c"]  # never run; whoever waited for them is told
    gate.set()
    await flight.idle()
    assert ran == ["a", "d"]
    assert not flight.busy


@pytest.mark.asyncio
async def test_single_flight_stops_when_work_says_so_and_resumes_at_the_next_offer():
    ran = []

    async def work(item):
        ran.append(item)
        return item != "offline"

    flight = SingleFlight(work)
    flight.offer("offline")
    await flight.idle()
    flight.offer("x")
    await flight.idle()
    assert ran == ["offline", "x"]
    flight.offer("y")
    flight.stop()  # a closed consumer: the one waiting is dropped, the running one cancelled
    await flight.idle()
    assert flight.waiting is None


@pytest.mark.parametrize(
    ("state", "wanted", "shown", "complete", "expected"),
    [
        # Nothing on screen yet: the reason still says what is going on.
        ("previewing", "a", None, False, (False, "Rendering the new view…", False)),
        # A preview of what was asked for: provisional, not stale.
        ("previewing", "a", "a", False, (False, "", True)),
        # A preview lagging a moving hand by a value: provisional too.
        ("previewing", "b", "a", False, (False, "", True)),
        # An older finished result while the new one renders: stale.
        ("rendering", "b", "a", True, (True, "Rendering the new view…", False)),
        ("done", "a", "a", True, (False, "", False)),
        ("cancelled", "a", "a", False, (True, "Cancelled: the image is incomplete.", False)),
        ("cancelled", "a", "a", True, (False, "", False)),
        (
            "refused",
            "b",
            "a",
            True,
            (True, "Showing an older view: the requested one was refused.", False),
        ),
        (
            "offline",
            "b",
            "a",
            True,
            (True, "Showing an older view: the Dask cluster is unreachable.", False),
        ),
        (
            "failed",
            "b",
            "a",
            True,
            (True, "Showing an older view: this one failed (boom).", False),
        ),
    ],
)
def test_what_is_on_screen_is_named_for_what_it_is(state, wanted, shown, complete, expected):
    shown_as = judge(state, wanted, shown, complete, failure="boom")
    assert (shown_as.stale, shown_as.reason, shown_as.provisional) == expected


def test_a_throttle_draws_once_at_the_earliest_time_asked(clock):
    drawn = []
    throttle = Throttle(lambda: drawn.append(clock.now()), clock)
    throttle.request(0.5)  # progress: within half a second
    throttle.request(0.5)
    throttle.request(0.1)  # a state change: sooner
    throttle.request(0.3)  # later than what is due: nothing changes
    assert throttle.pending
    clock.advance(1.0)
    assert drawn == [100.1]  # one drawing, at the earliest time asked
    throttle.request(0.5)
    throttle.now()  # an end: at once, instead of what was scheduled
    clock.advance(1.0)
    assert drawn == [100.1, 101.0]
    assert clock.pending == 0


def test_without_an_event_loop_a_throttle_draws_at_once():
    drawn = []
    throttle = Throttle(lambda: drawn.append(1))  # the loop's clock, and no loop running
    throttle.request(0.5)
    assert drawn == [1]
