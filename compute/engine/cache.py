"""Finished results by key, in one process's memory: an LRU bounded in bytes."""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from typing import ClassVar

import numpy as np
from dask.sizeof import sizeof
from dask.utils import parse_bytes

logger = logging.getLogger(__name__)

#: The default budget: 512 MiB.
DEFAULT_BYTES = 512 * 2**20


class ResultCache:
    """Least-recently-used results, bounded by their size in bytes.

    Results are shared between consumers, so arrays are stored read-only: a caller that
    wants to modify one copies it.

    Parameters
    ----------
    max_bytes : int
        Results are evicted, least recently used first, until the total fits. A result
        larger than the whole budget is not kept.
    """

    #: Prefix of the environment variable read by :meth:`from_env` (``<prefix>CACHE_MAX_BYTES``).
    ENV_PREFIX: ClassVar[str] = "ENGINE_"

    def __init__(self, max_bytes: int = DEFAULT_BYTES):
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self._entries: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self._nbytes = 0

    @classmethod
    def from_env(cls, prefix: str | None = None) -> ResultCache:
        """A cache bounded by ``<prefix>CACHE_MAX_BYTES`` (``"256MiB"``, ``0``: keep nothing),
        512 MiB if unset. A value that is no size is logged, and the default used: a
        server's memory budget is no reason for it not to start."""
        name = f"{cls.ENV_PREFIX if prefix is None else prefix}CACHE_MAX_BYTES"
        limit = os.environ.get(name, "").strip()
        if limit:
            try:
                return cls(parse_bytes(limit))
            except ValueError as exc:
                logger.error("%s=%r is no size (%s): 512 MiB it is", name, limit, exc)
        return cls()

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._nbytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def get(self, key: str, default=None):
        """The value stored under ``key`` (marking it recently used), or ``default``."""
        entry = self._entries.get(key)
        if entry is None:
            return default
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: str, value) -> None:
        """Store ``value`` under ``key`` (an array made read-only) and evict to fit.

        A value's size is its ``nbytes`` for arrays, else Dask's ``sizeof`` estimate.
        """
        self.discard(key)
        size = value.nbytes if isinstance(value, np.ndarray) else int(sizeof(value))
        if size > self.max_bytes:
            return
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
        self._entries[key] = (value, size)
        self._nbytes += size
        while self._nbytes > self.max_bytes:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._nbytes -= evicted

    def discard(self, key: str) -> None:
        """Forget ``key`` if present."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._nbytes -= entry[1]
