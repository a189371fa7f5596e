"""Finished frames by key, in memory and on disk, and the job history.

:class:`FrameCache` is an in-memory LRU bounded in bytes, for one process. Frames are
shared between sessions, so they are stored read-only: a caller that wants to modify one
copies it. :class:`FrameStore` persists frames and job records under a directory or an
fsspec URL, so that they survive restarts and serve several processes.
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
import threading
import time
import uuid
import zlib
from collections import OrderedDict

import fsspec
import numpy as np
import platformdirs
from dask.utils import parse_bytes
from fsspec.implementations.local import LocalFileSystem

from .records import JobRecord

logger = logging.getLogger(__name__)


#: What a lookup returns for a key it does not hold (a result may be None).
MISSING = type("Missing", (), {"__repr__": lambda _: "MISSING", "__bool__": lambda _: False})()


def _sizeof(value) -> int:
    from dask.sizeof import sizeof

    return int(sizeof(value))


class FrameCache:
    """Least-recently-used frames (and other results), bounded by their size in bytes.

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
        self._frames: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self._nbytes = 0

    @classmethod
    def from_env(cls) -> FrameCache:
        """A cache bounded by ``FRACTAL_CACHE_MAX_BYTES`` (``"256MiB"``, ``0``: keep
        nothing), 512 MiB if unset. A value that is no size is logged, and the default used:
        a server's memory budget is no reason for it not to start."""
        limit = os.environ.get(CACHE_BYTES_ENV, "").strip()
        if limit:
            try:
                return cls(parse_bytes(limit))
            except ValueError as exc:
                logger.error("%s=%r is no size (%s): 512 MiB it is", CACHE_BYTES_ENV, limit, exc)
        return cls()

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._nbytes

    def __len__(self) -> int:
        return len(self._frames)

    def __contains__(self, key: str) -> bool:
        return key in self._frames

    def get(self, key: str, default=None):
        """The value stored under ``key`` (marking it recently used), or ``default``."""
        entry = self._frames.get(key)
        if entry is None:
            return default
        self._frames.move_to_end(key)
        return entry[0]

    def put(self, key: str, value) -> None:
        """Store ``value`` under ``key`` (an array made read-only) and evict to fit.

        A value's size is its ``nbytes`` for arrays, else Dask's ``sizeof`` estimate.
        """
        self.discard(key)
        size = value.nbytes if isinstance(value, np.ndarray) else _sizeof(value)
        if size > self.max_bytes:
            return
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
        self._frames[key] = (value, size)
        self._nbytes += size
        while self._nbytes > self.max_bytes:
            _, (_, evicted) = self._frames.popitem(last=False)
            self._nbytes -= evicted

    def discard(self, key: str) -> None:
        """Forget ``key`` if present."""
        entry = self._frames.pop(key, None)
        if entry is not None:
            self._nbytes -= entry[1]


#: Environment variables read by :meth:`FrameStore.from_env`.
STORE_ENV = "FRACTAL_STORE"
STORE_BYTES_ENV = "FRACTAL_STORE_MAX_BYTES"
#: Environment variable read by :meth:`FrameCache.from_env`.
CACHE_BYTES_ENV = "FRACTAL_CACHE_MAX_BYTES"
#: Values of ``FRACTAL_STORE`` that turn persistence off.
DISABLED = frozenset({"off", "none", "false", "0"})

# A frame file: magic, CRC-32 of the payload, then the array in NumPy's .npy format. The
# checksum catches what a truncated or overwritten file cannot otherwise reveal: .npy
# bytes that parse but hold other values.
_MAGIC = b"FRACTAL1"
_HEADER = struct.Struct("<8sI")
_FRAME_SUFFIX = ".frame"
_RECORD_SUFFIX = ".json"
#: Suffixes of the other entries: results of calls and graphs, movies' files and parts.
_BLOB_SUFFIXES = frozenset({".result", ".part", ".mp4", ".gif", ".webp", ".movie"})
_TMP = ".tmp-"
_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


class StoreUnavailable(OSError):
    """The store's location cannot be opened: a missing fsspec backend (``s3fs`` for
    ``s3://``), an unknown protocol, bad credentials, a folder that cannot be created.

    An :class:`OSError`, so that callers that run without persistence on a filesystem
    error do so on this one too.
    """


#: The first words of :attr:`FrameStore.problem`.
NOT_SAVING = "Frames and history are not being saved"


def default_location() -> str:
    """The store's default place: ``fractal-explorer/store`` in the user's cache directory."""
    return str(platformdirs.user_cache_path("fractal-explorer") / "store")


class FrameStore:
    """Finished frames and the job history, persisted under one location.

    Survives restarts and may be shared by several processes (server processes on one
    machine, or on many with an object store): every write goes to a temporary name and
    is moved into place, so a reader sees a whole entry or none, and a writer killed
    half-way leaves only a temporary file, removed later. A corrupted or unreadable
    frame reads as missing (and is removed), so its job is computed again.

    Parameters
    ----------
    location : str or os.PathLike, optional
        A directory or an fsspec URL (``s3://bucket/fractals``, ``memory://store``).
        Defaults to :func:`default_location`.
    max_bytes : int
        Frames are evicted, least recently used first, to keep their total within this.
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
        (``"Frames and history are not being saved: No space left on device (...)"``).
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
    :meth:`touch` for a frame served from a process's own memory. Local files support
    that; on filesystems that cannot touch a file (most object stores) eviction falls
    back to least recently written.

    Opening a store removes the temporary files of writers killed more than
    ``abandoned_after`` seconds ago (one listing per folder); no read counts them.

    Examples
    --------
    >>> store = FrameStore("/tmp/fractals", max_bytes=2**30)   # doctest: +SKIP
    >>> store.put(config.key, frame)                          # doctest: +SKIP
    >>> store.get(config.key, shape=frame.shape)              # doctest: +SKIP
    """

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
        self.location = str(location) if location is not None else default_location()
        self.max_bytes = int(max_bytes)
        self.max_records = int(max_records)
        self.abandoned_after = float(abandoned_after)
        self.problem = ""
        self._logged = ""
        self._recovery_logged = False
        # Writes run in several threads at once; the problem's transitions are logged once.
        self._lock = threading.Lock()
        try:
            self.fs, root = fsspec.core.url_to_fs(self.location, **(storage_options or {}))
            self._frames = f"{root.rstrip('/')}/frames"
            self._history = f"{root.rstrip('/')}/history"
            self._blobs = f"{root.rstrip('/')}/blobs"
            for folder in (self._frames, self._history, self._blobs):
                self.fs.makedirs(folder, exist_ok=True)
        except Exception as exc:
            # fsspec raises ImportError for a backend not installed, ValueError for an
            # unknown protocol, and whatever its backend raises for credentials or network.
            raise StoreUnavailable(
                f"The store at {self.location!r} cannot be opened: {_reason(exc)}"
            ) from exc
        for folder in (self._frames, self._history, self._blobs):
            self._entries(folder, "", leftovers=True)

    @classmethod
    def from_env(cls) -> FrameStore | None:
        """The store configured by the environment, or None if persistence is off.

        ``FRACTAL_STORE`` is a directory or fsspec URL (unset: :func:`default_location`;
        ``off``: no store); ``FRACTAL_STORE_MAX_BYTES`` bounds it (``"2GiB"``, ``5e8``).
        """
        location = os.environ.get(STORE_ENV, "").strip()
        if location.lower() in DISABLED:
            return None
        limit = os.environ.get(STORE_BYTES_ENV, "").strip()
        try:
            max_bytes = parse_bytes(limit) if limit else 2 * 2**30
        except ValueError as exc:
            raise ValueError(f"{STORE_BYTES_ENV}={limit!r} is not a size: {exc}") from None
        return cls(location or None, max_bytes=max_bytes)

    def __repr__(self) -> str:
        return f"FrameStore({self.location!r}, max_bytes={self.max_bytes})"

    # -- frames ------------------------------------------------------------------------------
    def _path(self, key: str) -> str:
        if not isinstance(key, str) or not _SAFE_KEY.fullmatch(key):
            raise ValueError(f"Not a valid frame key: {key!r}")
        return f"{self._frames}/{key}{_FRAME_SUFFIX}"

    def __contains__(self, key: str) -> bool:
        return self.fs.exists(self._path(key))

    def get(self, key: str, shape: tuple[int, int] | None = None) -> np.ndarray | None:
        """The frame stored under ``key``, read-only, or None if absent or unusable.

        Parameters
        ----------
        key : str
            The frame's key (:attr:`FractalConfig.key`).
        shape : tuple of int, optional
            The shape the caller expects; an entry of another shape counts as corrupted.
        """
        path = self._path(key)
        data = self._read(path, f"frame {key}")
        if data is None:
            return None
        try:
            frame = _decode(data)
            if shape is not None and frame.shape != tuple(shape):
                raise ValueError(f"shape {frame.shape}, expected {tuple(shape)}")
        except ValueError as exc:
            logger.warning("frame %s is corrupted (%s): removed, it will be computed", key, exc)
            self._remove(path)
            return None
        self._touch(path)
        frame.setflags(write=False)
        return frame

    def put(self, key: str, frame: np.ndarray) -> bool:
        """Store ``frame`` under ``key`` atomically, then evict to fit :attr:`max_bytes`.

        Returns
        -------
        bool
            False if it is not stored: the frame alone is larger than the whole budget,
            or the store cannot be written (see :attr:`problem`).
        """
        path = self._path(key)
        data = _encode(frame)
        if len(data) > self.max_bytes or not self._write(path, data):
            return False
        self.evict(keep=path)
        return True

    def discard(self, key: str) -> None:
        """Forget ``key`` if present."""
        self._remove(self._path(key))

    def touch(self, key: str) -> bool:
        """Mark what is stored under ``key`` as just used, so that eviction keeps it.

        For a frame, result or movie that a process served from its own memory: without
        this the store's copy ages, and another process sharing the store may evict it
        while it is hot. Cheap (a few ``stat`` calls on local files), but it touches the
        filesystem: on an event loop, call it in a thread.

        Parameters
        ----------
        key : str
            A frame's or result's key, a movie's (every format of it is touched), or an
            entry's full name (``movie-1a2b.mp4``).

        Returns
        -------
        bool
            Whether anything was stored under ``key`` (and could be touched).
        """
        if os.path.splitext(key)[1] in _BLOB_SUFFIXES:
            paths = [self._blob(key)]
        else:
            suffixes = sorted(_BLOB_SUFFIXES - {".part"})
            paths = [self._path(key)] + [f"{self._blobs}/{key}{suffix}" for suffix in suffixes]
        touched = False
        for path in paths:
            touched |= self._touch(path)
        return touched

    @property
    def nbytes(self) -> int:
        """Bytes of the entries stored now (by every process sharing the store)."""
        return sum(info["size"] for info in self._evictable())

    def _evictable(self, leftovers: bool = False) -> list[dict]:
        blobs = self._entries(self._blobs, "", leftovers=leftovers)
        return self._entries(self._frames, _FRAME_SUFFIX, leftovers=leftovers) + [
            info for info in blobs if os.path.splitext(_name(info))[1] in _BLOB_SUFFIXES
        ]

    def keys(self) -> list[str]:
        """Keys of the frames stored now, least recently used first."""
        entries = sorted(self._entries(self._frames, _FRAME_SUFFIX), key=_mtime)
        return [_name(info)[: -len(_FRAME_SUFFIX)] for info in entries]

    def evict(self, keep: str | None = None) -> None:
        """Remove the least recently used entries beyond :attr:`max_bytes`, and leftovers.

        Frames, results and movies share the budget. Safe to run in several processes at
        once: an entry another process removed first is simply gone.
        """
        entries = self._evictable(leftovers=True)
        total = sum(info["size"] for info in entries)
        for info in sorted(entries, key=_mtime):
            if total <= self.max_bytes:
                break
            if info["name"] != keep:
                self._remove(info["name"])
                total -= info["size"]

    # -- results, movies ---------------------------------------------------------------------
    def _blob(self, name: str) -> str:
        stem, suffix = os.path.splitext(name)
        if suffix not in _BLOB_SUFFIXES or not _SAFE_KEY.fullmatch(stem):
            raise ValueError(f"Not a valid entry name: {name!r}")
        return f"{self._blobs}/{name}"

    def put_bytes(self, name: str, data: bytes) -> bool:
        """Store ``data`` as ``name`` (``<key><suffix>``, e.g. ``movie-1a2b.mp4``) atomically.

        Returns False if it is not stored: it alone is larger than the whole budget, or
        the store cannot be written (see :attr:`problem`).
        """
        path = self._blob(name)
        if len(data) > self.max_bytes or not self._write(path, bytes(data)):
            return False
        self.evict(keep=path)
        return True

    def get_bytes(self, name: str) -> bytes | None:
        """The bytes stored as ``name`` (refreshing its recency), or None."""
        path = self._blob(name)
        data = self._read(path, name)
        if data is not None:
            self._touch(path)
        return data

    def has_bytes(self, name: str) -> bool:
        """Whether ``name`` is stored."""
        return self.fs.exists(self._blob(name))

    def discard_bytes(self, name: str) -> None:
        """Forget ``name`` if present."""
        self._remove(self._blob(name))

    def put_result(self, key: str, value) -> bool:
        """Store a call's or graph's result under ``key``, if it can be pickled.

        The store must be trusted: a result is read back with ``pickle``.

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
        """The result stored under ``key``, or :data:`MISSING` (also if it is damaged)."""
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

    # -- history -----------------------------------------------------------------------------
    def add_record(self, record: JobRecord, *, writer: str = "") -> None:
        """Add a job record to the history, or replace the earlier one of the same run.

        Each record is its own small file named by its submission time, its key and its
        ``writer`` (a consumer, or a detached job's registry): processes never contend for
        one file, an object store needs no append, and a writer's later records of the
        same run replace its earlier ones. Beyond :attr:`max_records`, the records
        written longest ago go (a long movie's heartbeat keeps its own).
        A record's :attr:`~JobRecord.owner` is in its file's name too, so that one user's
        history is listed without reading everyone's records.
        """
        if isinstance(record, dict):
            record = JobRecord.from_dict(record)
        record = record.replace(updated_at=time.time())
        stamp = record.submitted_at or time.time()
        digest = hashlib.sha1(f"{record.key}/{writer}".encode()).hexdigest()[:12]
        name = f"{int(stamp * 1e6):020d}-{digest}{_owner_tag(record.owner)}{_RECORD_SUFFIX}"
        if not self._write(f"{self._history}/{name}", json.dumps(record.to_dict()).encode()):
            return  # (see problem)
        entries = self._entries(self._history, _RECORD_SUFFIX, leftovers=True)
        entries.sort(key=lambda info: (_mtime(info), _name(info)))
        for info in entries[: max(len(entries) - self.max_records, 0)]:
            self._remove(info["name"])

    def history(
        self, limit: int | None = None, *, owner: str | None = None, quiet_after: float = 30.0
    ) -> list[JobRecord]:
        """Job records, oldest first (the newest ``limit`` of them if given).

        ``owner``: only the records of that user (see :attr:`JobRecord.owner`); None: every
        record, whoever's (an app without authentication).
        A record of an unfinished job not rewritten for ``quiet_after`` seconds (a
        detached job's heartbeat is a few seconds) belongs to a process that stopped: it
        reads as ``interrupted``. Unreadable records are skipped, not raised.
        """
        names = sorted(info["name"] for info in self._entries(self._history, _RECORD_SUFFIX))
        if owner is not None:
            tag = _owner_tag(owner) + _RECORD_SUFFIX
            names = [n for n in names if n.endswith(tag)]
        if limit is not None:
            names = names[-limit:] if limit > 0 else []
        contents = self.fs.cat(names, on_error="return") if names else {}
        records, now = [], time.time()
        # Sorted again: names sort by time, and fsspec returns contents in no set order.
        for path, data in sorted(contents.items()):
            try:
                if isinstance(data, Exception):
                    raise data
                record = JobRecord.from_dict(json.loads(data))
            except (OSError, ValueError, TypeError) as exc:
                logger.warning("skipping an unreadable history record %s: %s", path, exc)
                continue
            if not record.ended and now - record.updated_at > quiet_after:
                record = record.replace(
                    state="interrupted",
                    error="The server stopped while it ran. Ask for it again (a movie "
                    "resumes from the frames it had finished).",
                )
            if owner is not None and record.owner != owner:
                continue  # (a tag collision, about one in 2**40)
            records.append(record)
        return records

    def clear(self) -> None:
        """Remove every frame and record."""
        for folder in (self._frames, self._history, self._blobs):
            for info in self._entries(folder, "", leftovers=True):
                self._remove(info["name"])

    # -- files -------------------------------------------------------------------------------
    def _write(self, path: str, data: bytes) -> bool:
        """Write ``data`` to ``path`` atomically; False (and :attr:`problem`) if it fails."""
        tmp = f"{path}{_TMP}{uuid.uuid4().hex}"
        try:
            try:
                self.fs.pipe_file(tmp, data)
            except FileNotFoundError:
                # Its folder was removed (a cleaned cache directory): made again, once.
                self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
                self.fs.pipe_file(tmp, data)
            self.fs.mv(tmp, path)
        except Exception as exc:
            # A full disk, a read-only or unreachable location: skipped, said once.
            self._remove(tmp, quiet=True)
            self._failed(exc)
            return False
        except BaseException:
            self._remove(tmp, quiet=True)
            raise
        self._succeeded()
        return True

    def _read(self, path: str, what: str) -> bytes | None:
        """The bytes at ``path``, or None if absent or unreadable (then it is computed)."""
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.debug("%s is unreadable, so it will be computed: %s", what, exc)
            self._failed(exc)
            return None

    def _failed(self, exc: BaseException) -> None:
        problem = f"{NOT_SAVING}: {_reason(exc)} ({self.location})."
        with self._lock:
            self.problem = problem
            fresh, self._logged = problem != self._logged, problem
            if fresh:
                self._recovery_logged = False
        # One message per kind of failure, not one per frame: a full disk fails every write
        # (and, while small records still fit, the problem comes and goes with each frame).
        if fresh:
            logger.error("%s The app carries on without them.", problem)
        else:
            logger.debug("store write failed again: %s", exc)

    def _succeeded(self) -> None:
        if not self.problem:
            return
        with self._lock:
            said = self._recovery_logged
            self.problem, self._recovery_logged = "", True
        (logger.debug if said else logger.info)("the store at %s is written again", self.location)

    def _entries(self, folder: str, suffix: str, leftovers: bool = False) -> list[dict]:
        """Files in ``folder`` ending in ``suffix``; removes abandoned temporaries."""
        try:
            infos = self.fs.ls(folder, detail=True)
        except FileNotFoundError:
            return []
        except OSError as exc:
            self._failed(exc)
            return []
        entries, now = [], time.time()
        for info in infos:
            if info.get("type") != "file":
                continue
            name = _name(info)
            if _TMP in name:
                if leftovers and now - _mtime(info) > self.abandoned_after:
                    self._remove(info["name"])
            elif name.endswith(suffix):
                entries.append(info)
        return entries

    def _remove(self, path: str, quiet: bool = False) -> None:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            (logger.debug if quiet else logger.warning)("could not remove %s: %s", path, exc)

    def _touch(self, path: str) -> bool:
        # Recency for LRU eviction, shared by every process: the file's modification time.
        try:
            if isinstance(self.fs, LocalFileSystem):
                os.utime(path)
                return True
            # fsspec's touch of a missing file creates an empty one: a frame that is not.
            if not self.fs.exists(path):
                return False
            self.fs.touch(path, truncate=False)
            return True
        except FileNotFoundError:
            return False
        except (NotImplementedError, ValueError, OSError):
            # This filesystem cannot: eviction falls back to least recently written.
            return False


def _reason(exc: BaseException) -> str:
    # An OSError's strerror, without the file name: one temporary's name per write would
    # make every failure look new.
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _owner_tag(owner: str | None) -> str:
    return "" if owner is None else "-u" + hashlib.sha1(owner.encode()).hexdigest()[:10]


def _encode(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    buffer.write(_HEADER.pack(_MAGIC, 0))
    np.lib.format.write_array(buffer, np.ascontiguousarray(frame), allow_pickle=False)
    data = buffer.getbuffer()
    _HEADER.pack_into(data, 0, _MAGIC, zlib.crc32(data[_HEADER.size :]))
    del data
    return buffer.getvalue()


def _decode(data: bytes) -> np.ndarray:
    if len(data) < _HEADER.size:
        raise ValueError("truncated")
    magic, crc = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise ValueError("not a frame file")
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
        frame = np.frombuffer(payload, dtype=dtype, offset=header.tell()).reshape(shape)
    except ValueError:
        raise
    except Exception as exc:  # numpy raises several types for malformed headers
        raise ValueError(f"not a .npy array: {exc}") from None
    return frame


def _name(info: dict) -> str:
    return info["name"].rstrip("/").rsplit("/", 1)[-1]


def _mtime(info: dict) -> float:
    value = info.get("mtime") or info.get("LastModified") or info.get("created") or 0.0
    return value.timestamp() if hasattr(value, "timestamp") else float(value)
