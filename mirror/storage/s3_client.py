"""The S3 connection both stores share: ``[storage.s3]`` settings, the boto3 client, and
one-line descriptions of its errors. Credentials come from boto3's usual chain (environment,
shared config, instance role)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError, NoCredentialsError

from mirror.config import Config

NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
PRECONDITION_FAILED = {"412", "PreconditionFailed", "ConditionalRequestConflict"}
NOT_IMPLEMENTED = {"501", "NotImplemented"}


@dataclass(frozen=True)
class S3Settings:
    """``[storage.s3]`` in the configuration."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    presign: bool = False

    @classmethod
    def from_config(cls, config: Config) -> S3Settings:
        s3 = config.storage.s3
        prefix = s3.prefix.strip("/")
        return cls(
            bucket=s3.bucket,
            prefix=f"{prefix}/" if prefix else "",
            endpoint_url=s3.endpoint_url or None,
            region=s3.region or None,
            presign=s3.presign,
        )

    def where(self, key: str = "") -> str:
        endpoint = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{key}{endpoint}"


# Every client loads the S3 service model (about 0.4 s); one loader per process caches it.
# Each client still gets its own session, so credentials are resolved afresh for each store.
_LOADER = botocore.loaders.create_loader()


def make_client(settings: S3Settings) -> Any:
    """A thread-safe S3 client; credentials come from boto3's usual chain."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return boto3.session.Session(botocore_session=core).client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        config=BotoConfig(
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=5,
            read_timeout=60,
            # gunicorn threads and upload threads share one connection pool per process.
            max_pool_connections=32,
        ),
    )


def describe(exc: Exception) -> str:
    """One short line for a boto error: the S3 error code and message, or the transport error."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = error.get("Message") or ""
        return f"{code} {message}".strip()
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found (environment, shared config or instance role)"
    return str(exc)


def error_code(exc: ClientError) -> str:
    code = exc.response.get("Error", {}).get("Code")
    return str(code or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
