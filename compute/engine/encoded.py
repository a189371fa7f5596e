"""Results encoded for clients (a PNG, an ``.npy``), kept within a memory bound and each
made once at a time.

A finished result is free to serve, but its encoding is not: a 4096x4096 frame's PNG
costs about two seconds of the server's CPU, and every client of a job, every poll
that ends with ``?wait=``, would pay it again. :class:`EncodedResults` keeps encoded
bytes by what was asked (the job, the format, the display options), newest use last,
within ``max_bytes``; while one request encodes, the others asking for the same bytes
wait for it (one flight per entry, as :class:`~compute.engine.interactive.SingleFlight`
is for work); and the request that does encode is charged for it first (a caller's
``charge``, which may refuse), as work on the cluster is.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from collections.abc import Callable, Hashable

#: The default memory bound, in bytes.
MAX_BYTES = 128 * 2**20

Encoded = tuple[str, bytes]


class EncodedResults:
    """Encoded results by what was asked, within a memory bound.

    Parameters
    ----------
    max_bytes : int
        The most bytes kept; the least recently used entries go first. An encoding larger
        than a quarter of it is served but not kept.

    Attributes
    ----------
    encodings : int
        Encodings made so far (a cache miss each), for diagnostics and benchmarks.
    """

    def __init__(self, max_bytes: int = MAX_BYTES):
        self.max_bytes = max_bytes
        self.encodings = 0
        self._entries: OrderedDict[Hashable, Encoded] = OrderedDict()
        self._bytes = 0
        self._flights: dict[Hashable, asyncio.Future] = {}

    @classmethod
    def from_env(cls, prefix: str = "ENGINE_") -> EncodedResults:
        """The bound from ``<prefix>ENCODED_MAX_BYTES`` (unset: :data:`MAX_BYTES`).

        Raises
        ------
        ValueError
            If it is not a whole number of bytes.
        """
        name = f"{prefix}ENCODED_MAX_BYTES"
        raw = os.environ.get(name, "").strip()
        try:
            return cls(int(raw) if raw else MAX_BYTES)
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not a number of bytes.") from None

    @property
    def nbytes(self) -> int:
        """The bytes kept now."""
        return self._bytes

    def peek(self, key: Hashable) -> Encoded | None:
        """The bytes kept for ``key``, if any (marked as just used)."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    async def get(
        self,
        key: Hashable,
        encode: Callable[[], Encoded],
        *,
        charge: Callable[[], None] | None = None,
    ) -> Encoded:
        """The bytes for ``key``: kept, being made for another request (waited for), or
        made now by ``encode()`` in a thread after ``charge()``.

        Parameters
        ----------
        key
            What was asked, whole (a job's key, a format, display options).
        encode
            Makes ``(media type, bytes)``; runs in a thread.
        charge
            Called (on the event loop) just before this request encodes, never when the
            bytes are kept or in flight: it may raise to refuse, and then nothing is
            encoded.

        Raises
        ------
        Exception
            What ``charge`` or ``encode`` raised (the latter to every waiting request).
        """
        entry = self.peek(key)
        if entry is not None:
            return entry
        flight = self._flights.get(key)
        if flight is not None:
            return await asyncio.shield(flight)
        if charge is not None:
            charge()
        flight = self._flights[key] = asyncio.get_running_loop().create_future()
        self.encodings += 1
        try:
            entry = await asyncio.to_thread(encode)
        except asyncio.CancelledError:
            flight.cancel()
            raise
        except Exception as exc:
            flight.set_exception(exc)
            flight.exception()  # retrieved: raised here, and to whoever waits
            raise
        finally:
            del self._flights[key]
        self._keep(key, entry)
        flight.set_result(entry)
        return entry

    def _keep(self, key: Hashable, entry: Encoded) -> None:
        size = len(entry[1])
        if size > self.max_bytes // 4:
            return
        self._entries[key] = entry
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, (_, data) = self._entries.popitem(last=False)
            self._bytes -= len(data)

    def clear(self) -> None:
        """Forget every kept encoding."""
        self._entries.clear()
        self._bytes = 0
