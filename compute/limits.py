"""Caps per consumer: what one user, session or API client may ask of a shared cluster.

Fair queuing (see :class:`~compute.jobs.JobRegistry`) decides whose tiles go first; it
cannot stop one consumer from asking for more than the cluster can do. A
:class:`Ledger` does: before a job that would start new work on the cluster, its
consumer's jobs in flight, background jobs in flight and pixel-iterations of the last
minute are checked against :class:`Limits`, and a request over any of them is refused
with :class:`LimitExceeded`, whose message says which cap bit, what to do and when to
try again (:attr:`LimitExceeded.retry_after`).

Only work a consumer *starts* is charged: joining a job already in flight for someone
else, or a result served from the cache or the store, costs the cluster nothing and is
never refused. De-duplication goes on sharing computation across consumers.

A consumer is a string naming who pays, chosen by the front end: ``user:<name>`` for
an authenticated user (every session and API call of theirs shares one allowance),
``session:<id>`` for an anonymous browser tab, ``address:<ip>`` for an anonymous API
client (:func:`consumer` spells them). Limits come from the environment
(:meth:`Limits.from_env`).
"""

from __future__ import annotations

import collections
import math
import os
import time
import weakref
from dataclasses import dataclass

from .config import PIXEL_BUDGET

#: Environment variables of :meth:`Limits.from_env` (``0`` or ``off``: no such cap).
JOBS_ENV = "FRACTAL_MAX_JOBS"
BACKGROUND_ENV = "FRACTAL_MAX_BACKGROUND_JOBS"
PIXEL_ITERATIONS_ENV = "FRACTAL_MAX_PIXEL_ITERATIONS_PER_MINUTE"
#: The window over which pixel-iterations are counted, in seconds.
WINDOW = 60.0


def consumer(
    *, user: str | None = None, session: str | None = None, address: str | None = None
) -> str | None:
    """Who pays for the work a request starts: the first of ``user``, ``session``, ``address``.

    Parameters
    ----------
    user
        The authenticated user's name: every session and API call of theirs shares one
        allowance.
    session
        An anonymous browser session's id: each tab has its own.
    address
        An anonymous API client's address.

    Returns
    -------
    str or None
        ``user:<name>``, ``session:<id>`` or ``address:<ip>``; None when none is given
        (a notebook, its cluster's only user: uncapped).
    """
    for kind, name in (("user", user), ("session", session), ("address", address)):
        if name is not None:
            return f"{kind}:{name}"
    return None


class LimitExceeded(ValueError):
    """A request over one of its consumer's caps.

    Attributes
    ----------
    cap : str
        Which cap: ``"jobs"``, ``"background"`` or ``"pixel_iterations"``.
    retry_after : float or None
        Seconds after which the same request would be admitted if nothing else is asked
        meanwhile; None where waiting alone does not help (a job ends, or is cancelled).
    """

    def __init__(self, message: str, *, cap: str, retry_after: float | None = None):
        super().__init__(message)
        self.cap = cap
        self.retry_after = retry_after


def _cap(environ, name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() in ("0", "off", "none", "inf"):
        return math.inf
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number (or 'off').") from None
    if not value > 0:
        raise ValueError(f"{name}={raw!r} must be positive (or 'off').")
    return value


@dataclass(frozen=True)
class Limits:
    """Caps per consumer (``math.inf``: none).

    Attributes
    ----------
    jobs : float
        Jobs in flight that the consumer started (frames, previews on the cluster,
        calls, graphs, movies).
    background : float
        Detached jobs in flight that the consumer started (movies, API jobs).
    pixel_iterations : float
        Pixel-iterations of the work the consumer started in the last :data:`WINDOW`
        seconds: a frame is charged its estimate (from its preview), or its worst case
        (every pixel to ``max_iter``) when it has none; a movie its worst case.
    """

    jobs: float = 8
    background: float = 2
    #: Sixteen worst-case frames a minute: one user exploring never meets it; a script
    #: asking for heavy frames in a loop does, within a minute.
    pixel_iterations: float = 16 * PIXEL_BUDGET

    @classmethod
    def from_env(cls, environ=None) -> Limits:
        """Limits from :data:`JOBS_ENV`, :data:`BACKGROUND_ENV` and
        :data:`PIXEL_ITERATIONS_ENV` (unset: the defaults; ``off``: no cap).

        Raises
        ------
        ValueError
            If a value is not a positive number or ``off``.
        """
        environ = os.environ if environ is None else environ
        return cls(
            jobs=_cap(environ, JOBS_ENV, cls.jobs),
            background=_cap(environ, BACKGROUND_ENV, cls.background),
            pixel_iterations=_cap(environ, PIXEL_ITERATIONS_ENV, cls.pixel_iterations),
        )


def _billions(value: float) -> str:
    return f"{value / 1e9:.1f} billion"


class _Account:
    __slots__ = ("background", "jobs", "spent")

    def __init__(self):
        self.jobs: weakref.WeakSet = weakref.WeakSet()
        self.background: weakref.WeakSet = weakref.WeakSet()
        #: [time, pixel-iterations, job] of the work started in the window, oldest first.
        self.spent: collections.deque = collections.deque()


class Ledger:
    """What each consumer has in flight and has spent in the last minute.

    Parameters
    ----------
    limits : Limits, optional
        Defaults to :meth:`Limits.from_env`.
    clock : callable
        Monotonic seconds (a test may pass its own).
    """

    def __init__(self, limits: Limits | None = None, clock=time.monotonic):
        self.limits = limits if limits is not None else Limits.from_env()
        self._clock = clock
        self._accounts: dict[str, _Account] = {}

    def _account(self, consumer: str) -> _Account:
        account = self._accounts.get(consumer)
        if account is None:
            account = self._accounts[consumer] = _Account()
        return account

    def _expire(self, account: _Account, now: float) -> None:
        while account.spent and account.spent[0][0] <= now - WINDOW:
            account.spent.popleft()

    def usage(self, consumer: str) -> dict:
        """The consumer's jobs and background jobs in flight and pixel-iterations spent."""
        account = self._accounts.get(consumer)
        if account is None:
            return {"jobs": 0, "background": 0, "pixel_iterations": 0.0}
        self._expire(account, self._clock())
        return {
            "jobs": sum(1 for job in account.jobs if not job.done),
            "background": sum(1 for job in account.background if not job.done),
            "pixel_iterations": float(sum(entry[1] for entry in account.spent)),
        }

    def admit(self, consumer: str, *, cost: float, background: bool, replacing=None) -> None:
        """Check that ``consumer`` may start work of ``cost`` pixel-iterations now.

        ``replacing``: a job of the consumer's that this request supersedes (it is let go
        at once), not counted as in flight.

        Raises
        ------
        LimitExceeded
            If the work would go over one of the consumer's caps.
        """
        limits, now = self.limits, self._clock()
        account = self._account(consumer)
        self._expire(account, now)
        live = [j for j in account.jobs if not j.done and j is not replacing]
        if len(live) >= limits.jobs:
            raise LimitExceeded(
                f"You have {len(live)} jobs in flight, the most one user may have "
                f"({limits.jobs:g}). Wait for one to finish, or cancel one.",
                cap="jobs",
            )
        if background:
            running = [j for j in account.background if not j.done]
            if len(running) >= limits.background:
                raise LimitExceeded(
                    f"You have {len(running)} background jobs running, the most one user "
                    f"may have ({limits.background:g}). Wait for one to finish, or cancel one.",
                    cap="background",
                )
        if cost > limits.pixel_iterations:
            raise LimitExceeded(
                f"This costs up to {_billions(cost)} pixel-iterations, more than one user "
                f"may ask for in a minute ({_billions(limits.pixel_iterations)}). "
                "Lower max_iter or the resolution.",
                cap="pixel_iterations",
            )
        spent = sum(entry[1] for entry in account.spent)
        if spent + cost > limits.pixel_iterations:
            # The earliest moment enough of the window's charges have expired.
            freed, wait = spent + cost - limits.pixel_iterations, 0.0
            for stamp, charged, _ in account.spent:
                freed -= charged
                wait = stamp + WINDOW - now
                if freed <= 0:
                    break
            wait = max(wait, 0.1)
            raise LimitExceeded(
                f"You asked for {_billions(spent)} pixel-iterations in the last minute; "
                f"this would go over the {_billions(limits.pixel_iterations)} one user may "
                f"ask for. It can start in {math.ceil(wait)} s, or sooner at a lower "
                "max_iter or resolution.",
                cap="pixel_iterations",
                retry_after=wait,
            )

    def refund(self, job) -> None:
        """Give back what ``job`` was charged: it found its result without computing (in a
        store another process filled), so it cost the cluster nothing."""
        for account in self._accounts.values():
            for entry in account.spent:
                if entry[2]() is job:
                    entry[1] = 0.0

    def charge(self, consumer: str, job, *, cost: float, background: bool) -> None:
        """Count ``job`` (just started by ``consumer``) against its caps."""
        account = self._account(consumer)
        account.jobs.add(job)
        if background:
            account.background.add(job)
        if cost > 0:
            account.spent.append([self._clock(), float(cost), weakref.ref(job)])
        # Consumers come and go (every tab is one): forget those with nothing to count.
        if len(self._accounts) > 1024:
            now = self._clock()
            for name in [n for n, a in self._accounts.items() if n != consumer]:
                stale = self._accounts[name]
                self._expire(stale, now)
                if not stale.spent and not any(not j.done for j in stale.jobs):
                    del self._accounts[name]
