"""The S3 blob store against a real S3 server (SeaweedFS): multipart, conditional writes,
presigned URLs, and one clear line for each way the bucket can be unusable."""

import hashlib
import os
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from mirror.app import create_app
from mirror.config import Config, load_config
from mirror.errors import ConfigError, StorageError
from mirror.services.backends import Backends
from mirror.storage import blob_key
from mirror.storage.s3 import MULTIPART_THRESHOLD, S3BlobStore
from tests.support.config_files import write_config
from tests.support.fixtures import S3Bucket
from tests.support.ports import free_port
from tests.support.seaweed import aws_env

pytestmark = pytest.mark.scaled


def s3_config(tmp_path: Path, where: S3Bucket, **s3: Any) -> Config:
    storage = {"path": str(tmp_path / "data")} | where.storage_section(**s3)
    return load_config(write_config(tmp_path / "mirror.toml", {"storage": storage}), env={})


@pytest.fixture
def store(tmp_path: Path, s3_bucket: S3Bucket) -> S3BlobStore:
    return S3BlobStore.from_config(s3_config(tmp_path, s3_bucket))


def test_large_file_goes_up_as_multipart_under_the_prefix(
    store: S3BlobStore, s3_bucket: S3Bucket
) -> None:
    data = os.urandom(MULTIPART_THRESHOLD + (3 << 20))
    key = blob_key(hashlib.sha256(data).hexdigest())
    path = store.staging_dir() / "big.part"
    path.write_bytes(data)
    store.put_file(key, path)
    assert s3_bucket.keys() == [key]
    head = s3_bucket.server.client().head_object(
        Bucket=s3_bucket.name, Key=f"{s3_bucket.prefix}/{key}"
    )
    assert "-" in head["ETag"]  # a multipart object's ETag counts its parts
    with store.open(key) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_racing_writer_gets_412_and_the_first_copy_stays(
    store: S3BlobStore, s3_bucket: S3Bucket
) -> None:
    client = s3_bucket.server.client()
    client.put_object(Bucket=s3_bucket.name, Key=f"{s3_bucket.prefix}/blobs/k", Body=b"first")
    store.put_bytes("blobs/k", b"second")
    path = store.staging_dir() / "k.part"
    path.write_bytes(b"third")
    store.put_file("blobs/k", path)
    with store.open("blobs/k") as handle:
        assert handle.read() == b"first"


def test_presigned_url_downloads_the_blob(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    store = S3BlobStore.from_config(s3_config(tmp_path, s3_bucket, presign=True))
    store.put_bytes("blobs/p", b"presigned bytes")
    url = store.presigned_url("blobs/p")
    assert url is not None and url.startswith(s3_bucket.server.endpoint_url)
    with urllib.request.urlopen(url) as response:  # no credentials: the URL carries them
        assert response.read() == b"presigned bytes"


def test_store_without_conditional_writes_falls_back_once(
    store: S3BlobStore, caplog: pytest.LogCaptureFixture
) -> None:
    # No S3 server at hand lacks If-None-Match, so this one answer is stubbed.
    sent: list[str | None] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(params["headers"].get("If-None-Match"))

    # Same pattern as the stubber's own handler (which answers and stops the chain), and earlier.
    store._client.meta.events.register("before-call.*.*", record)
    bucket, key = store.settings.bucket, store.settings.prefix + "blobs/n"
    expected = {"Bucket": bucket, "Key": key, "Body": b"1"}
    with Stubber(store._client) as stub:
        stub.add_client_error(
            "put_object", "NotImplemented", http_status_code=501, expected_params=expected
        )
        stub.add_response("put_object", {}, expected)
        stub.add_response("put_object", {}, expected)
        store.put_bytes("blobs/n", b"1")
        store.put_bytes("blobs/n", b"1")
        stub.assert_no_pending_responses()
    assert sent == ["*", None, None]
    assert caplog.text.count("does not support conditional writes") == 1


def test_missing_bucket_is_one_clear_line(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    store = S3BlobStore.from_config(s3_config(tmp_path, s3_bucket, bucket="no-such-bucket"))
    with pytest.raises(StorageError, match=r"^S3 bucket 'no-such-bucket' does not exist$"):
        store.check()


def test_bad_credentials_are_one_clear_line(
    tmp_path: Path, s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in aws_env(secret_key="wrong-secret").items():
        monkeypatch.setenv(name, value)
    store = S3BlobStore.from_config(s3_config(tmp_path, s3_bucket))
    with pytest.raises(StorageError, match=r"access denied .* \(check the credentials\)") as caught:
        store.check()
    assert "\n" not in str(caught.value)


def test_missing_credentials_are_named(
    tmp_path: Path, s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = S3BlobStore.from_config(s3_config(tmp_path, s3_bucket))
    with pytest.raises(StorageError, match="no AWS credentials found"):
        store.check()


def test_unreachable_endpoint_is_one_clear_line(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = S3BlobStore.from_config(s3_config(tmp_path, s3_bucket, endpoint_url=endpoint))
    with pytest.raises(StorageError, match=f"^cannot reach S3 .* at {endpoint}") as caught:
        store.check()
    assert "\n" not in str(caught.value)


def test_s3_backend_needs_a_bucket(tmp_path: Path, s3_bucket: S3Bucket) -> None:
    with pytest.raises(ConfigError, match=r"storage\.s3\.bucket is empty"):
        s3_config(tmp_path, s3_bucket, bucket="")


def test_readyz_reports_an_unusable_bucket(
    make_backends: Callable[..., Backends], s3_bucket: S3Bucket
) -> None:
    backends = make_backends(storage=s3_bucket.storage_section())
    client = create_app(backends.config, backends).test_client()
    assert client.get("/readyz").status_code == 200
    store = backends.blobs
    assert isinstance(store, S3BlobStore)
    # As if the bucket were deleted under a running node.
    backends.blobs = S3BlobStore(replace(store.settings, bucket="gone-bucket"), store.staging_dir())
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["storage"] == "S3 bucket 'gone-bucket' does not exist"
