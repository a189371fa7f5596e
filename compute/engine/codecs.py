"""How a kind's results are kept in a store: a codec per kind of result.

A codec writes a finished result under its job's key and reads it back, so that a
request asked again after a restart, or from another server process, finishes as
``cached`` with no task. Each method runs in a thread (stores are disk or network),
never on the event loop. A kind whose results are not worth keeping has no codec.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .store import MISSING

if TYPE_CHECKING:
    from .store import ResultStore


class Codec:
    """Writes and reads one kind of result (subclass it for a kind's own format)."""

    def save(self, store: ResultStore, key: str, value) -> None:  # pragma: no cover
        """Write ``value`` under ``key`` (in a thread; a failure is logged by the caller)."""
        raise NotImplementedError

    def load(self, store: ResultStore, key: str) -> Any:  # pragma: no cover
        """The value stored under ``key``, or :data:`~compute.engine.store.MISSING`."""
        raise NotImplementedError

    def names(self, key: str) -> list[str]:
        """The store entries of ``key`` (refreshed when a process serves it from memory)."""
        return [key]


class ArrayCodec(Codec):
    """A NumPy array, checksummed, in the store's array folder.

    Parameters
    ----------
    shape : tuple of int, optional
        The shape the result must have: an entry of another shape is corrupted.
    dtype : numpy dtype, optional
        The dtype the result must have (byte order included): an entry of another is
        corrupted. A checksum cannot tell, and a result of the wrong dtype breaks
        whoever uses it (a picture's colours, a sum that overflows).

    Notes
    -----
    A corrupted entry is removed and reads as missing: its job is computed again.
    """

    def __init__(self, shape: tuple[int, ...] | None = None, dtype: npt.DTypeLike | None = None):
        self.shape = None if shape is None else tuple(shape)
        self.dtype = None if dtype is None else np.dtype(dtype)

    def save(self, store: ResultStore, key: str, value) -> None:
        store.put(key, value)

    def load(self, store: ResultStore, key: str) -> Any:
        found = store.get(key, self.shape, self.dtype)
        return MISSING if found is None else found


class PickleCodec(Codec):
    """Any picklable value (a value that cannot be pickled is kept in memory only).

    The store must be trusted: a result is read back with ``pickle``, so whoever can
    write the store can run code in the server.
    """

    def save(self, store: ResultStore, key: str, value) -> None:
        store.put_result(key, value)

    def load(self, store: ResultStore, key: str) -> Any:
        return store.get_result(key)

    def names(self, key: str) -> list[str]:
        return [f"{key}.result"]
