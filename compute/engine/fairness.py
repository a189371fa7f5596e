"""Start-time fair queuing of tasks between the owners that want them.

Dask runs the highest priority first, and newest-first by default; a consumer who keeps
asking (a hand dragging a slider) would take the cluster from everyone else. Instead
every task gets a start tag and Dask runs the lowest tag first (``priority=-tag``):

* a job's tasks get consecutive tags beginning at the queue's virtual time (the tag of
  the latest task a worker started), or at its owner's finish tag (the end of the
  owner's latest started task) where that is later, each tag one task's estimated cost
  (in seconds) after the previous one;
* so two owners that both have work queued take turns, task by task, weighted by cost,
  whoever asked last, and one that replaces its job with a new one faster than tasks
  finish cannot restart its turn each time;
* work asked for with ``lead`` (a preview) goes before any other task.

Tags are in seconds, anchored to the wall clock whenever nothing waits, so that the
queues of several server processes on one scheduler order their work comparably
(approximately: each process hears only of its own tasks' starts).

The queue only does arithmetic on costs and task keys: a driver plans its tasks
(:meth:`FairQueue.plan`), books them under their Dask keys (:meth:`FairQueue.book`),
and the registry reports each start a worker announces (:meth:`FairQueue.started`).
"""

from __future__ import annotations

import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence


class Booking:
    """The tags of one job's tasks, and who pays (in turns) when they start."""

    def __init__(self, spans: dict[Hashable, tuple[float, float]]):
        #: Task key -> (start tag, finish tag).
        self.spans = spans
        #: Owners whose turn a start of these tasks uses: the job's, whoever joins it.
        self.payers: weakref.WeakSet = weakref.WeakSet()
        #: Whether its job may still have tasks waiting.
        self.open = True

    def close(self) -> None:
        """Its job ended: its tasks no longer wait (their starts still count)."""
        self.open = False


class FairQueue:
    """Start and finish tags for tasks, fair between owners (see the module's text).

    Parameters
    ----------
    clock : callable
        Wall-clock seconds (``time.time``; a test may pass its own).
    """

    #: How far ahead of every task a ``lead`` task's tag is placed, in seconds.
    PREVIEW_LEAD = 3600.0
    #: Seconds a new job's tags lie after the tags it would tie with.
    TIE = 1e-6
    #: Recent jobs whose tasks' starts are still charged to their owners.
    KEPT = 256

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock
        self._virtual = 0.0
        #: Each owner's finish tag: where its next job's tasks start, at the earliest.
        self._finish: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._bookings: OrderedDict[int, Booking] = OrderedDict()
        self._tasks: dict[Hashable, Booking] = {}

    @property
    def virtual_time(self) -> float:
        """The tag of the latest task a worker started (or the wall clock, when idle)."""
        return self._virtual

    def plan(
        self, seconds: Sequence[float], owner=None, *, lead: bool = False
    ) -> list[tuple[float, float]]:
        """Start and finish tags for tasks of these estimated costs, in order.

        ``owner``: who asks; its tasks start no earlier than its finish tag. ``lead``:
        ahead of every task without it.
        """
        # While tasks wait, the clock is the tag of the task started last (so a newcomer
        # takes turns with the waiting ones, however late they run against estimates);
        # with nothing waiting it catches up with the wall clock, and owners' finish tags
        # are forgotten (else estimates that run long would pile up into a debt).
        if not any(booking.open for booking in self._bookings.values()):
            self._virtual = max(self._virtual, self._clock())
            self._finish.clear()
        now = self._virtual
        if owner is not None:
            now = max(now, self._finish.get(owner, now))
        # Equal tags are common (a task's finish is the next one's start); a newer job
        # must lose such ties, which Dask (seen: scheduler and worker) breaks its way.
        now += self.TIE
        if lead:
            now -= self.PREVIEW_LEAD
        spans, tag = [], now
        for cost in seconds:
            spans.append((tag, tag + cost))
            tag += cost
        return spans

    def book(self, spans: dict[Hashable, tuple[float, float]]) -> Booking:
        """Remember the tags of a job's tasks by Dask key, for :meth:`started`."""
        booking = Booking(dict(spans))
        self._bookings[id(booking)] = booking
        for key in booking.spans:
            self._tasks[key] = booking
        while len(self._bookings) > self.KEPT:
            _, old = self._bookings.popitem(last=False)
            for key in old.spans:
                if self._tasks.get(key) is old:
                    del self._tasks[key]
        return booking

    def started(self, key: Hashable) -> None:
        """A worker started task ``key``: the clock moves on, its payers' turns are used.

        A task of a job superseded a moment ago may still start (the worker had it in
        hand): it costs its owners their turn all the same.
        """
        booking = self._tasks.get(key)
        if booking is None:
            return
        start, finish = booking.spans[key]
        self._virtual = max(self._virtual, start)
        for owner in booking.payers:
            self._finish[owner] = max(self._finish.get(owner, finish), finish)
