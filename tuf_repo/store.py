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
from pathlib import Path
from typing import Protocol

from tuf_repo.errors import MetadataExistsError

# The only mutable name; everything else carries its version (TUF spec 5.1.3,
# consistent snapshots).
TIMESTAMP_NAME = "timestamp.json"

_NAME = re.compile(r"(?:[1-9][0-9]*\.)?[A-Za-z0-9][A-Za-z0-9_-]*\.json")


def _check_name(name: str) -> None:
    # Names become file names and URL paths: refuse anything that could
    # escape the directory or need quoting.
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


class MemoryMetadataStore:
    """A dict-backed store for tests and benchmarks."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def read(self, name: str) -> bytes | None:
        return self.files.get(name)

    def write(self, name: str, data: bytes) -> None:
        _check_name(name)
        if is_versioned(name) and name in self.files:
            raise MetadataExistsError(f"{name} already exists")
        self.files[name] = bytes(data)

    def list(self) -> list[str]:
        return list(self.files)

    def delete(self, name: str) -> None:
        self.files.pop(name, None)


class DirectoryMetadataStore:
    """Metadata files in one local directory, written crash-safely.

    Each file is written to a temporary file and fsynced first. A versioned
    name is then hard-linked into place, which fails if it exists (no
    overwrite, no check-then-write race). ``timestamp.json`` replaces the old
    one with ``os.replace``, after an fsync of the directory: every file the
    new timestamp refers to is durable before the timestamp is, so a power
    loss cannot leave a timestamp pointing at a missing snapshot.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def read(self, name: str) -> bytes | None:
        _check_name(name)
        try:
            return (self.path / name).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, name: str, data: bytes) -> None:
        _check_name(name)
        target = self.path / name
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            # Served files are public metadata; mkstemp's 0600 would hide them
            # from a web server running as another user.
            os.chmod(tmp, 0o644)
            if is_versioned(name):
                try:
                    os.link(tmp, target)
                except FileExistsError:
                    raise MetadataExistsError(f"{name} already exists") from None
            else:
                self._sync_dir()
                os.replace(tmp, target)
                tmp = ""
                self._sync_dir()
        finally:
            if tmp:
                os.unlink(tmp)

    def list(self) -> list[str]:
        return [n for n in os.listdir(self.path) if _NAME.fullmatch(n)]

    def delete(self, name: str) -> None:
        _check_name(name)
        (self.path / name).unlink(missing_ok=True)

    def _sync_dir(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
