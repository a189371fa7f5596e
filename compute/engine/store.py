"""Finished results and the job history, persisted under one location.

:class:`ResultStore` keeps what a codec (:mod:`compute.engine.codecs`) writes: arrays
(checksummed ``.npy``), pickled values and named byte entries (``<key>.<ext>``), all
under one budget in bytes, evicted least recently used first, and the job records of
the history (:class:`~compute.engine.records.JobRecord`). It survives restarts and may
be shared by several processes (server processes on one machine, or on many with an
object store). It knows nothing of what the results mean.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import re
import struct
import time
import zlib
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import platformdirs
from dask.utils import parse_bytes

from .files import NOT_SAVING, Files, StoreUnavailable, mtime_of, name_of
from .records import JobRecord

logger = logging.getLogger(__name__)

__all__ = ["MISSING", "NOT_SAVING", "ResultStore", "StoreUnavailable"]

#: What a lookup returns for a key it does not hold (a result may be None).
MISSING = type("Missing", (), {"__repr__": lambda _: "MISSING", "__bool__": lambda _: False})()

#: Values of ``<prefix>STORE`` that turn persistence off.
DISABLED = frozenset({"off", "none", "false", "0"})

# An array file: magic, CRC-32 of the payload, then the array in NumPy's .npy format. The
# checksum catches what a truncated or overwritten file cannot otherwise reveal: .npy
# bytes that parse but hold other values. Arrays live in the folder named "frames" for
# the stores written before the engine was generic.
_MAGIC = b"FRACTAL1"
_HEADER = struct.Struct("<8sI")
_ARRAYS = "frames"
_ARRAY_SUFFIX = ".frame"
_RECORD_SUFFIX = ".json"
_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_ENTRY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}\.[a-z0-9]{1,8}")


class ResultStore:
    """Finished results and the job history, persisted under one location.

    A corrupted or unreadable entry reads as missing (and is removed), so its job is
    computed again. Whoever can write the store can run code in this process: results
    of function calls are pickles (see :meth:`put_result`), so the store must be as
    trusted as the server's own code.

    Parameters
    ----------
    location : str or os.PathLike, optional
        A directory or an fsspec URL (``s3://bucket/results``, ``memory://store``).
        Defaults to :meth:`default_location`.
    max_bytes : int
        Entries are evicted, least recently used first, to keep their total within this.
    max_records : int
        History records kept; the oldest are removed beyond it.
    abandoned_after : float
        Seconds after which a temporary file is taken to be a killed writer's leftover
        and removed.
    storage_options : dict, optional
        Passed to fsspec (credentials, endpoint) for URLs.

    Attributes
    ----------
    problem : str
        Empty while the store works; else why it does not, as a sentence for people
        (``"Results and history are not being saved: No space left on device (...)"``).
        Set by the first write or read that fails (a full disk, a read-only or vanished
        location), logged once, and cleared by the next write that succeeds. Meanwhile
        writes are skipped (``put`` returns False) and reads miss: callers carry on
        without persistence and never see the exception.

    Raises
    ------
    StoreUnavailable
        If the location cannot be opened at all (e.g. ``s3://`` without ``s3fs``).

    Notes
    -----
    Recency of use is the file's modification time, refreshed on every read, and by
    :meth:`touch` for a result served from a process's own memory. Local files support
    that; on filesystems that cannot touch a file (most object stores) eviction falls
    back to least recently written.

    Opening a store removes the temporary files of writers killed more than
    ``abandoned_after`` seconds ago (one listing per folder); no read counts them.
    """

    #: Prefix of the environment variables of :meth:`from_env`.
    ENV_PREFIX: ClassVar[str] = "ENGINE_"
    #: The application whose cache directory holds the default location.
    APP_NAME: ClassVar[str] = "compute-engine"
    #: The first words of :attr:`problem`.
    NOT_SAVING: ClassVar[str] = NOT_SAVING
    #: Why a record whose process stopped reads as ``interrupted`` (see :meth:`history`).
    INTERRUPTED: ClassVar[str] = "The server stopped while it ran. Ask for it again."

    def __init__(
        self,
        location: str | os.PathLike | None = None,
        *,
        max_bytes: int = 2 * 2**30,
        max_records: int = 1000,
        abandoned_after: float = 600.0,
        storage_options: dict | None = None,
    ):
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        if max_records < 1:
            raise ValueError(f"max_records must be >= 1, got {max_records}")
        self.location = str(location) if location is not None else self.default_location()
        self.max_bytes = int(max_bytes)
        self.max_records = int(max_records)
        self.files = Files(
            self.location,
            (_ARRAYS, "history", "blobs"),
            abandoned_after=abandoned_after,
            storage_options=storage_options,
            not_saving=self.NOT_SAVING,
        )
        self.fs = self.files.fs
        self._arrays = self.files.folders[_ARRAYS]
        self._history = self.files.folders["history"]
        self._blobs = self.files.folders["blobs"]
        # History records found unreadable, by path: each is said once, not on every
        # page load that lists the history (a bad file stays until it is the oldest).
        self._unreadable: set[str] = set()

    @classmethod
    def default_location(cls) -> str:
        """The default place: ``<APP_NAME>/store`` in the user's cache directory."""
        return str(platformdirs.user_cache_path(cls.APP_NAME) / "store")

    @classmethod
    def from_env(cls, prefix: str | None = None) -> ResultStore | None:
        """The store configured by the environment, or None if persistence is off.

        ``<prefix>STORE`` is a directory or fsspec URL (unset: :meth:`default_location`;
        ``off``: no store); ``<prefix>STORE_MAX_BYTES`` bounds it (``"2GiB"``, ``5e8``).
        The prefix defaults to :attr:`ENV_PREFIX`.
        """
        prefix = cls.ENV_PREFIX if prefix is None else prefix
        location = os.environ.get(f"{prefix}STORE", "").strip()
        if location.lower() in DISABLED:
            return None
        limit = os.environ.get(f"{prefix}STORE_MAX_BYTES", "").strip()
        try:
            max_bytes = parse_bytes(limit) if limit else 2 * 2**30
        except ValueError as exc:
            raise ValueError(f"{prefix}STORE_MAX_BYTES={limit!r} is not a size: {exc}") from None
        return cls(location or None, max_bytes=max_bytes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r}, max_bytes={self.max_bytes})"

    @property
    def problem(self) -> str:
        """Why the store does not work now, in words; empty while it does."""
        return self.files.problem

    # -- arrays ------------------------------------------------------------------------------
    def _path(self, key: str) -> str:
        if not isinstance(key, str) or not _SAFE_KEY.fullmatch(key):
            raise ValueError(f"Not a valid key: {key!r}")
        return f"{self._arrays}/{key}{_ARRAY_SUFFIX}"

    def __contains__(self, key: str) -> bool:
        return self.files.exists(self._path(key))

    def get(
        self,
        key: str,
        shape: tuple[int, ...] | None = None,
        dtype: npt.DTypeLike | None = None,
    ) -> np.ndarray | None:
        """The array stored under ``key``, read-only, or None if absent or unusable.

        Parameters
        ----------
        key : str
            The result's key.
        shape : tuple of int, optional
            The shape the caller expects; an entry of another shape counts as corrupted.
        dtype : numpy dtype, optional
            The dtype the caller expects (byte order included); an entry of another
            counts as corrupted. Its checksum cannot tell: an array of another dtype
            written whole has a valid one.
        """
        path = self._path(key)
        data = self.files.read(path, f"array {key}")
        if data is None:
            return None
        try:
            array = _decode(data)
            if shape is not None and array.shape != tuple(shape):
                raise ValueError(f"shape {array.shape}, expected {tuple(shape)}")
            if dtype is not None and array.dtype != np.dtype(dtype):
                raise ValueError(f"dtype {array.dtype.str}, expected {np.dtype(dtype).str}")
        except ValueError as exc:
            logger.warning("array %s is corrupted (%s): removed, it will be computed", key, exc)
            self.files.remove(path)
            return None
        self.files.touch(path)
        array.setflags(write=False)
        return array

    def put(self, key: str, array: np.ndarray) -> bool:
        """Store ``array`` under ``key`` atomically, then evict to fit :attr:`max_bytes`.

        Returns
        -------
        bool
            False if it is not stored: it alone is larger than the whole budget, or the
            store cannot be written (see :attr:`problem`).
        """
        path = self._path(key)
        data = _encode(array)
        if len(data) > self.max_bytes or not self.files.write(path, data):
            return False
        self.evict(keep=path)
        return True

    def discard(self, key: str) -> None:
        """Forget the array under ``key`` if present."""
        self.files.remove(self._path(key))

    def keys(self) -> list[str]:
        """Keys of the arrays stored now, least recently used first."""
        entries = sorted(self.files.entries(self._arrays, _ARRAY_SUFFIX), key=mtime_of)
        return [name_of(info)[: -len(_ARRAY_SUFFIX)] for info in entries]

    # -- named entries -----------------------------------------------------------------------
    def _blob(self, name: str) -> str:
        if not isinstance(name, str) or not _ENTRY.fullmatch(name):
            raise ValueError(f"Not a valid entry name: {name!r} (<key>.<extension>)")
        return f"{self._blobs}/{name}"

    def put_bytes(self, name: str, data: bytes) -> bool:
        """Store ``data`` as ``name`` (``<key>.<ext>``, e.g. ``movie-1a2b.mp4``) atomically.

        Returns False if it is not stored: it alone is larger than the whole budget, or
        the store cannot be written (see :attr:`problem`).
        """
        path = self._blob(name)
        if len(data) > self.max_bytes or not self.files.write(path, bytes(data)):
            return False
        self.evict(keep=path)
        return True

    def get_bytes(self, name: str) -> bytes | None:
        """The bytes stored as ``name`` (refreshing its recency), or None."""
        path = self._blob(name)
        data = self.files.read(path, name)
        if data is not None:
            self.files.touch(path)
        return data

    def has_bytes(self, name: str) -> bool:
        """Whether ``name`` is stored."""
        return self.files.exists(self._blob(name))

    def discard_bytes(self, name: str) -> None:
        """Forget ``name`` if present."""
        self.files.remove(self._blob(name))

    def put_result(self, key: str, value) -> bool:
        """Store any value under ``key`` (as ``<key>.result``), if it can be pickled.

        The value is written as a pickle, and :meth:`get_result` unpickles it: whoever
        can write the store can run code in the process that reads it back.

        Returns
        -------
        bool
            False if it cannot be pickled, is over the budget or cannot be written.
        """
        try:
            data = pickle.dumps(value, protocol=5)
        except Exception as exc:  # a lock, a socket, a generator: kept in memory only
            logger.info("result %s is not stored: it cannot be pickled (%s)", key, exc)
            return False
        return self.put_bytes(f"{key}.result", _HEADER.pack(_MAGIC, zlib.crc32(data)) + data)

    def get_result(self, key: str):
        """The result stored under ``key``, or :data:`MISSING` (also if it is damaged).

        The entry is unpickled: whoever can write the store can run code in this process
        (a checksum catches damage, not a forged entry).
        """
        data = self.get_bytes(f"{key}.result")
        if data is None:
            return MISSING
        try:
            magic, crc = _HEADER.unpack_from(data)
            payload = memoryview(data)[_HEADER.size :]
            if magic != _MAGIC or zlib.crc32(payload) != crc:
                raise ValueError("checksum mismatch")
            return pickle.loads(payload)
        except Exception as exc:
            logger.warning("result %s is corrupted (%s): removed, it will be computed", key, exc)
            self.discard_bytes(f"{key}.result")
            return MISSING

    # -- recency and the budget -------------------------------------------------------------
    def touch(self, name: str) -> bool:
        """Mark what is stored as ``name`` as just used, so that eviction keeps it.

        For a result that a process served from its own memory: without this the
        store's copy ages, and another process sharing the store may evict it while it is
        hot. Cheap (a ``stat`` on local files), but it touches the filesystem: on an
        event loop, call it in a thread.

        Parameters
        ----------
        name : str
            An array's key, or an entry's full name (``movie-1a2b.mp4``).

        Returns
        -------
        bool
            Whether it was stored (and could be touched).
        """
        path = self._blob(name) if "." in name else self._path(name)
        return self.files.touch(path)

    @property
    def nbytes(self) -> int:
        """Bytes of the entries stored now (by every process sharing the store)."""
        return sum(info["size"] for info in self._evictable())

    def _evictable(self, leftovers: bool = False) -> list[dict]:
        blobs = self.files.entries(self._blobs, "", leftovers=leftovers)
        arrays = self.files.entries(self._arrays, _ARRAY_SUFFIX, leftovers=leftovers)
        return arrays + [info for info in blobs if _ENTRY.fullmatch(name_of(info))]

    def evict(self, keep: str | None = None) -> None:
        """Remove the least recently used entries beyond :attr:`max_bytes`, and leftovers.

        Arrays and named entries share the budget. Safe to run in several processes at
        once: an entry another process removed first is simply gone.
        """
        entries = self._evictable(leftovers=True)
        total = sum(info["size"] for info in entries)
        for info in sorted(entries, key=mtime_of):
            if total <= self.max_bytes:
                break
            if info["name"] != keep:
                self.files.remove(info["name"])
                total -= info["size"]

    # -- history -----------------------------------------------------------------------------
    def add_record(self, record: JobRecord, *, writer: str = "") -> None:
        """Add a job record to the history, or replace the earlier one of the same run.

        Each record is its own small file named by its submission time, its key and its
        ``writer`` (a consumer, or a detached job's registry): processes never contend for
        one file, an object store needs no append, and a writer's later records of the
        same run replace its earlier ones. Beyond :attr:`max_records`, the records
        written longest ago go (a long job's heartbeat keeps its own).
        A record's :attr:`~JobRecord.owner` is in its file's name too, so that one user's
        history is listed without reading everyone's records.
        """
        if isinstance(record, dict):
            record = JobRecord.from_dict(record)
        record = record.replace(updated_at=time.time())
        stamp = record.submitted_at or time.time()
        digest = hashlib.sha1(f"{record.key}/{writer}".encode()).hexdigest()[:12]
        name = f"{int(stamp * 1e6):020d}-{digest}{_owner_tag(record.owner)}{_RECORD_SUFFIX}"
        data = json.dumps(record.to_dict()).encode()
        if not self.files.write(f"{self._history}/{name}", data):
            return  # (see problem)
        entries = self.files.entries(self._history, _RECORD_SUFFIX, leftovers=True)
        entries.sort(key=lambda info: (mtime_of(info), name_of(info)))
        for info in entries[: max(len(entries) - self.max_records, 0)]:
            self.files.remove(info["name"])

    def history(
        self, limit: int | None = None, *, owner: str | None = None, quiet_after: float = 30.0
    ) -> list[JobRecord]:
        """Job records, oldest first (the newest ``limit`` of them if given).

        ``owner``: only the records of that user (see :attr:`JobRecord.owner`); None: every
        record, whoever's (an app without authentication).
        A record of an unfinished job not rewritten for ``quiet_after`` seconds (a
        detached job's heartbeat is a few seconds) belongs to a process that stopped: it
        reads as ``interrupted``. Unreadable records (damaged, foreign, a field of the
        wrong type or out of range) are skipped, not raised, and logged once each.
        """
        names = sorted(info["name"] for info in self.files.entries(self._history, _RECORD_SUFFIX))
        if owner is not None:
            tag = _owner_tag(owner) + _RECORD_SUFFIX
            names = [n for n in names if n.endswith(tag)]
        if limit is not None:
            names = names[-limit:] if limit > 0 else []
        contents = self.files.cat(names)
        records, now = [], time.time()
        # Sorted again: names sort by time, and fsspec returns contents in no set order.
        for path, data in sorted(contents.items()):
            try:
                if isinstance(data, Exception):
                    raise data
                record = JobRecord.from_dict(json.loads(data))
            # RecursionError: json's parser, on a file nested thousands deep.
            except (OSError, ValueError, TypeError, RecursionError) as exc:
                self._skipped(path, exc)
                continue
            if not record.ended and now - record.updated_at > quiet_after:
                record = record.replace(state="interrupted", error=self.INTERRUPTED)
            if owner is not None and record.owner != owner:
                continue  # (a tag collision, about one in 2**40)
            records.append(record)
        return records

    def _skipped(self, path: str, exc: BaseException) -> None:
        """Say that the record at ``path`` is skipped: a warning the first time only."""
        if path in self._unreadable:
            logger.debug("skipping the unreadable history record %s: %s", path, exc)
            return
        # Bounded: records are named by time, so damaged ones age out of the history
        # and their names need not be kept for ever (forgotten, one is said again).
        if len(self._unreadable) >= 4 * self.max_records:
            self._unreadable.clear()
        self._unreadable.add(path)
        logger.warning("skipping an unreadable history record %s: %s", path, exc)

    def clear(self) -> None:
        """Remove every entry and record."""
        for folder in (self._arrays, self._history, self._blobs):
            for info in self.files.entries(folder, "", leftovers=True):
                self.files.remove(info["name"])


def _owner_tag(owner: str | None) -> str:
    return "" if owner is None else "-u" + hashlib.sha1(owner.encode()).hexdigest()[:10]


def _encode(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    buffer.write(_HEADER.pack(_MAGIC, 0))
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    data = buffer.getbuffer()
    _HEADER.pack_into(data, 0, _MAGIC, zlib.crc32(data[_HEADER.size :]))
    del data
    return buffer.getvalue()


def _decode(data: bytes) -> np.ndarray:
    if len(data) < _HEADER.size:
        raise ValueError("truncated")
    magic, crc = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise ValueError("not an array file")
    payload = memoryview(data)[_HEADER.size :]
    if zlib.crc32(payload) != crc:
        raise ValueError("checksum mismatch")
    try:
        # The array is a view of the bytes just read: no copy of a frame-sized buffer.
        header = io.BytesIO(payload[:4096])
        version = np.lib.format.read_magic(header)
        read_header = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }[version]
        shape, fortran, dtype = read_header(header)
        if dtype.hasobject or fortran:
            raise ValueError("unexpected array layout")
        array = np.frombuffer(payload, dtype=dtype, offset=header.tell()).reshape(shape)
    except ValueError:
        raise
    except Exception as exc:  # numpy raises several types for malformed headers
        raise ValueError(f"not a .npy array: {exc}") from None
    return array
