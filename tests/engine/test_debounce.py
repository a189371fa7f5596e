"""Debouncer: time from a ManualClock moved by hand (no sleeps), and once on the loop's."""

from __future__ import annotations

import asyncio

import pytest

from compute.engine.debounce import Debouncer
from compute.engine.interactive import ManualClock

DELAY = 0.02


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


class Recorder:
    """A synchronous callback that records its calls and returns a tagged result."""

    def __init__(self):
        self.calls: list[tuple[tuple, dict]] = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return ("result", args, kwargs)


@pytest.mark.asyncio
async def test_burst_produces_one_call_with_last_arguments(clock):
    callback = Recorder()
    debouncer = Debouncer(callback, DELAY, clock)
    futures = []
    for i in range(10):
        futures.append(debouncer.trigger(i, step=i))
        await asyncio.sleep(0)  # let the loop run between triggers, as a slider does
    assert debouncer.pending
    assert callback.calls == []  # nothing runs before the quiet time
    clock.advance(DELAY * 0.99)
    assert callback.calls == []
    clock.advance(DELAY * 0.01)
    result = await futures[-1]
    assert result == ("result", (9,), {"step": 9})
    assert callback.calls == [((9,), {"step": 9})]
    # Every trigger of the burst shares the result.
    assert all(f is futures[0] for f in futures)
    assert not debouncer.pending
    # No stray second call later.
    clock.advance(3 * DELAY)
    await asyncio.sleep(0)
    assert len(callback.calls) == 1
    assert clock.pending == 0


@pytest.mark.asyncio
async def test_a_burst_on_the_loops_own_clock():
    # The same, end to end on the real clock: one call, with the last arguments.
    callback = Recorder()
    debouncer = Debouncer(callback, DELAY)
    futures = [debouncer.trigger(i) for i in range(5)]
    assert await futures[-1] == ("result", (4,), {})
    assert callback.calls == [((4,), {})]


@pytest.mark.asyncio
async def test_trigger_future_resolves_to_result(clock):
    debouncer = Debouncer(lambda x: x * 10, DELAY, clock)
    future = debouncer.trigger(4)
    assert isinstance(future, asyncio.Future)
    assert not future.done()
    clock.advance(DELAY)
    assert await future == 40
    assert future.result() == 40


@pytest.mark.asyncio
async def test_zero_delay():
    callback = Recorder()
    debouncer = Debouncer(callback, 0)
    first = debouncer.trigger("a")
    second = debouncer.trigger("b")
    assert await second == ("result", ("b",), {})
    assert first is second
    assert callback.calls == [(("b",), {})]


@pytest.mark.asyncio
async def test_separated_triggers_produce_two_calls(clock):
    callback = Recorder()
    debouncer = Debouncer(callback, DELAY, clock)
    first = debouncer.trigger(1)
    clock.advance(DELAY)
    assert await first == ("result", (1,), {})
    second = debouncer.trigger(2)
    assert second is not first
    clock.advance(DELAY)
    assert await second == ("result", (2,), {})
    assert callback.calls == [((1,), {}), ((2,), {})]
    # The first future keeps its own result.
    assert first.result() == ("result", (1,), {})


@pytest.mark.asyncio
async def test_flush_runs_pending_call_now(clock):
    callback = Recorder()
    debouncer = Debouncer(callback, DELAY, clock)
    future = debouncer.trigger(1)
    debouncer.trigger(2)
    result = await debouncer.flush()  # before the timer could fire
    assert result == ("result", (2,), {})
    assert callback.calls == [((2,), {})]
    assert future.done()
    assert future.result() == result
    assert not debouncer.pending
    # The timer was cancelled: no second call once the delay has passed.
    clock.advance(3 * DELAY)
    await asyncio.sleep(0)
    assert callback.calls == [((2,), {})]


@pytest.mark.asyncio
async def test_flush_with_nothing_pending(clock):
    callback = Recorder()
    debouncer = Debouncer(callback, DELAY, clock)
    assert await debouncer.flush() is None
    future = debouncer.trigger(1)
    clock.advance(DELAY)
    await future
    assert await debouncer.flush() is None
    assert callback.calls == [((1,), {})]


@pytest.mark.asyncio
async def test_cancel_drops_pending_call(clock):
    callback = Recorder()
    debouncer = Debouncer(callback, DELAY, clock)
    future = debouncer.trigger(1)
    debouncer.trigger(2)
    debouncer.cancel()
    assert not debouncer.pending
    assert future.cancelled()
    clock.advance(3 * DELAY)
    await asyncio.sleep(0)
    assert callback.calls == []


@pytest.mark.asyncio
async def test_trigger_after_cancel_gets_a_fresh_future(clock):
    callback = Recorder()
    debouncer = Debouncer(callback, DELAY, clock)
    cancelled = debouncer.trigger(1)
    debouncer.cancel()
    assert cancelled.cancelled()
    future = debouncer.trigger(3)
    clock.advance(3 * DELAY)
    await future
    assert callback.calls == [((3,), {})]
    assert not future.cancelled()
    assert future.result() == ("result", (3,), {})


@pytest.mark.asyncio
async def test_cancel_during_running_call_keeps_its_result(clock):
    started = asyncio.Event()
    release = asyncio.Event()

    async def callback(x):
        started.set()
        await release.wait()
        return x

    debouncer = Debouncer(callback, DELAY, clock)
    future = debouncer.trigger(1)
    clock.advance(DELAY)
    await started.wait()
    debouncer.cancel()  # nothing is scheduled: the running call is not dropped
    release.set()
    assert await future == 1


@pytest.mark.asyncio
async def test_cancel_with_nothing_pending(clock):
    callback = Recorder()
    debouncer = Debouncer(callback, DELAY, clock)
    debouncer.cancel()
    future = debouncer.trigger(1)
    clock.advance(DELAY)
    assert await future == ("result", (1,), {})
    debouncer.cancel()  # after the call finished: nothing to drop, result kept
    assert callback.calls == [((1,), {})]


@pytest.mark.asyncio
async def test_async_callback(clock):
    calls = []

    async def callback(x, *, scale):
        calls.append(x)
        await asyncio.sleep(0)
        return x * scale

    debouncer = Debouncer(callback, DELAY, clock)
    debouncer.trigger(1, scale=2)
    future = debouncer.trigger(3, scale=5)
    clock.advance(DELAY)
    assert await future == 15
    assert calls == [3]
    debouncer.trigger(7, scale=1)
    assert await debouncer.flush() == 7
    assert calls == [3, 7]


@pytest.mark.asyncio
async def test_exception_reaches_trigger_awaiter(clock):
    def callback(x):
        raise RuntimeError(f"boom {x}")

    debouncer = Debouncer(callback, DELAY, clock)
    future = debouncer.trigger(1)
    clock.advance(DELAY)
    with pytest.raises(RuntimeError, match="boom 1"):
        await future
    # The debouncer survives a failing call.
    future = debouncer.trigger(2)
    clock.advance(DELAY)
    with pytest.raises(RuntimeError, match="boom 2"):
        await future


@pytest.mark.asyncio
async def test_exception_from_async_callback_reaches_flush():
    async def callback():
        await asyncio.sleep(0)
        raise KeyError("missing")

    debouncer = Debouncer(callback, DELAY)
    future = debouncer.trigger()
    with pytest.raises(KeyError, match="missing"):
        await debouncer.flush()
    assert isinstance(future.exception(), KeyError)


@pytest.mark.parametrize("delay", [-0.001, -1])
def test_negative_delay_rejected(delay):
    with pytest.raises(ValueError, match="delay"):
        Debouncer(lambda: None, delay)


@pytest.mark.asyncio
async def test_trigger_during_running_call_gets_its_own_result(clock):
    started = asyncio.Event()
    release = asyncio.Event()
    both_done = asyncio.Event()
    finished = []

    async def callback(x):
        started.set()
        await release.wait()
        finished.append(x)
        if len(finished) == 2:
            both_done.set()
        return x

    debouncer = Debouncer(callback, DELAY, clock)
    first = debouncer.trigger(1)
    clock.advance(DELAY)
    await started.wait()  # call 1 is running, blocked on `release`
    second = debouncer.trigger(2)  # a new burst
    release.set()
    one = await first
    clock.advance(DELAY)
    results = one, await second
    await both_done.wait()
    assert finished == [1, 2]
    assert results == (1, 2)
