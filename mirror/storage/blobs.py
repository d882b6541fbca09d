"""The ``BlobStore`` protocol and the keys blobs are stored under.

Content-addressed blobs (``blob_key``) are written once, after verification, so the same
bytes serve the file URL and the TUF target URL.
"""

import hashlib
from pathlib import Path
from typing import BinaryIO, Protocol

from mirror.errors import StorageError


class BlobStore(Protocol):
    """Where bytes live. Writes are all-or-nothing: readers never see a partial object.

    A key names immutable content: writing a key that exists keeps one copy of the same bytes.
    """

    def check(self) -> None:
        """Raise ``StorageError`` with one clear line when the store is unusable."""

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int | None:
        """Length in bytes, or None when absent."""

    def open(self, key: str) -> BinaryIO:
        """A readable, seekable stream that never loads the whole blob into memory.

        Raises ``NotFoundError`` when absent.
        """

    def local_path(self, key: str) -> Path | None:
        """A filesystem path for zero-copy serving, when the store has one."""

    def presigned_url(self, key: str) -> str | None:
        """A time-limited URL a client may download ``key`` from directly, when configured."""

    def put_file(self, key: str, path: Path) -> None:
        """Commit a finished, verified local file under ``key`` (the file is consumed)."""

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def delete(self, key: str) -> None: ...

    def staging_dir(self) -> Path:
        """A local folder for downloads in progress (same filesystem as the store if any)."""


def check_key(key: str) -> str:
    """``key`` if it is a relative path of plain segments; keys become file paths and URLs."""
    if key.startswith("/") or any(part in {"", ".", ".."} for part in key.split("/")):
        raise StorageError(f"invalid blob key {key!r}")
    return key


def blob_key(sha256: str) -> str:
    return f"blobs/sha256/{sha256[:2]}/{sha256}"


def store_bytes(blobs: BlobStore, data: bytes) -> str:
    """Keep small bytes the mirror made or verified itself (a page, a provenance copy) under
    their sha256, once; returns the digest."""
    digest = hashlib.sha256(data).hexdigest()
    key = blob_key(digest)
    if not blobs.exists(key):
        blobs.put_bytes(key, data)
    return digest
