"""A session's coarse previews: computed one at a time, the newest waiting first, kept.

A preview is the same view at a coarse resolution (:meth:`FractalConfig.preview`). It is
drawn at once while the full frame computes, its values fit the colours of every tile
of that frame (so that tiles agree with each other, and a frame looks the same computed
or cached), and they estimate the frame's cost, which chooses its tiling.

Previews run where they are cheapest: in this process, in a thread, when their
worst-case cost is below a budget (a 128 px preview costs about a millisecond here, a
Dask round trip about ten); on the cluster otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import numpy as np

from ..engine.interactive import SingleFlight
from ..engine.job import JobCancelled, JobFailed
from ..engine.limits import LimitExceeded
from ..engine.manager import JobManager
from .colour import Normalizer
from .config import FractalConfig

logger = logging.getLogger(__name__)

#: Previews (values) kept for fits and estimates, most recent last.
KEPT = 8


class Previews:
    """The previews of one session.

    Parameters
    ----------
    manager : coroutine function
        The session's manager for previews (not logged in the history), or None while the
        cluster cannot be reached.
    drawn : callable
        ``drawn(seq, config)``: the preview of change ``seq`` (``config``'s) arrived.
    settings : callable
        ``settings()`` is ``(edge, local_budget)``: the preview's longer side in pixels,
        and the worst case in pixel-iterations computed in this process.
    guard : callable
        Wraps each preview's coroutine (where unexpected errors end).
    """

    def __init__(
        self,
        manager: Callable[[], Awaitable[JobManager | None]],
        drawn: Callable[[int, FractalConfig], None],
        settings: Callable[[], tuple[int, int]],
        guard: Callable,
    ):
        self._manager, self._drawn, self._settings = manager, drawn, settings
        # Values by the key of the full frame they preview.
        self._samples: OrderedDict[str, np.ndarray] = OrderedDict()
        # Perturbation kernel steps per preview pixel, by the same key (deep previews
        # computed here or on the cluster, not from a cache).
        self._steps: dict[str, float] = {}
        # Whoever waits for a preview's values (a full frame's fit), by the frame's key.
        self._sampled: dict[str, asyncio.Future] = {}
        self._job = None
        # One preview computed at a time; the newest waiting replaces an older one that
        # has not started: that one is never computed, and whoever waited for its values
        # learns they are not coming.
        self._flight: SingleFlight[tuple[int, FractalConfig]] = SingleFlight(
            lambda item: guard(self._run, item),
            dropped=lambda item: self._resolve(item[1].key, None),
        )

    # -- reading ---------------------------------------------------------------------------
    def needs(self, config: FractalConfig) -> bool:
        """Whether ``config``'s frame is larger than its preview (else it is its own)."""
        edge, _ = self._settings()
        return config.preview(edge).key != config.key

    def values(self, key: str) -> np.ndarray | None:
        """The preview values of the frame ``key``, if known."""
        return self._samples.get(key)

    def steps(self, key: str) -> float | None:
        """Kernel steps per pixel of the deep frame ``key``'s preview, if measured."""
        return self._steps.get(key)

    def fit(self, key: str, normalization: str) -> Normalizer | None:
        """The colour fit of the frame ``key`` (from its preview), if its preview is known."""
        sample = self._samples.get(key)
        return None if sample is None else Normalizer.fit(sample, normalization)

    @property
    def busy(self) -> bool:
        """Whether a preview is being computed."""
        return self._flight.busy

    # -- asking ----------------------------------------------------------------------------
    def offer(self, seq: int, config: FractalConfig) -> None:
        """Compute the preview of change ``seq`` (``config``), after the one computing."""
        self._flight.offer((seq, config))

    def keep(self, key: str, values: np.ndarray, steps: float | None = None) -> None:
        """Keep ``values`` as the preview of the frame ``key`` (and hand them to waiters);
        ``steps``, the kernel's steps for them all, if measured."""
        self._samples[key] = values
        self._samples.move_to_end(key)
        if steps is not None:
            self._steps[key] = steps / max(values.size, 1)
        while len(self._samples) > KEPT:
            self._steps.pop(self._samples.popitem(last=False)[0], None)
        self._resolve(key, values)

    async def values_of(self, seq: int, config: FractalConfig) -> np.ndarray | None:
        """The preview values of ``config``; None for a frame that is its own preview, or
        when its preview could not be computed (the frame is then fitted on itself)."""
        if not self.needs(config):
            return None
        sample = self._samples.get(config.key)
        if sample is not None:
            return sample
        future = self._sampled.get(config.key)
        if future is None:
            future = self._sampled[config.key] = asyncio.get_running_loop().create_future()
            waiting = self._flight.waiting
            queued = waiting is not None and waiting[1].key == config.key
            if not queued and not self._computing(config):
                self.offer(seq, config)
        return await asyncio.shield(future)

    def close(self) -> None:
        """Stop computing; whoever waits for values is cancelled."""
        self._flight.stop()
        for future in self._sampled.values():
            future.cancel()
        self._sampled.clear()

    # -- computing -------------------------------------------------------------------------
    def _computing(self, config: FractalConfig) -> bool:
        edge, _ = self._settings()
        job = self._job
        return (
            job is not None
            and job.key == config.preview(edge).key
            and not job.done
            and self._flight.busy
        )

    async def _run(self, item: tuple[int, FractalConfig]) -> bool:
        seq, config = item
        manager = await self._manager()
        if manager is None:
            self._resolve(config.key, None)
            return False
        edge, local_budget = self._settings()
        preview = config.preview(edge)
        local = preview.pixel_iterations <= local_budget
        try:
            self._job = job = manager.submit(preview, preview=True, local=local)
        except LimitExceeded as exc:  # the full frame says so, and waits its turn
            logger.info("the preview of %s waits: %s", config.key, exc)
            self._resolve(config.key, None)
            return True
        try:
            sample = await job.result()
        except (JobCancelled, JobFailed) as exc:
            logger.info("the preview of %s ended: %s", config.key, exc)
            self._resolve(config.key, None)
            return True
        self.keep(config.key, sample, job.steps)
        self._drawn(seq, config)
        return True

    def _resolve(self, key: str, sample: np.ndarray | None) -> None:
        future = self._sampled.pop(key, None)
        if future is not None and not future.done():
            future.set_result(sample)
