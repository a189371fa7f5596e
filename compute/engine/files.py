"""Files under one location, written atomically and read forgivingly, for a store.

Every write goes to a temporary name and is moved into place, so a reader sees a whole
entry or none, and a writer killed half-way leaves only a temporary file, removed
later. A failing location (a full disk, a read-only or vanished folder, a network
store that stopped answering) never raises to the caller: the failure is said once
(:attr:`Files.problem`) and the write reported as not done.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid

import fsspec
from fsspec.implementations.local import LocalFileSystem

logger = logging.getLogger(__name__)

#: What marks a temporary file.
TMP = ".tmp-"
#: The first words of :attr:`Files.problem`, by default.
NOT_SAVING = "Results and history are not being saved"


class StoreUnavailable(OSError):
    """The store's location cannot be opened: a missing fsspec backend (``s3fs`` for
    ``s3://``), an unknown protocol, bad credentials, a folder that cannot be created.

    An :class:`OSError`, so that callers that run without persistence on a filesystem
    error do so on this one too.
    """


def reason(exc: BaseException) -> str:
    """An error in a few words: an OSError's strerror, without the file name (one
    temporary's name per write would make every failure look new)."""
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def name_of(info: dict) -> str:
    """The file name of an fsspec listing entry."""
    return info["name"].rstrip("/").rsplit("/", 1)[-1]


def mtime_of(info: dict) -> float:
    """The modification time of an fsspec listing entry, in seconds (0 if unknown)."""
    value = info.get("mtime") or info.get("LastModified") or info.get("created") or 0.0
    return value.timestamp() if hasattr(value, "timestamp") else float(value)


class Files:
    """The folders of a store under ``location``, and the state of their writes.

    Parameters
    ----------
    location : str
        A directory or an fsspec URL.
    folders : sequence of str
        Folder names made under it.
    abandoned_after : float
        Seconds after which a temporary file is taken to be a killed writer's leftover.
    storage_options : dict, optional
        Passed to fsspec (credentials, endpoint) for URLs.
    not_saving : str
        The first words of :attr:`problem`.

    Attributes
    ----------
    problem : str
        Empty while writes work; else why they do not, as a sentence for people. Set by
        the first write or read that fails, logged once, cleared by the next write that
        succeeds.

    Raises
    ------
    StoreUnavailable
        If the location cannot be opened at all.
    """

    def __init__(
        self,
        location: str,
        folders: tuple[str, ...],
        *,
        abandoned_after: float = 600.0,
        storage_options: dict | None = None,
        not_saving: str = NOT_SAVING,
    ):
        self.location = location
        self.not_saving = not_saving
        self.abandoned_after = float(abandoned_after)
        self.problem = ""
        self._logged = ""
        self._recovery_logged = False
        # Writes run in several threads at once; the problem's transitions are logged once.
        self._lock = threading.Lock()
        try:
            self.fs, root = fsspec.core.url_to_fs(location, **(storage_options or {}))
            self.folders = {name: f"{root.rstrip('/')}/{name}" for name in folders}
            for folder in self.folders.values():
                self.fs.makedirs(folder, exist_ok=True)
        except Exception as exc:
            # fsspec raises ImportError for a backend not installed, ValueError for an
            # unknown protocol, and whatever its backend raises for credentials or network.
            raise StoreUnavailable(
                f"The store at {location!r} cannot be opened: {reason(exc)}"
            ) from exc
        for folder in self.folders.values():
            self.entries(folder, "", leftovers=True)

    def write(self, path: str, data: bytes) -> bool:
        """Write ``data`` to ``path`` atomically; False (and :attr:`problem`) if it fails."""
        tmp = f"{path}{TMP}{uuid.uuid4().hex}"
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
            self.remove(tmp, quiet=True)
            self.failed(exc)
            return False
        except BaseException:
            self.remove(tmp, quiet=True)
            raise
        self._succeeded()
        return True

    def read(self, path: str, what: str) -> bytes | None:
        """The bytes at ``path``, or None if absent or unreadable (then it is computed)."""
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.debug("%s is unreadable, so it will be computed: %s", what, exc)
            self.failed(exc)
            return None

    def exists(self, path: str) -> bool:
        return self.fs.exists(path)

    def failed(self, exc: BaseException) -> None:
        """A read or write failed: say so (once per kind of failure) in :attr:`problem`."""
        problem = f"{self.not_saving}: {reason(exc)} ({self.location})."
        with self._lock:
            self.problem = problem
            fresh, self._logged = problem != self._logged, problem
            if fresh:
                self._recovery_logged = False
        # One message per kind of failure, not one per entry: a full disk fails every
        # write (and, while small records still fit, the problem comes and goes).
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

    def entries(self, folder: str, suffix: str, leftovers: bool = False) -> list[dict]:
        """Files in ``folder`` ending in ``suffix``; with ``leftovers``, removes abandoned
        temporaries."""
        try:
            infos = self.fs.ls(folder, detail=True)
        except FileNotFoundError:
            return []
        except OSError as exc:
            self.failed(exc)
            return []
        entries, now = [], time.time()
        for info in infos:
            if info.get("type") != "file":
                continue
            name = name_of(info)
            if TMP in name:
                if leftovers and now - mtime_of(info) > self.abandoned_after:
                    self.remove(info["name"])
            elif name.endswith(suffix):
                entries.append(info)
        return entries

    def cat(self, paths: list[str]) -> dict:
        """The contents of ``paths`` (an exception for each one that failed)."""
        return self.fs.cat(paths, on_error="return") if paths else {}

    def remove(self, path: str, quiet: bool = False) -> None:
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            (logger.debug if quiet else logger.warning)("could not remove %s: %s", path, exc)

    def touch(self, path: str) -> bool:
        """Refresh ``path``'s modification time (its recency); False if it cannot."""
        try:
            if isinstance(self.fs, LocalFileSystem):
                os.utime(path)
                return True
            # fsspec's touch of a missing file creates an empty one: an entry that is not.
            if not self.fs.exists(path):
                return False
            self.fs.touch(path, truncate=False)
            return True
        except FileNotFoundError:
            return False
        except (NotImplementedError, ValueError, OSError):
            # This filesystem cannot: eviction falls back to least recently written.
            return False
