"""One contract test for every MetadataStore, plus the directory store's extras."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.support.metadata_store import MemoryMetadataStore
from tuf_repo.errors import MetadataExistsError
from tuf_repo.store import (
    BatchMetadataStore,
    DirectoryMetadataStore,
    MetadataStore,
    write_all,
)


@pytest.fixture(params=["memory", "directory"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> MetadataStore:
    if request.param == "memory":
        return MemoryMetadataStore()
    return DirectoryMetadataStore(tmp_path / "md")


def test_contract(any_store: MetadataStore) -> None:
    assert any_store.read("1.root.json") is None
    any_store.write("1.root.json", b"a")
    any_store.write("3.bin-1a.json", b"b")
    any_store.write("timestamp.json", b"t1")
    assert sorted(any_store.list()) == ["1.root.json", "3.bin-1a.json", "timestamp.json"]
    assert any_store.read("3.bin-1a.json") == b"b"

    with pytest.raises(MetadataExistsError):
        any_store.write("1.root.json", b"other")
    assert any_store.read("1.root.json") == b"a"
    any_store.write("timestamp.json", b"t2")  # the one mutable name
    assert any_store.read("timestamp.json") == b"t2"

    any_store.delete("3.bin-1a.json")
    any_store.delete("3.bin-1a.json")  # absent: ignored
    assert sorted(any_store.list()) == ["1.root.json", "timestamp.json"]


@pytest.mark.parametrize("name", ["../x.json", "a/b.json", "0.root.json", "root", ".tmp.json"])
def test_unsafe_names_refused(any_store: MetadataStore, name: str) -> None:
    with pytest.raises(ValueError):
        any_store.write(name, b"x")


def test_directory_store_leaves_no_temp_files_and_serves_readable_files(tmp_path: Path) -> None:
    store = DirectoryMetadataStore(tmp_path)
    store.write("1.root.json", b"a")
    store.write("timestamp.json", b"t")
    with pytest.raises(MetadataExistsError):
        store.write("1.root.json", b"b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.root.json", "timestamp.json"]
    assert stat.S_IMODE((tmp_path / "1.root.json").stat().st_mode) == 0o644


@pytest.mark.parametrize("kind", ["memory", "directory"])
def test_write_all_stores_a_batch_and_refuses_existing_names(tmp_path: Path, kind: str) -> None:
    store: MetadataStore = (
        MemoryMetadataStore() if kind == "memory" else DirectoryMetadataStore(tmp_path / "md")
    )
    batch = [(f"2.bin-{i:02x}.json", f"bin {i}".encode()) for i in range(40)]
    write_all(store, batch)
    assert sorted(store.list()) == sorted(name for name, _ in batch)
    assert all(store.read(name) == data for name, data in batch)
    with pytest.raises(MetadataExistsError):
        write_all(store, [("3.bin-00.json", b"new"), ("2.bin-01.json", b"other")])
    assert store.read("2.bin-01.json") == b"bin 1"


def test_directory_batch_refuses_the_mutable_name_and_cleans_up(tmp_path: Path) -> None:
    store = DirectoryMetadataStore(tmp_path / "md")
    with pytest.raises(ValueError, match="not versioned"):
        store.write_many([("1.bin-00.json", b"a"), ("timestamp.json", b"t")])
    store.write_many([("1.bin-00.json", b"a")])
    with pytest.raises(MetadataExistsError):
        store.write_many([("1.bin-01.json", b"b"), ("1.bin-00.json", b"c")])
    assert sorted(p.name for p in store.path.iterdir()) == ["1.bin-00.json", "1.bin-01.json"]
    assert isinstance(store, BatchMetadataStore)
    assert not isinstance(MemoryMetadataStore(), BatchMetadataStore)
