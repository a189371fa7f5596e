"""Keep a long-running process's resident memory close to what it holds (glibc only).

A server that shows frames makes and drops buffers of a megabyte or more all the time
(frames, tiles, images sent to pages, PNGs). glibc serves a block above its mmap
threshold with a mapping of its own, unmapped when freed; but each time such a block is
freed it raises that threshold to the block's size (up to 32 MiB), so from then on
frames come from its arenas, whose freed space it keeps for reuse and seldom gives back.

Measured with ``bench/soak.py`` (the server's allocator read with ``mallinfo2`` every
15 s): with glibc's default the server's heap grew to 1550 MB of which 912 MB was free
space, and its RSS to 1419 MB in 5 minutes; ``malloc_trim(0)`` then gave 365 MB back.
With the threshold pinned at 128 KiB the heap stayed under 110 MB with at most 12 MB
free, and the server's RSS levelled off near 1 GB after two minutes (the result cache's
512 MiB and what live sessions hold, in mappings freed as they are dropped).

Pinning the threshold (as ``MALLOC_MMAP_THRESHOLD_`` would at start) turns glibc's
dynamic adjustment off. Dask does the like for its workers (the nanny sets
``MALLOC_TRIM_THRESHOLD_``); this is for the web server's process, which Dask does not
start.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os

logger = logging.getLogger(__name__)

#: glibc's mallopt parameter number for the mmap threshold (malloc.h).
M_MMAP_THRESHOLD = -3
#: Blocks this large or larger get mappings of their own: every frame and tile.
MMAP_THRESHOLD = 128 * 2**10
#: glibc's own variable, read at start: when set, it is left as set.
ENV = "MALLOC_MMAP_THRESHOLD_"


def _libc():
    # The process's own symbols: the C library it runs on, whatever its file is called.
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 (glibc only: musl's mallopt does nothing)
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError, TypeError):  # not glibc; Windows
        return None
    return libc


@functools.cache
def pin_mmap_threshold(nbytes: int = MMAP_THRESHOLD) -> bool:
    """Have blocks of ``nbytes`` or more mapped on their own and unmapped when freed.

    Done once per process (the served app calls it for every session). Does nothing
    where the C library is not glibc, or where ``MALLOC_MMAP_THRESHOLD_`` is set (the
    deployment chose).

    Returns
    -------
    bool
        True if the threshold is pinned now.
    """
    if os.environ.get(ENV):
        return False
    libc = _libc()
    if libc is None:
        return False
    if not libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(nbytes)):
        logger.warning("mallopt(M_MMAP_THRESHOLD, %d) failed", nbytes)
        return False
    return True
