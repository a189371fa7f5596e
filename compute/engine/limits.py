"""Caps per payer: what one user, session or API client may ask of a shared cluster.

Fair queuing (see :mod:`compute.engine.fairness`) decides whose tasks go first; it
cannot stop one payer from asking for more than the cluster can do. A :class:`Ledger`
does: before a job that would start new work on the cluster, its payer's jobs in
flight, background jobs in flight and the cost of the last minute's work are checked
against :class:`Limits`, and a request over any of them is refused with
:class:`LimitExceeded`, whose message says which cap bit, what to do and when to try
again (:attr:`LimitExceeded.retry_after`).

Costs are in a unit the engine does not interpret (:class:`CostUnit`): a domain names
it, says how to lower it and sets its default cap (the fractal's is pixel-iterations).

Only work a payer *starts* is charged: joining a job already in flight for someone
else, or a result served from the cache or the store, costs the cluster nothing and is
never refused. De-duplication goes on sharing computation across payers.

A payer is a string naming who pays, chosen by the front end: ``user:<name>`` for an
authenticated user (every session and API call of theirs shares one allowance),
``address:<ip>`` for an anonymous one: every tab and API client from one address shares
one allowance, so that opening a new tab or client does not reset it (:func:`consumer`
spells them). All anonymous payers together draw on one more account, the anonymous
pool (:data:`ANONYMOUS`), whose caps are :attr:`Limits.anonymous_users` times a
payer's: new addresses do not add allowance without bound either. Limits come from the
environment (:meth:`Limits.from_env`).
"""

from __future__ import annotations

import collections
import dataclasses
import math
import os
import time
import weakref
from dataclasses import dataclass

#: The window over which costs are counted, in seconds.
WINDOW = 60.0


@dataclass(frozen=True)
class CostUnit:
    """What the cost of work is counted in, and how messages speak of it.

    Attributes
    ----------
    name : str
        The cap's name (``LimitExceeded.cap``, an API's ``"cap"``) and, upper-cased, the
        end of its environment variable: ``<prefix>MAX_<NAME>_PER_MINUTE``.
    words : str
        The unit in a sentence, plural (``"pixel-iterations"``).
    per_minute : float
        The default cap on a payer's cost per :data:`WINDOW` (``math.inf``: none).
    hint : str
        What lowers the cost, as a sentence (``"Lower max_iter or the resolution."``).
    sooner : str
        The same, as the end of "or sooner at ..." (``"a lower max_iter or
        resolution"``); empty: not said.
    scale, scale_word : float, str
        Amounts are written in these (``1e9``, ``"billion"``: ``"4.3 billion"``).
    """

    name: str = "cost"
    words: str = "cost units"
    per_minute: float = math.inf
    hint: str = ""
    sooner: str = ""
    scale: float = 1.0
    scale_word: str = ""

    def amount(self, value: float) -> str:
        """``value`` as messages write it."""
        if not self.scale_word:
            return f"{value:.3g}"
        return f"{value / self.scale:.1f} {self.scale_word}"


#: The account every anonymous payer (``address:<ip>``) also draws on.
ANONYMOUS = "anonymous"


def consumer(*, user: str | None = None, address: str | None = None) -> str | None:
    """Who pays for the work a request starts: ``user`` if given, else ``address``.

    Parameters
    ----------
    user
        The authenticated user's name: every session and API call of theirs shares one
        allowance.
    address
        An anonymous client's address (a browser tab's or an API client's): every tab
        and client from one address shares one allowance. Users behind one NAT or
        proxy share it too (see ``docs/security.md``).

    Returns
    -------
    str or None
        ``user:<name>`` or ``address:<ip>``; None when neither is given (a notebook, its
        cluster's only user: uncapped).
    """
    if user is not None:
        return f"user:{user}"
    if address is not None:
        return f"address:{address}"
    return None


def anonymous(payer: str) -> bool:
    """Whether ``payer`` (see :func:`consumer`) is anonymous: it also draws on the pool."""
    return payer.startswith("address:")


class LimitExceeded(ValueError):
    """A request over one of its payer's caps.

    Attributes
    ----------
    cap : str
        Which cap: ``"jobs"``, ``"background"`` or the cost unit's name.
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


#: A unit with no name of its own and no default cap.
COST = CostUnit()


@dataclass(frozen=True)
class Limits:
    """Caps per payer (``math.inf``: none).

    Attributes
    ----------
    jobs : float
        Jobs in flight that the payer started (every kind).
    background : float
        Detached jobs of background kinds in flight that the payer started (see
        ``Work.background``).
    cost : float
        The cost of the work the payer started in the last :data:`WINDOW` seconds, in
        :attr:`unit`; None: the unit's default.
    unit : CostUnit
        What costs are counted in.
    anonymous_users : float
        The anonymous pool's caps, in payers' worth: every anonymous payer together
        may have this many times one payer's jobs, background jobs and cost.
    """

    jobs: float = 8
    background: float = 2
    cost: float | None = None
    unit: CostUnit = COST
    anonymous_users: float = 4

    def __post_init__(self):
        if self.cost is None:
            object.__setattr__(self, "cost", self.unit.per_minute)

    @classmethod
    def from_env(cls, environ=None, *, prefix: str = "ENGINE_", unit: CostUnit = COST) -> Limits:
        """Limits from ``<prefix>MAX_JOBS``, ``<prefix>MAX_BACKGROUND_JOBS``,
        ``<prefix>MAX_<UNIT>_PER_MINUTE`` and ``<prefix>ANONYMOUS_USERS`` (unset: the
        defaults; ``off``: no cap).

        Raises
        ------
        ValueError
            If a value is not a positive number or ``off``.
        """
        environ = os.environ if environ is None else environ
        names = env_names(prefix, unit)
        return cls(
            jobs=_cap(environ, names["jobs"], cls.jobs),
            background=_cap(environ, names["background"], cls.background),
            cost=_cap(environ, names["cost"], unit.per_minute),
            unit=unit,
            anonymous_users=_cap(environ, names["anonymous_users"], cls.anonymous_users),
        )

    def replace(self, **changes) -> Limits:
        """A copy with some caps changed."""
        return dataclasses.replace(self, **changes)

    def pooled(self) -> Limits:
        """The anonymous pool's caps: :attr:`anonymous_users` times each of these."""
        share = self.anonymous_users
        return self.replace(
            jobs=self.jobs * share, background=self.background * share, cost=self.cost * share
        )


def env_names(prefix: str, unit: CostUnit) -> dict[str, str]:
    """The environment variables of :meth:`Limits.from_env`, by cap."""
    return {
        "jobs": f"{prefix}MAX_JOBS",
        "background": f"{prefix}MAX_BACKGROUND_JOBS",
        "cost": f"{prefix}MAX_{unit.name.upper()}_PER_MINUTE",
        "anonymous_users": f"{prefix}ANONYMOUS_USERS",
    }


class _Account:
    __slots__ = ("background", "jobs", "spent")

    def __init__(self):
        self.jobs: weakref.WeakSet = weakref.WeakSet()
        self.background: weakref.WeakSet = weakref.WeakSet()
        #: [time, cost, job] of the work started in the window, oldest first.
        self.spent: collections.deque = collections.deque()


class Ledger:
    """What each payer, and the anonymous pool, has in flight and has spent in the last
    minute.

    Parameters
    ----------
    limits : Limits, optional
        Defaults to :meth:`Limits.from_env`.
    clock : callable
        Monotonic seconds (a test may pass its own).
    """

    def __init__(self, limits: Limits | None = None, clock=time.monotonic):
        self.limits = limits if limits is not None else Limits.from_env()
        self._pool = self.limits.pooled()
        self._clock = clock
        self._accounts: dict[str, _Account] = {}

    def _account(self, payer: str) -> _Account:
        account = self._accounts.get(payer)
        if account is None:
            account = self._accounts[payer] = _Account()
        return account

    def _expire(self, account: _Account, now: float) -> None:
        while account.spent and account.spent[0][0] <= now - WINDOW:
            account.spent.popleft()

    def _accounts_of(self, payer: str) -> list[tuple[str, Limits]]:
        # An anonymous payer's work counts against its own caps and the pool's.
        accounts = [(payer, self.limits)]
        if anonymous(payer):
            accounts.append((ANONYMOUS, self._pool))
        return accounts

    def _current(self, payer: str, now: float) -> list[tuple[_Account, Limits, _Words]]:
        # The accounts a request of payer's is checked against, their window expired.
        current = []
        for name, limits in self._accounts_of(payer):
            account = self._account(name)
            self._expire(account, now)
            current.append((account, limits, _POOL_WORDS if name == ANONYMOUS else _PAYER_WORDS))
        return current

    def usage(self, payer: str) -> dict:
        """The payer's jobs and background jobs in flight and the cost of its last minute
        (under the cost unit's name); :data:`ANONYMOUS`: the anonymous pool's."""
        account = self._accounts.get(payer)
        if account is None:
            return {"jobs": 0, "background": 0, self.limits.unit.name: 0.0}
        self._expire(account, self._clock())
        return {
            "jobs": sum(1 for job in account.jobs if not job.done),
            "background": sum(1 for job in account.background if not job.done),
            self.limits.unit.name: float(sum(entry[1] for entry in account.spent)),
        }

    def admit(self, payer: str, *, cost: float, background: bool, replacing=None) -> None:
        """Check that ``payer`` may start work of ``cost`` (in the cost unit) now.

        ``replacing``: a job of the payer's that this request supersedes (it is let go
        at once), not counted as in flight.

        Raises
        ------
        LimitExceeded
            If the work would go over one of the payer's caps, or the anonymous pool's.
        """
        now = self._clock()
        for account, limits, words in self._current(payer, now):
            _check_jobs(account, limits, background, replacing, words)
            _check_cost(account, limits, cost, now, words)

    def take(self, payer: str, cost: float) -> None:
        """Charge ``payer`` for ``cost`` of work done outside any job (a result encoded for
        it in the server), if its caps allow it.

        Raises
        ------
        LimitExceeded
            If the cost would go over the payer's cost cap, or the anonymous pool's.
        """
        now = self._clock()
        accounts = self._current(payer, now)
        for account, limits, words in accounts:
            _check_cost(account, limits, cost, now, words)
        for account, _, _ in accounts:
            account.spent.append([now, float(cost), _no_job])

    def refund(self, job) -> None:
        """Give back what ``job`` was charged: it found its result without computing (in a
        store another process filled), so it cost the cluster nothing."""
        for account in self._accounts.values():
            for entry in account.spent:
                if entry[2]() is job:
                    entry[1] = 0.0

    def charge(self, payer: str, job, *, cost: float, background: bool) -> None:
        """Count ``job`` (just started by ``payer``) against its caps (and the pool's)."""
        now = self._clock()
        for name, _ in self._accounts_of(payer):
            account = self._account(name)
            account.jobs.add(job)
            if background:
                account.background.add(job)
            if cost > 0:
                account.spent.append([now, float(cost), weakref.ref(job)])
        # Consumers come and go (every address is one): forget those with nothing to count.
        if len(self._accounts) > 1024:
            for name in [n for n in self._accounts if n not in (payer, ANONYMOUS)]:
                stale = self._accounts[name]
                self._expire(stale, now)
                if not stale.spent and not any(not j.done for j in stale.jobs):
                    del self._accounts[name]


def _no_job():
    # The job of a charge made outside any job (see Ledger.take): there is none to refund.
    return None


@dataclass(frozen=True)
class _Words:
    """How a refusal speaks of whose cap it is."""

    have: str
    most: str
    asked: str
    may: str
    remedy: str


_PAYER_WORDS = _Words(
    have="You have",
    most="the most one user may have",
    asked="You asked for",
    may="one user may",
    remedy="",
)
_POOL_WORDS = _Words(
    have="Anonymous users have",
    most="the most this server allows them together",
    asked="Anonymous users together asked for",
    may="anonymous users together may",
    remedy=" Logging in gives you an allowance of your own.",
)


def _check_jobs(account: _Account, limits: Limits, background: bool, replacing, words) -> None:
    live = [j for j in account.jobs if not j.done and j is not replacing]
    if len(live) >= limits.jobs:
        raise LimitExceeded(
            f"{words.have} {len(live)} jobs in flight, {words.most} ({limits.jobs:g}). "
            f"Wait for one to finish, or cancel one.{words.remedy}",
            cap="jobs",
        )
    if background:
        running = [j for j in account.background if not j.done]
        if len(running) >= limits.background:
            raise LimitExceeded(
                f"{words.have} {len(running)} background jobs running, {words.most} "
                f"({limits.background:g}). Wait for one to finish, or cancel one.{words.remedy}",
                cap="background",
            )


def _check_cost(account: _Account, limits: Limits, cost: float, now: float, words) -> None:
    unit, cap = limits.unit, limits.cost
    if cost > cap:
        raise LimitExceeded(
            f"This costs up to {unit.amount(cost)} {unit.words}, more than {words.may} "
            f"ask for in a minute ({unit.amount(cap)}). {unit.hint}".rstrip(),
            cap=unit.name,
        )
    spent = sum(entry[1] for entry in account.spent)
    if spent + cost > cap:
        # The earliest moment enough of the window's charges have expired.
        freed, wait = spent + cost - cap, 0.0
        for stamp, charged, _ in account.spent:
            freed -= charged
            wait = stamp + WINDOW - now
            if freed <= 0:
                break
        wait = max(wait, 0.1)
        sooner = f", or sooner at {unit.sooner}" if unit.sooner else ""
        raise LimitExceeded(
            f"{words.asked} {unit.amount(spent)} {unit.words} in the last minute; "
            f"this would go over the {unit.amount(cap)} {words.may} ask for. "
            f"It can start in {math.ceil(wait)} s{sooner}.{words.remedy}",
            cap=unit.name,
            retry_after=wait,
        )
