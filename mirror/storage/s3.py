"""Blobs in an S3 bucket (AWS or any S3-compatible store) via boto3.

Writes are verified-then-committed: ``put_file`` uploads a finished local file whose bytes were
already checked against their sha256, and the object appears under its final key only when the
upload completes (one PUT, or CompleteMultipartUpload for large files), so a reader never sees
a partial object. Keys name immutable content, so every write is conditional
(``If-None-Match: *``): when two nodes race to store the same blob, the second gets 412 and
keeps the first copy, which holds the same bytes. Stores that do not implement conditional
writes answer 501; the store then falls back to plain writes and says so once in the log.

Reads stream: ``open`` returns a seekable reader that issues ranged GETs lazily, so a 2 GB
file never sits in memory, ``zipfile`` can seek to the central directory, and an HTTP Range
request costs one ranged GET.

Signed TUF metadata lives in the same bucket (``s3_metadata``); the connection and its
credentials are ``s3_client``'s. Not done here: bucket creation, lifecycle rules (configure
``AbortIncompleteMultipartUpload`` on the bucket so parts of uploads cut off by a killed
process are removed).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.exceptions import BotoCoreError, ClientError

from mirror.config import Config
from mirror.errors import NotFoundError, StorageError
from mirror.lru import ByteBudgetLRU
from mirror.seekable import OffsetReader
from mirror.storage import staging as staging_folder
from mirror.storage.blobs import check_key
from mirror.storage.s3_client import (
    NOT_FOUND,
    NOT_IMPLEMENTED,
    PRECONDITION_FAILED,
    S3Settings,
    describe,
    error_code,
    make_client,
)

log = logging.getLogger(__name__)

# Files above this go up as multipart, in parts of this size, a few at a time.
MULTIPART_THRESHOLD = 16 << 20
PART_SIZE = 16 << 20
UPLOAD_THREADS = 4
# How long a presigned download URL stays valid; the download only has to start within it.
PRESIGN_SECONDS = 300
# Read-ahead of the streaming reader: big enough to keep S3 busy, small enough to hold per request.
READ_BUFFER = 1 << 20
# Blobs up to this size are read whole and kept in a per-process cache of this many bytes.
SMALL_BLOB = 256 << 10
SMALL_CACHE_BYTES = 64 << 20


class S3BlobStore:
    def __init__(self, settings: S3Settings, staging: Path, client: Any | None = None) -> None:
        self.settings = settings
        self._client = client or make_client(settings)
        self._conditional = True
        self._staging = staging
        # Keys name immutable content, so small blobs (pages, .metadata files) are kept in
        # memory once read: a warm /simple/ page then costs no S3 request at all.
        self._small = ByteBudgetLRU(SMALL_CACHE_BYTES)
        try:
            self._staging.mkdir(parents=True, exist_ok=True)
            # Held while this store is open (mirror/storage/staging.py).
            self._in_use = staging_folder.claim(self._staging)
        except OSError as exc:
            raise StorageError(f"cannot create staging folder {staging}: {exc.strerror}") from exc
        # The transfer manager (multipart, threads) takes no If-None-Match argument, so a hook
        # adds it to the two calls that create the object.
        events = self._client.meta.events
        events.register("before-parameter-build.s3.PutObject", self._create_only)
        events.register("before-parameter-build.s3.CompleteMultipartUpload", self._create_only)

    @classmethod
    def from_config(cls, config: Config) -> S3BlobStore:
        return cls(S3Settings.from_config(config), config.data_dir / "tmp")

    def _key(self, key: str) -> str:
        return self.settings.prefix + check_key(key)

    def _create_only(self, params: dict[str, Any], **_: Any) -> None:
        if self._conditional:
            params.setdefault("IfNoneMatch", "*")

    @contextlib.contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        try:
            yield
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                raise NotFoundError(f"blob {key} not found") from exc
            raise StorageError(self._failed(action, key, exc)) from exc
        except BotoCoreError as exc:
            raise StorageError(self._failed(action, key, exc)) from exc

    def _failed(self, action: str, key: str, exc: Exception) -> str:
        return f"S3 {action} {self.settings.where(key)} failed: {describe(exc)}"

    def check(self) -> None:
        """Fail with one clear line when the bucket is unreachable, missing or forbidden."""
        where = self.settings.where()
        try:
            self._client.head_bucket(Bucket=self.settings.bucket)
        except ClientError as exc:
            code = error_code(exc)
            if code in NOT_FOUND or code == "NoSuchBucket":
                raise StorageError(f"S3 bucket {self.settings.bucket!r} does not exist") from exc
            if code in {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
                raise StorageError(
                    f"S3 access denied to {where} (check the credentials): {describe(exc)}"
                ) from exc
            raise StorageError(f"S3 {where} unusable: {describe(exc)}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"cannot reach S3 {where}: {describe(exc)}") from exc

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def size(self, key: str) -> int | None:
        data = self._small.get(key)
        if data is not None:
            return len(data)
        try:
            with self._errors("head", key):
                head = self._client.head_object(Bucket=self.settings.bucket, Key=self._key(key))
        except NotFoundError:
            return None
        return int(head["ContentLength"])

    def open(self, key: str) -> BinaryIO:
        data = self._small.get(key)
        if data is not None:
            return io.BytesIO(data)
        # One GET, not a HEAD first: its headers give the size, its body the first bytes.
        with self._errors("get", key):
            response = self._client.get_object(Bucket=self.settings.bucket, Key=self._key(key))
        size = int(response["ContentLength"])
        if size <= SMALL_BLOB:
            with self._errors("get", key):
                data = response["Body"].read()
            self._small.put(key, data)
            return io.BytesIO(data)
        reader = _RangeReader(self._get_range, key, size, response["Body"])
        return io.BufferedReader(reader, buffer_size=READ_BUFFER)  # type: ignore[return-value]

    def _get_range(self, key: str, start: int) -> Any:
        with self._errors("get", key):
            response = self._client.get_object(
                Bucket=self.settings.bucket, Key=self._key(key), Range=f"bytes={start}-"
            )
        return response["Body"]

    def local_path(self, key: str) -> Path | None:
        return None

    def presigned_url(self, key: str) -> str | None:
        """A time-limited GET URL for ``key`` when ``storage.s3.presign`` is on."""
        if not self.settings.presign:
            return None
        with self._errors("presign", key):
            return str(
                self._client.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": self.settings.bucket, "Key": self._key(key)},
                    ExpiresIn=PRESIGN_SECONDS,
                )
            )

    def put_file(self, key: str, path: Path) -> None:
        try:
            self._create(key, lambda: self._upload(key, path))
        finally:
            path.unlink(missing_ok=True)

    def _upload(self, key: str, path: Path) -> None:
        config = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=PART_SIZE,
            max_concurrency=UPLOAD_THREADS,
        )
        with create_transfer_manager(self._client, config) as manager:
            manager.upload(os.fspath(path), self.settings.bucket, self._key(key)).result()

    def put_bytes(self, key: str, data: bytes) -> None:
        bucket, name = self.settings.bucket, self._key(key)
        self._create(key, lambda: self._client.put_object(Bucket=bucket, Key=name, Body=data))

    def _create(self, key: str, write: Callable[[], Any]) -> None:
        with self._errors("put", key):
            try:
                write()
            except ClientError as exc:
                code = error_code(exc)
                if code in PRECONDITION_FAILED:
                    # Another writer stored this key first; keys name content, so it is ours too.
                    return
                if code not in NOT_IMPLEMENTED or not self._conditional:
                    raise
                log.warning(
                    "S3 store does not support conditional writes; writing unconditionally",
                    extra={"bucket": self.settings.bucket},
                )
                self._conditional = False
                write()

    def delete(self, key: str) -> None:
        self._small.pop(key)
        with self._errors("delete", key):
            self._client.delete_object(Bucket=self.settings.bucket, Key=self._key(key))

    def staging_dir(self) -> Path:
        return self._staging


class _RangeReader(OffsetReader):
    """A seekable view of one object: reads stream from one GET until a read needs bytes
    somewhere else; only then is the GET dropped and a ranged one opened there (a seek to the
    end for the size and back costs nothing)."""

    def __init__(
        self, get_range: Callable[[str, int], Any], key: str, size: int, body: Any = None
    ) -> None:
        super().__init__(size)
        self._get_range = get_range
        self._key = key
        self._body = body
        self._body_position = 0

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self._size - self._position)
        if wanted <= 0:
            return 0
        if self._body is not None and self._body_position != self._position:
            self._drop_body()
        if self._body is None:
            self._body = self._get_range(self._key, self._position)
            self._body_position = self._position
        try:
            data = self._body.read(wanted)
        except BotoCoreError as exc:  # a dropped connection or a timeout mid-object
            self._drop_body()
            raise StorageError(f"reading blob {self._key} failed: {describe(exc)}") from exc
        if not data:
            raise StorageError(f"blob {self._key} ended early at byte {self._position}")
        buffer[: len(data)] = data
        self._position += len(data)
        self._body_position = self._position
        return len(data)

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop_body()
        super().close()
