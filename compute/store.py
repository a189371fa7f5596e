"""Finished frames by key.

An in-memory LRU bounded in bytes. Frames are shared between sessions, so they are
stored read-only: a caller that wants to modify one copies it.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np


class FrameCache:
    """Least-recently-used frames, bounded by their total size in bytes.

    Parameters
    ----------
    max_bytes : int
        Frames are evicted, least recently used first, until the total fits. A frame
        larger than the whole budget is not kept.
    """

    def __init__(self, max_bytes: int = 512 * 2**20):
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = int(max_bytes)
        self._frames: OrderedDict[str, np.ndarray] = OrderedDict()
        self._nbytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._nbytes

    def __len__(self) -> int:
        return len(self._frames)

    def __contains__(self, key: str) -> bool:
        return key in self._frames

    def get(self, key: str) -> np.ndarray | None:
        """The frame stored under ``key`` (marking it recently used), or None."""
        frame = self._frames.get(key)
        if frame is not None:
            self._frames.move_to_end(key)
        return frame

    def put(self, key: str, frame: np.ndarray) -> None:
        """Store ``frame`` (made read-only) under ``key`` and evict to fit the budget."""
        self.discard(key)
        if frame.nbytes > self.max_bytes:
            return
        frame.setflags(write=False)
        self._frames[key] = frame
        self._nbytes += frame.nbytes
        while self._nbytes > self.max_bytes:
            _, evicted = self._frames.popitem(last=False)
            self._nbytes -= evicted.nbytes

    def discard(self, key: str) -> None:
        """Forget ``key`` if present."""
        frame = self._frames.pop(key, None)
        if frame is not None:
            self._nbytes -= frame.nbytes
