"""Where signed metadata lives: a four-method protocol and two implementations.

Names are flat file names as served under ``/tuf/metadata/``:
``<N>.<role>.json`` for every role but timestamp (consistent snapshots), and
``timestamp.json``. Versioned names are immutable: a store refuses to overwrite
one, so a stray second writer fails instead of forking a version.

Not done here: target blobs (the mirror stores them by hash in its blob store)
and locking (the publisher holds a database lock per batch).
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Protocol, runtime_checkable

from tuf_repo.errors import MetadataExistsError

# The only mutable name; everything else carries its version (TUF spec 5.1.3,
# consistent snapshots).
TIMESTAMP_NAME = "timestamp.json"

# Concurrent fsyncs share the filesystem's journal commits (ext4, xfs): a
# publish's 200 bins become durable in a few commits instead of 200.
_SYNC_THREADS = 32

_NAME = re.compile(r"(?:[1-9][0-9]*\.)?[A-Za-z0-9][A-Za-z0-9_-]*\.json")


def check_metadata_name(name: str) -> None:
    """Raise ValueError unless ``name`` is a metadata file name any store may use.

    Names become file names, object keys and URL paths: refuse anything that
    could escape the directory or need quoting.
    """
    if not _NAME.fullmatch(name):
        raise ValueError(f"invalid metadata name {name!r}")


def is_versioned(name: str) -> bool:
    """Return True for ``<N>.<role>.json`` names (immutable once written)."""
    return name != TIMESTAMP_NAME


class MetadataStore(Protocol):
    """Storage for published metadata, used by the repository for all I/O."""

    def read(self, name: str) -> bytes | None:
        """Return the bytes stored under ``name``, or None if absent."""

    def write(self, name: str, data: bytes) -> None:
        """Store ``data`` under ``name`` atomically.

        Raises:
            MetadataExistsError: ``name`` is versioned and already exists.
        """

    def list(self) -> list[str]:
        """Return every stored name."""

    def delete(self, name: str) -> None:
        """Remove ``name``; absent names are ignored."""


@runtime_checkable
class BatchMetadataStore(Protocol):
    """A store that can make many new versioned files durable at once.

    Optional: ``write_all`` uses it when the store has it and otherwise
    writes one file at a time.
    """

    def write_many(self, files: Sequence[tuple[str, bytes]]) -> None:
        """Store every ``(name, data)``; all are durable when this returns.

        Raises:
            ValueError: a name is invalid or not versioned.
            MetadataExistsError: a name already exists; the files before it
                may have been stored, which leaves them unreferenced.
        """


def write_all(store: MetadataStore, files: Sequence[tuple[str, bytes]]) -> None:
    """Store new versioned files, in one batch where the store supports it."""
    if isinstance(store, BatchMetadataStore):
        store.write_many(files)
        return
    for name, data in files:
        store.write(name, data)


_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _sync_pool() -> ThreadPoolExecutor:
    """This process's writer threads: starting a pool per batch cost more than the fsyncs."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():  # threads do not survive a fork
            _pool = (os.getpid(), ThreadPoolExecutor(_SYNC_THREADS, thread_name_prefix="tuf-sync"))
        return _pool[1]


def _check_versioned(name: str) -> None:
    check_metadata_name(name)
    if not is_versioned(name):
        raise ValueError(f"{name} is not versioned: write it on its own")


class DirectoryMetadataStore:
    """Metadata files in one local directory, written crash-safely.

    Each file is written to a temporary file and fsynced first. A versioned
    name is then hard-linked into place, which fails if it exists (no
    overwrite, no check-then-write race), and the directory is fsynced before
    the write returns. ``timestamp.json`` replaces the old one with
    ``os.replace``. So every file the new timestamp refers to is durable
    before the timestamp is, and a power loss cannot leave a timestamp
    pointing at a missing snapshot.

    ``write_many`` stores a batch (a publish's bins) the same way, writing
    and fsyncing the files from a pool of threads so the filesystem flushes
    them in shared journal commits instead of one per file, with one
    directory fsync at the end.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def read(self, name: str) -> bytes | None:
        check_metadata_name(name)
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes) -> None:
        check_metadata_name(name)
        if is_versioned(name):
            self.write_many([(name, data)])
            return
        tmp = self._stage(data)
        try:
            os.replace(tmp, self.path / name)
            tmp = ""
            self._sync_dir()
        finally:
            if tmp:
                os.unlink(tmp)

    def write_many(self, files: Sequence[tuple[str, bytes]]) -> None:
        for name, _ in files:
            _check_versioned(name)
        if not files:
            return
        pool = _sync_pool()
        futures = [pool.submit(self._stage, data) for _, data in files]
        wait(futures)
        staged = [f.result() for f in futures if f.exception() is None]
        try:
            for future in futures:
                future.result()  # the first failure, after collecting what to clean up
            for (name, _), tmp in zip(files, staged, strict=True):
                try:
                    os.link(tmp, self.path / name)
                except FileExistsError:
                    raise MetadataExistsError(f"{name} already exists") from None
            self._sync_dir()
        finally:
            for tmp in staged:
                os.unlink(tmp)

    def _stage(self, data: bytes) -> str:
        """Write ``data`` to a new temporary file in the directory, fsynced;
        return its path."""
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            # Served files are public metadata; mkstemp's 0600 would hide them
            # from a web server running as another user.
            os.chmod(tmp, 0o644)
        except BaseException:
            os.unlink(tmp)
            raise
        return tmp

    def list(self) -> list[str]:
        return [n for n in os.listdir(self.path) if _NAME.fullmatch(n)]

    def delete(self, name: str) -> None:
        check_metadata_name(name)
        (self.path / name).unlink(missing_ok=True)

    def _sync_dir(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
