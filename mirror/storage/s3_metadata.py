"""Signed TUF metadata in an S3 bucket (AWS or any S3-compatible store) via boto3."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mirror.config import Config
from mirror.errors import StorageError
from mirror.lru import ByteBudgetLRU
from mirror.storage.s3_client import (
    NOT_FOUND,
    NOT_IMPLEMENTED,
    PRECONDITION_FAILED,
    S3Settings,
    describe,
    error_code,
    make_client,
)
from tuf_repo.errors import MetadataExistsError
from tuf_repo.store import check_metadata_name, is_versioned

log = logging.getLogger(__name__)


class S3MetadataStore:
    """Signed TUF metadata in the bucket, under ``<prefix>tuf/metadata/`` (tuf_repo's
    ``MetadataStore`` protocol), so every node serves what the one publisher wrote.

    Versioned names are written with ``If-None-Match: *``: besides the publish lock, the store
    itself refuses a second writer of the same version (412 becomes ``MetadataExistsError``).
    ``timestamp.json`` is replaced by a plain PUT, which S3 applies atomically. A store without
    conditional writes falls back to a check before the write, which only the lock makes safe.
    """

    AREA = "tuf/metadata/"
    # Versioned files never change, so reads of them are cached: a worker cycle reads every bin
    # and the snapshot (renewal, status), and web nodes serve the same files again and again.
    # About 6.6 KB each: 32 MB hold 256 bins several versions deep.
    CACHE_BYTES = 32 << 20

    def __init__(self, settings: S3Settings, client: Any | None = None) -> None:
        self.settings = settings
        # Not the blob store's client: its hook would make the timestamp write conditional too.
        self._client = client or make_client(settings)
        self._conditional = True
        self._cache = ByteBudgetLRU(self.CACHE_BYTES)

    @classmethod
    def from_config(cls, config: Config) -> S3MetadataStore:
        return cls(S3Settings.from_config(config))

    def _key(self, name: str) -> str:
        check_metadata_name(name)
        return f"{self.settings.prefix}{self.AREA}{name}"

    def _fail(self, action: str, name: str, exc: Exception) -> StorageError:
        where = self.settings.where(self.AREA + name)
        return StorageError(f"S3 {action} {where} failed: {describe(exc)}")

    def read(self, name: str) -> bytes | None:
        key = self._key(name)
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        data = self._get(name, key)
        if data is not None and is_versioned(name):
            self._cache.put(name, data)
        return data

    def _get(self, name: str, key: str) -> bytes | None:
        try:
            response = self._client.get_object(Bucket=self.settings.bucket, Key=key)
            return bytes(response["Body"].read())
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                return None
            raise self._fail("get", name, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("get", name, exc) from exc

    def write(self, name: str, data: bytes) -> None:
        key = self._key(name)
        try:
            if not is_versioned(name):
                self._client.put_object(Bucket=self.settings.bucket, Key=key, Body=data)
            elif self._conditional:
                self._put_new(name, key, data)
            else:
                self._check_absent(name)
                self._client.put_object(Bucket=self.settings.bucket, Key=key, Body=data)
        except ClientError as exc:
            raise self._fail("put", name, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("put", name, exc) from exc
        if is_versioned(name):
            self._cache.put(name, bytes(data))

    def _put_new(self, name: str, key: str, data: bytes) -> None:
        try:
            self._client.put_object(
                Bucket=self.settings.bucket, Key=key, Body=data, IfNoneMatch="*"
            )
        except ClientError as exc:
            code = error_code(exc)
            if code in PRECONDITION_FAILED:
                raise MetadataExistsError(f"{name} already exists") from exc
            if code not in NOT_IMPLEMENTED:
                raise
            log.warning(
                "S3 store does not support conditional writes; relying on the publish lock",
                extra={"bucket": self.settings.bucket},
            )
            self._conditional = False
            self.write(name, data)

    def _check_absent(self, name: str) -> None:
        if self.read(name) is not None:
            raise MetadataExistsError(f"{name} already exists")

    def list(self) -> list[str]:
        start = f"{self.settings.prefix}{self.AREA}"
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            pages = paginator.paginate(Bucket=self.settings.bucket, Prefix=start)
            keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("list", "", exc) from exc
        return [key[len(start) :] for key in keys if _is_metadata_name(key[len(start) :])]

    def delete(self, name: str) -> None:
        self._cache.pop(name)
        try:
            self._client.delete_object(Bucket=self.settings.bucket, Key=self._key(name))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("delete", name, exc) from exc


def _is_metadata_name(name: str) -> bool:
    try:
        check_metadata_name(name)
    except ValueError:
        return False
    return True
