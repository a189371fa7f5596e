"""The timing of an interactive consumer, apart from what it computes.

What a person at a screen expects of any app that offloads work, written once:

* **leading edge**: a discrete change (a click, Enter, a slider's release) after a quiet
  moment starts its work at once;
* **quiet period**: changes that follow within ``quiet`` seconds are a burst, and a burst
  (or a drag) starts its work once it ends, so that it costs about one piece of work;
* **latest wins**: of the answers on their way, one older than what is shown is never
  drawn, and of the requests waiting, only the newest is ever started;
* **staleness**: what is on screen is named for what it is (current, a provisional
  preview, an older result, what a failed request left) and why;
* **throttled drawing**: progress drawn at most so often, an end drawn at once
  (:class:`Throttle`).

Time comes from a :class:`Clock`, so that the policy is tested with a
:class:`ManualClock` moved by hand instead of with sleeps.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Seconds, and callbacks after a delay."""

    def now(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer: ...


class LoopClock:
    """The running event loop's clock (the default)."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(delay, callback)


class _ManualTimer:
    def __init__(self, clock: ManualClock):
        self._clock = clock
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that moves only when told (:meth:`advance`): for tests of timing policy."""

    def __init__(self, start: float = 0.0):
        self._now = float(start)
        self._due: list = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = _ManualTimer(self)
        heapq.heappush(
            self._due, (self._now + max(delay, 0.0), next(self._order), timer, callback)
        )
        return timer

    @property
    def pending(self) -> int:
        """Callbacks scheduled and not cancelled."""
        return sum(1 for *_, timer, _ in self._due if not timer.cancelled)

    def advance(self, seconds: float) -> None:
        """Move time on by ``seconds``, running each callback that falls due, in order."""
        end = self._now + seconds
        while self._due and self._due[0][0] <= end:
            when, _, timer, callback = heapq.heappop(self._due)
            self._now = max(self._now, when)
            if not timer.cancelled:
                callback()
        self._now = end


class Pacer:
    """When the full work of a change starts: at once on a leading edge, else when quiet.

    Parameters
    ----------
    start : callable
        Starts the full work of the latest change (called by the quiet timer).
    quiet : float
        Seconds of quiet that end a burst of changes, or a drag.
    clock : Clock, optional
        Defaults to the running loop's.
    """

    def __init__(self, start: Callable[[], None], quiet: float, clock: Clock | None = None):
        self._start = start
        self.quiet = quiet
        self.clock = clock if clock is not None else LoopClock()
        self._last = -float("inf")
        self._timer: Timer | None = None

    def leading(self) -> bool:
        """A discrete change happened now: whether it is a leading edge (quiet before it)."""
        now = self.clock.now()
        quiet, self._last = now - self._last >= self.quiet, now
        return quiet

    def wait_quiet(self) -> None:
        """Start the full work once ``quiet`` seconds pass without another call."""
        self.after(self.quiet, self._fire)

    def after(self, delay: float, callback: Callable[[], None]) -> None:
        """Call ``callback`` in ``delay`` seconds, instead of anything scheduled."""
        self.cancel()
        self._timer = self.clock.call_later(delay, lambda: self._due(callback))

    def _due(self, callback: Callable[[], None]) -> None:
        self._timer = None
        callback()

    def _fire(self) -> None:
        self._start()

    @property
    def pending(self) -> bool:
        """Whether something is scheduled."""
        return self._timer is not None

    def cancel(self) -> None:
        """Drop what is scheduled."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Throttle:
    """Calls ``draw`` once for any number of requests, at the earliest time one asked for.

    Each drawing costs a page a repaint: progress that changes dozens of times a second
    is drawn at most every so often (``request(interval)``), a change that must show at
    once is drawn now (``now()``), and everything asked meanwhile is drawn by that one
    call. Without a running event loop (a plain script) every request draws at once.

    Parameters
    ----------
    draw : callable
        Draws the current state (reads it when called: nothing is queued).
    clock : Clock, optional
        Defaults to the running loop's.
    """

    def __init__(self, draw: Callable[[], None], clock: Clock | None = None):
        self._draw = draw
        self.clock = clock if clock is not None else LoopClock()
        self._timer: Timer | None = None
        self._due = 0.0

    @property
    def pending(self) -> bool:
        """Whether a drawing is scheduled."""
        return self._timer is not None

    def request(self, delay: float) -> None:
        """Draw within ``delay`` seconds (sooner if a drawing is due sooner already)."""
        try:
            due = self.clock.now() + delay
        except RuntimeError:  # no running loop: nothing to wait on
            self.now()
            return
        if self._timer is not None:
            if self._due <= due:
                return
            self._timer.cancel()
        self._due = due
        self._timer = self.clock.call_later(delay, self.now)

    def now(self) -> None:
        """Draw now, instead of what was scheduled."""
        self.cancel()
        self._draw()

    def cancel(self) -> None:
        """Drop the scheduled drawing."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Latest:
    """Numbers for changes, so that nothing older than what is shown is ever drawn."""

    def __init__(self):
        #: The number of the latest change.
        self.asked = 0
        #: The number of the change whose answer is on screen.
        self.shown = -1

    def ask(self) -> int:
        """A new change: its number."""
        self.asked += 1
        return self.asked

    def newer(self, seq: int) -> bool:
        """Whether an answer to change ``seq`` may replace what is shown."""
        return seq > self.shown

    def stale(self, seq: int) -> bool:
        """Whether an answer to change ``seq`` is older than what is shown."""
        return seq < self.shown

    def show(self, seq: int | None = None) -> None:
        """The answer to change ``seq`` (default: the latest) is on screen now."""
        self.shown = self.asked if seq is None else seq


class SingleFlight(Generic[T]):
    """Run ``work(item)`` for one item at a time: an item offered while one runs waits, and
    a newer offer replaces the one waiting, which is never run (``dropped(item)``).

    ``work`` returns False to stop (the items left waiting run at the next offer).
    """

    def __init__(
        self,
        work: Callable[[T], Awaitable[bool | None]],
        dropped: Callable[[T], None] = lambda item: None,
    ):
        self._work, self._dropped = work, dropped
        self._waiting: T | None = None
        self._task: asyncio.Task | None = None

    @property
    def waiting(self) -> T | None:
        """The item that runs next, if any."""
        return self._waiting

    @property
    def busy(self) -> bool:
        """Whether an item is being worked on."""
        return self._task is not None and not self._task.done()

    def offer(self, item: T) -> None:
        """Run ``item`` next (now, if nothing runs)."""
        if self._waiting is not None:
            self._dropped(self._waiting)
        self._waiting = item
        if not self.busy:
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while self._waiting is not None:
            item, self._waiting = self._waiting, None
            if await self._work(item) is False:
                return

    async def idle(self) -> None:
        """Wait until nothing runs."""
        while self.busy:
            await asyncio.wait({self._task})

    def stop(self) -> None:
        """Stop the item running; the one waiting is dropped."""
        if self._waiting is not None:
            self._dropped(self._waiting)
            self._waiting = None
        if self.busy and self._task is not asyncio.current_task():
            self._task.cancel()


@dataclass(frozen=True)
class Display:
    """What is on screen, named: stale (and why) or provisional."""

    stale: bool
    reason: str
    provisional: bool


def judge(state: str, wanted: str | None, shown: str | None, complete: bool, failure: str = ""):
    """Name what is on screen for a consumer in ``state``.

    Parameters
    ----------
    state : str
        Where the latest request stands: ``cancelled``, ``refused``, ``offline``,
        ``failed``, or any other (in progress or done).
    wanted, shown : str or None
        The keys of what was asked for last and of what is on screen.
    complete : bool
        Whether what is on screen is whole (not a preview).
    failure : str
        Why the request failed, for ``failed``.

    Returns
    -------
    Display
    """
    other = shown is not None and (wanted is None or shown != wanted)
    preview = shown is not None and not complete
    if state == "cancelled":
        stale, reason = not complete, "Cancelled: the image is incomplete."
    elif state == "refused":
        stale, reason = shown is not None, "Showing an older view: the requested one was refused."
    elif state == "offline":
        stale, reason = other, "Showing an older view: the Dask cluster is unreachable."
    elif state == "failed":
        stale, reason = other, f"Showing an older view: this one failed ({failure})."
    else:
        # A preview that lags a moving hand by a value is provisional, not stale: it says
        # so as long as the hand moves (and the page's line need not change with every
        # step). An older *finished* result is stale until replaced.
        stale, reason = other and not preview, "Rendering the new view…"
    # With nothing on screen yet the reason still says what is going on.
    return Display(stale, reason if stale or shown is None else "", preview and not stale)
