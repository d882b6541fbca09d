"""The S3 metadata store meets tuf_repo's MetadataStore contract on a real S3 server."""

from pathlib import Path

import pytest

from mirror.config import load_config
from mirror.storage import open_metadata_store
from mirror.storage.s3_metadata import S3MetadataStore
from tests.support.config_files import write_config
from tests.support.fixtures import S3Bucket
from tests.tuf_repo import test_tuf_store as contract
from tuf_repo.errors import MetadataExistsError

pytestmark = pytest.mark.scaled


@pytest.fixture
def store(tmp_path: Path, s3_bucket: S3Bucket) -> S3MetadataStore:
    storage = {"path": str(tmp_path / "data")} | s3_bucket.storage_section()
    config = load_config(write_config(tmp_path / "mirror.toml", {"storage": storage}), env={})
    store = open_metadata_store(config)
    assert isinstance(store, S3MetadataStore)
    return store


def test_contract(store: S3MetadataStore, s3_bucket: S3Bucket) -> None:
    contract.test_contract(store)
    assert s3_bucket.keys("tuf/") == ["tuf/metadata/1.root.json", "tuf/metadata/timestamp.json"]


@pytest.mark.parametrize("name", ["../x.json", "a/b.json", "0.root.json", "root"])
def test_unsafe_names_refused(store: S3MetadataStore, name: str) -> None:
    with pytest.raises(ValueError):
        store.write(name, b"x")


def test_a_stray_second_writer_gets_refused_by_the_store(
    store: S3MetadataStore, s3_bucket: S3Bucket
) -> None:
    # Another process wrote version 2 of the snapshot between our read and our write.
    client = s3_bucket.server.client()
    key = f"{s3_bucket.prefix}/tuf/metadata/2.snapshot.json"
    client.put_object(Bucket=s3_bucket.name, Key=key, Body=b"theirs")
    with pytest.raises(MetadataExistsError):
        store.write("2.snapshot.json", b"ours")
    assert store.read("2.snapshot.json") == b"theirs"


def test_versioned_reads_are_cached_and_the_timestamp_is_always_fresh(
    store: S3MetadataStore, s3_bucket: S3Bucket
) -> None:
    gets: list[str] = []
    store._client.meta.events.register(
        "before-call.s3.GetObject", lambda params, **_: gets.append(params["url_path"])
    )
    store.write("1.root.json", b"root")
    store.write("timestamp.json", b"t1")
    assert [store.read("1.root.json") for _ in range(3)] == [b"root"] * 3
    client = s3_bucket.server.client()
    key = f"{s3_bucket.prefix}/tuf/metadata/timestamp.json"
    client.put_object(Bucket=s3_bucket.name, Key=key, Body=b"t2")  # the publisher, elsewhere
    assert store.read("timestamp.json") == b"t2"
    assert len(gets) == 1 and gets[0].endswith("timestamp.json")
    store.delete("1.root.json")
    assert store.read("1.root.json") is None
