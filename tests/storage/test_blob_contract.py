"""One contract, every BlobStore: the local directory and S3 (SeaweedFS) behave the same."""

import gc
import hashlib
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from mirror.config import load_config
from mirror.errors import NotFoundError, StorageError
from mirror.storage import BlobStore, blob_key, open_blob_store
from mirror.storage.fs import FsBlobStore
from tests.support.config_files import write_config
from tests.support.fixtures import S3Bucket

StoreFactory = Callable[[], BlobStore]


@pytest.fixture(params=["fs", pytest.param("s3", marks=pytest.mark.scaled)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    storage: dict[str, object] = {"path": str(tmp_path / "data")}
    if request.param == "s3":
        bucket: S3Bucket = request.getfixturevalue("s3_bucket")
        storage |= bucket.storage_section()
    config = load_config(write_config(tmp_path / "mirror.toml", {"storage": storage}), env={})
    return lambda: open_blob_store(config)


@pytest.fixture
def store(make_store: StoreFactory) -> BlobStore:
    return make_store()


def staged(store: BlobStore, data: bytes) -> Path:
    path = store.staging_dir() / f"test-{hashlib.sha256(data).hexdigest()[:12]}.part"
    path.write_bytes(data)
    return path


def test_put_file_commits_and_consumes_the_staged_file(store: BlobStore) -> None:
    data = os.urandom(1000)
    key = blob_key(hashlib.sha256(data).hexdigest())
    assert not store.exists(key) and store.size(key) is None
    path = staged(store, data)
    store.put_file(key, path)
    assert not path.exists()
    assert store.exists(key) and store.size(key) == len(data)
    with store.open(key) as handle:
        assert handle.read() == data


def test_put_bytes_twice_keeps_one_copy(store: BlobStore) -> None:
    store.put_bytes("blobs/x", b"same")
    store.put_bytes("blobs/x", b"same")
    with store.open("blobs/x") as handle:
        assert handle.read() == b"same"


def test_missing_blob_is_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFoundError):
        store.open("blobs/missing")
    store.delete("blobs/missing")  # absent keys are ignored


def test_delete_removes(store: BlobStore) -> None:
    store.put_bytes("blobs/gone", b"1")
    store.delete("blobs/gone")
    assert not store.exists("blobs/gone")


@pytest.mark.parametrize("key", ["/abs", "a/../b", "", "a//b", "a/./b"])
def test_invalid_keys_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(StorageError, match="invalid blob key"):
        store.put_bytes(key, b"x")


# Small blobs and large ones (S3 keeps the first in memory, streams the second in ranges).
@pytest.mark.parametrize("length", [16 << 10, 600 << 10])
def test_stream_is_seekable_and_ranged(store: BlobStore, length: int) -> None:
    data = os.urandom(length)
    store.put_bytes("blobs/r", data)
    with store.open("blobs/r") as handle:
        assert handle.seekable()
        assert handle.seek(0, io.SEEK_END) == len(data)
        handle.seek(1000)
        assert handle.read(10) == data[1000:1010]
        handle.seek(-6, io.SEEK_END)
        assert handle.read() == data[-6:]
        handle.seek(5)
        assert handle.read(3) == data[5:8]


@pytest.mark.parametrize("padding", [1000, 600_000])
def test_zip_reads_through_the_stream(store: BlobStore, padding: int) -> None:
    # zipfile seeks to the central directory at the end, then to each member.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("demo-1.0.dist-info/METADATA", "Name: demo\n")
        archive.writestr("demo/big.bin", os.urandom(padding))
    store.put_bytes("blobs/w", buffer.getvalue())
    with store.open("blobs/w") as handle, zipfile.ZipFile(handle) as archive:
        assert archive.read("demo-1.0.dist-info/METADATA") == b"Name: demo\n"


def test_check_passes_on_a_usable_store(store: BlobStore) -> None:
    store.check()
    assert store.staging_dir().is_dir()


def test_no_presigned_url_unless_configured(store: BlobStore) -> None:
    store.put_bytes("blobs/p", b"1")
    assert store.presigned_url("blobs/p") is None


HOLD_STAGING = """
import sys
from pathlib import Path
from mirror.config import load_config
from mirror.storage import open_blob_store
store = open_blob_store(load_config(Path(sys.argv[1]), env={}))
print("ready", flush=True)
sys.stdin.read()
"""


def test_what_a_killed_process_left_in_staging_goes_at_the_next_start(
    make_store: StoreFactory, tmp_path: Path
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_STAGING, str(tmp_path / "mirror.toml")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
    staging = make_store().staging_dir()
    names = ["dl-1.part", "inspect-2.part", "put-3", f"{'ab' * 32}.lock"]
    for name in names:
        (staging / name).write_bytes(b"partial")
    # Beside a live process, these may be its downloads in progress: kept.
    make_store()
    assert all((staging / name).exists() for name in names)
    holder.kill()
    holder.wait()
    gc.collect()  # stores of this test that a reference cycle still keeps
    make_store()  # the next start, with nobody else using the folder
    assert not any((staging / name).exists() for name in names)


def test_a_blob_in_a_folder_that_exists_makes_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key's folder is made at its first blob only: a page stored makes no other syscall."""
    store = FsBlobStore(tmp_path / "data")
    made: list[str] = []
    real_mkdir = os.mkdir

    def counted_mkdir(path: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        made.append(os.fspath(path))
        real_mkdir(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "mkdir", counted_mkdir)
    store.put_bytes("blobs/sha256/ab/one", b"one")
    assert made  # blobs/sha256/ab did not exist
    made.clear()
    store.put_bytes("blobs/sha256/ab/two", b"two")
    store.put_file("blobs/sha256/ab/three", staged(store, b"three"))
    assert made == []
    for name, data in (("one", b"one"), ("two", b"two"), ("three", b"three")):
        with store.open(f"blobs/sha256/ab/{name}") as handle:
            assert handle.read() == data
