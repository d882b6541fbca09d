"""Blobs in a local directory (the embedded default).

Writes go to a temporary file in the same filesystem and are renamed into place, which is
atomic: a crash leaves either the old state or the new one, plus at most a stray temp file.
"""

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from mirror.errors import NotFoundError, StorageError
from mirror.storage import staging
from mirror.storage.blobs import check_key


class FsBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._staging = root / "tmp"
        try:
            self._staging.mkdir(parents=True, exist_ok=True)
            # Held while this store is open (mirror/storage/staging.py).
            self._in_use = staging.claim(self._staging)
        except OSError as exc:
            raise StorageError(f"cannot create data directory {root}: {exc.strerror}") from exc

    def check(self) -> None:
        if not self._staging.is_dir():
            raise StorageError(f"staging folder {self._staging} missing")
        if not os.access(self._staging, os.W_OK):
            raise StorageError(f"data directory {self.root} is not writable")

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"blob {key} not found") from exc

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def presigned_url(self, key: str) -> str | None:
        return None

    def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        os.chmod(path, 0o644)
        try:
            os.replace(path, target)
        except FileNotFoundError:
            # The key's folder is made by its first blob: most exist, and the rename says so.
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)

    def put_bytes(self, key: str, data: bytes) -> None:
        fd, name = tempfile.mkstemp(dir=self._staging, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            self.put_file(key, Path(name))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()

    def staging_dir(self) -> Path:
        return self._staging
