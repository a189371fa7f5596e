"""An asyncio debouncer: run a callback once, a short time after the last of a burst."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from .interactive import Clock, LoopClock, Timer


class Debouncer:
    """Call ``callback`` with the latest arguments ``delay`` seconds after the last trigger.

    A slider drag fires dozens of changes a second; only the value the user stops at
    deserves a Dask job. Each :meth:`trigger` restarts the timer, so a burst of triggers
    produces a single call with the arguments of the last one.

    Parameters
    ----------
    callback : callable
        A function or coroutine function.
    delay : float
        Quiet time in seconds after the last trigger.
    clock : Clock, optional
        Where time comes from (the running loop's; a test passes a ManualClock).

    Notes
    -----
    Use from one event loop (the one running when :meth:`trigger` is first called).
    Exceptions from the callback propagate to whoever awaits :meth:`flush` or the task
    returned by :meth:`trigger`, and are otherwise reported by asyncio's handler.
    """

    def __init__(
        self, callback: Callable[..., Any], delay: float = 0.2, clock: Clock | None = None
    ):
        if delay < 0:
            raise ValueError(f"delay must be >= 0, got {delay}")
        self.callback = callback
        self.delay = delay
        self.clock = clock if clock is not None else LoopClock()
        self._pending: tuple[tuple, dict] | None = None
        self._timer: Timer | None = None
        self._task: asyncio.Task | None = None
        self._ready: asyncio.Future | None = None

    @property
    def pending(self) -> bool:
        """True while a call is scheduled but has not started."""
        return self._pending is not None

    def trigger(self, *args, **kwargs) -> asyncio.Future:
        """Schedule a call with these arguments, replacing any scheduled one.

        Returns
        -------
        asyncio.Future
            Resolves to the callback's return value when the debounced call finishes
            (shared by every trigger of the same burst).
        """
        loop = asyncio.get_running_loop()
        self._pending = (args, kwargs)
        if self._timer is not None:
            self._timer.cancel()
        if self._ready is None:
            self._ready = loop.create_future()
        self._timer = self.clock.call_later(self.delay, self._fire)
        return self._ready

    def cancel(self) -> None:
        """Drop the scheduled call, if any."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending = None
        ready, self._ready = self._ready, None
        if ready is not None and not ready.done():
            ready.cancel()

    async def flush(self) -> Any:
        """Run the scheduled call now (if any) and return its result."""
        if self._pending is None:
            return None
        if self._timer is not None:
            self._timer.cancel()
        ready = self._ready
        self._fire()
        return await ready

    def _fire(self) -> None:
        self._timer = None
        if self._pending is None:
            return
        (args, kwargs), self._pending = self._pending, None
        # Detach the future: a trigger during this call starts a new burst, with its own.
        ready, self._ready = self._ready, None
        self._task = asyncio.ensure_future(self._run(args, kwargs, ready))

    async def _run(self, args, kwargs, ready: asyncio.Future) -> None:
        try:
            result = self.callback(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            return
        if not ready.done():
            ready.set_result(result)
