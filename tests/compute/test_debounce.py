"""Debouncer, on a real event loop with short delays (no assertions on durations)."""

from __future__ import annotations

import asyncio

import pytest

from compute.debounce import Debouncer

DELAY = 0.02


class Recorder:
    """A synchronous callback that records its calls and returns a tagged result."""

    def __init__(self):
        self.calls: list[tuple[tuple, dict]] = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return ("result", args, kwargs)


@pytest.mark.asyncio
async def test_burst_produces_one_call_with_last_arguments():
    callback = Recorder()
    debouncer = Debouncer(callback, DELAY)
    futures = []
    for i in range(10):
        futures.append(debouncer.trigger(i, step=i))
        await asyncio.sleep(0)  # let the loop run between triggers, as a slider does
    assert debouncer.pending
    assert callback.calls == []  # nothing runs before the quiet time
    result = await futures[-1]
    assert result == ("result", (9,), {"step": 9})
    assert callback.calls == [((9,), {"step": 9})]
    # Every trigger of the burst shares the result.
    assert all(f is futures[0] for f in futures)
    assert not debouncer.pending
    # No stray second call later.
    await asyncio.sleep(3 * DELAY)
    assert len(callback.calls) == 1


@pytest.mark.asyncio
async def test_trigger_future_resolves_to_result():
    debouncer = Debouncer(lambda x: x * 10, DELAY)
    future = debouncer.trigger(4)
    assert isinstance(future, asyncio.Future)
    assert not future.done()
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
async def test_separated_triggers_produce_two_calls():
    callback = Recorder()
    debouncer = Debouncer(callback, DELAY)
    first = debouncer.trigger(1)
    assert await first == ("result", (1,), {})
    second = debouncer.trigger(2)
    assert second is not first
    assert await second == ("result", (2,), {})
    assert callback.calls == [((1,), {}), ((2,), {})]
    # The first future keeps its own result.
    assert first.result() == ("result", (1,), {})


@pytest.mark.asyncio
async def test_flush_runs_pending_call_now():
    callback = Recorder()
    debouncer = Debouncer(callback, DELAY)
    future = debouncer.trigger(1)
    debouncer.trigger(2)
    result = await debouncer.flush()  # before the timer could fire
    assert result == ("result", (2,), {})
    assert callback.calls == [((2,), {})]
    assert future.done()
    assert future.result() == result
    assert not debouncer.pending
    # The timer was cancelled: no second call once the delay has passed.
    await asyncio.sleep(3 * DELAY)
    assert callback.calls == [((2,), {})]


@pytest.mark.asyncio
async def test_flush_with_nothing_pending():
    callback = Recorder()
    debouncer = Debouncer(callback, DELAY)
    assert await debouncer.flush() is None
    await debouncer.trigger(1)
    assert await debouncer.flush() is None
    assert callback.calls == [((1,), {})]


@pytest.mark.asyncio
async def test_cancel_drops_pending_call():
    callback = Recorder()
    debouncer = Debouncer(callback, DELAY)
    future = debouncer.trigger(1)
    debouncer.trigger(2)
    debouncer.cancel()
    assert not debouncer.pending
    assert future.cancelled()
    await asyncio.sleep(3 * DELAY)
    assert callback.calls == []


@pytest.mark.asyncio
async def test_trigger_after_cancel_gets_a_fresh_future():
    callback = Recorder()
    debouncer = Debouncer(callback, DELAY)
    cancelled = debouncer.trigger(1)
    debouncer.cancel()
    assert cancelled.cancelled()
    future = debouncer.trigger(3)
    await asyncio.sleep(3 * DELAY)  # the call runs (and finishes) either way
    assert callback.calls == [((3,), {})]
    assert not future.cancelled()
    assert future.result() == ("result", (3,), {})


@pytest.mark.asyncio
async def test_cancel_during_running_call_keeps_its_result():
    started = asyncio.Event()
    release = asyncio.Event()

    async def callback(x):
        started.set()
        await release.wait()
        return x

    debouncer = Debouncer(callback, DELAY)
    future = debouncer.trigger(1)
    await started.wait()
    debouncer.cancel()  # nothing is scheduled: the running call is not dropped
    release.set()
    assert await future == 1


@pytest.mark.asyncio
async def test_cancel_with_nothing_pending():
    callback = Recorder()
    debouncer = Debouncer(callback, DELAY)
    debouncer.cancel()
    assert await debouncer.trigger(1) == ("result", (1,), {})
    debouncer.cancel()  # after the call finished: nothing to drop, result kept
    assert callback.calls == [((1,), {})]


@pytest.mark.asyncio
async def test_async_callback():
    calls = []

    async def callback(x, *, scale):
        calls.append(x)
        await asyncio.sleep(0)
        return x * scale

    debouncer = Debouncer(callback, DELAY)
    debouncer.trigger(1, scale=2)
    future = debouncer.trigger(3, scale=5)
    assert await future == 15
    assert calls == [3]
    debouncer.trigger(7, scale=1)
    assert await debouncer.flush() == 7
    assert calls == [3, 7]


@pytest.mark.asyncio
async def test_exception_reaches_trigger_awaiter():
    def callback(x):
        raise RuntimeError(f"boom {x}")

    debouncer = Debouncer(callback, DELAY)
    future = debouncer.trigger(1)
    with pytest.raises(RuntimeError, match="boom 1"):
        await future
    # The debouncer survives a failing call.
    with pytest.raises(RuntimeError, match="boom 2"):
        await debouncer.trigger(2)


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
async def test_trigger_during_running_call_gets_its_own_result():
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

    debouncer = Debouncer(callback, DELAY)
    first = debouncer.trigger(1)
    await started.wait()  # call 1 is running, blocked on `release`
    second = debouncer.trigger(2)  # a new burst
    release.set()
    results = await first, await second
    await both_done.wait()
    assert finished == [1, 2]
    assert results == (1, 2)
