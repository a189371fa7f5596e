"""Finished results: the process's memory cache, the shared store, and writes in threads.

One :class:`Results` per registry holds both places a result can be found without
computing it, and runs every store access off the event loop: a disk or a network
never blocks the loop, and a failed write is logged, never raised (persistence must not
cost a result).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .cache import ResultCache
from .store import MISSING, ResultStore

if TYPE_CHECKING:
    from .codecs import Codec

logger = logging.getLogger(__name__)


class Results:
    """Where finished results are kept, and the writes on their way.

    Parameters
    ----------
    cache : ResultCache
        This process's memory of recent results.
    store : ResultStore, optional
        Where results and the history persist; None: in memory only.
    """

    def __init__(self, cache: ResultCache, store: ResultStore | None = None):
        self.cache = cache
        self.store = store
        self._writes: set[asyncio.Future] = set()
        self._local: ThreadPoolExecutor | None = None

    def cached(self, key: str) -> Any:
        """The result in memory under ``key`` (marked recently used), or :data:`MISSING`."""
        return self.cache.get(key, MISSING)

    def keep(self, key: str, value) -> None:
        """Keep ``value`` in memory under ``key``."""
        self.cache.put(key, value)

    async def stored(self, key: str, codec: Codec) -> Any:
        """The result the store holds under ``key`` (read in a thread), or :data:`MISSING`;
        an unreachable store is a miss (the work is computed)."""
        if self.store is None:
            return MISSING
        try:
            return await asyncio.to_thread(codec.load, self.store, key)
        except Exception:
            logger.warning("reading result %s from %r failed", key, self.store, exc_info=True)
            return MISSING

    def save(self, key: str, value, codec: Codec) -> None:
        """Write ``value`` to the store under ``key``, in a thread."""
        if self.store is not None:
            self.in_background(codec.save, self.store, key, value)

    def touch(self, key: str, codec: Codec) -> None:
        """Mark ``key``'s stored entries as just used (served from this process's memory:
        the store's copy is as hot, and must not be evicted by another process)."""
        if self.store is not None:
            for name in codec.names(key):
                self.in_background(self.store.touch, name)

    def in_background(self, write, *args) -> None:
        """Run a store ``write`` in a thread, so that disk or network never block the loop.

        A failed write is logged, never raised: persistence must not cost a result.
        """

        def run():
            try:
                write(*args)
            except Exception:
                logger.warning("writing to %r failed", self.store, exc_info=True)

        task = asyncio.ensure_future(asyncio.to_thread(run))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def flush(self) -> None:
        """Wait until every write started so far has finished."""
        while self._writes:
            await asyncio.gather(*self._writes)

    async def run_locally(self, fn, *args) -> Any:
        """``fn(*args)`` in this process, on one thread of its own: for work too small to
        be worth a round trip to the cluster. The event loop never computes."""
        if self._local is None:
            # One thread: local work is small and must not crowd out the loop.
            self._local = ThreadPoolExecutor(1, thread_name_prefix="engine-local")
        return await asyncio.get_running_loop().run_in_executor(self._local, fn, *args)
