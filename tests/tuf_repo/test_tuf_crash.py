"""A crash anywhere in publish leaves the last published state valid, and the
next publish goes on with fresh versions (docs/tuf.md, "How changes are published", "one batch, one
snapshot")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest

from tests.tuf_repo.support import TufServer, root_bytes
from tuf_repo.bins import TargetChange
from tuf_repo.client import MirrorClient
from tuf_repo.errors import TargetNotFoundError
from tuf_repo.keys import KeyRing
from tuf_repo.repository import publish
from tuf_repo.store import DirectoryMetadataStore, is_versioned

OLD = "packages/old/old-1.0.tar.gz"
NEW = [f"packages/new{i}/new{i}-1.0.tar.gz" for i in range(40)]


class Crash(Exception):
    pass


class FailingStore(DirectoryMetadataStore):
    """Dies on the n-th file, as a process killed mid-batch would: the files
    of a batch before it are stored."""

    def __init__(self, path: Path, fail_at: int) -> None:
        super().__init__(path)
        self.files_left = fail_at

    def write(self, name: str, data: bytes) -> None:
        if is_versioned(name):
            super().write(name, data)  # through write_many
            return
        if self.files_left == 0:
            raise Crash(name)
        self.files_left -= 1
        super().write(name, data)

    def write_many(self, files: Sequence[tuple[str, bytes]]) -> None:
        stored = files[: self.files_left]
        super().write_many(stored)
        self.files_left -= len(stored)
        if len(stored) < len(files):
            raise Crash(files[len(stored)][0])


def max_versions(store: DirectoryMetadataStore) -> dict[str, int]:
    result: dict[str, int] = {}
    for name in store.list():
        version, _, role = name.partition(".")
        if version.isdigit():
            result[role] = max(result.get(role, 0), int(version))
    return result


def check_fresh_client(server: TufServer, tmp_path: Path, *, new_visible: bool) -> None:
    client = MirrorClient(server.url, root_bytes(server.store), tmp_path / "fresh")
    client.refresh()
    assert client.fetch_bytes(OLD) == b"old"
    if new_visible:
        assert client.fetch_bytes(NEW[0]) == b"new0"
    else:
        with pytest.raises(TargetNotFoundError):
            client.get_targetinfo(NEW[0])


@pytest.fixture
def seeded(server: TufServer, keyring: KeyRing, now: datetime) -> TufServer:
    publish(server.store, keyring, [server.add_target(OLD, b"old")], now)
    return server


@pytest.mark.parametrize("step", ["bins-written", "snapshot-written", "timestamp-written"])
def test_crash_after_each_step(
    seeded: TufServer, keyring: KeyRing, now: datetime, tmp_path: Path, step: str
) -> None:
    changes = [seeded.add_target(p, f"new{i}".encode()) for i, p in enumerate(NEW)]

    def hook(reached: str) -> None:
        if reached == step:
            raise Crash(step)

    with pytest.raises(Crash):
        publish(seeded.store, keyring, changes, now, crash_hook=hook)
    check_fresh_client(seeded, tmp_path / "after-crash", new_visible=step == "timestamp-written")

    store = seeded.store
    assert isinstance(store, DirectoryMetadataStore)
    before = max_versions(store)
    retry = publish(store, keyring, changes, now, force=True)
    assert retry.snapshot_version > before["snapshot.json"]
    assert all(v > before[f"{b}.json"] for b, v in retry.bins.items())
    check_fresh_client(seeded, tmp_path / "after-retry", new_visible=True)


@pytest.mark.parametrize("fail_at", [0, 1, 20, 35])
def test_crash_in_the_middle_of_writing_bins(
    seeded: TufServer, keyring: KeyRing, now: datetime, tmp_path: Path, fail_at: int
) -> None:
    store = seeded.store
    assert isinstance(store, DirectoryMetadataStore)
    changes = [seeded.add_target(p, f"new{i}".encode()) for i, p in enumerate(NEW)]
    with pytest.raises(Crash):
        publish(FailingStore(store.path, fail_at), keyring, changes, now)
    check_fresh_client(seeded, tmp_path / "after-crash", new_visible=False)
    publish(store, keyring, changes, now)
    check_fresh_client(seeded, tmp_path / "after-retry", new_visible=True)


def test_changes_are_applied_to_the_published_state_not_to_orphans(
    seeded: TufServer, keyring: KeyRing, now: datetime, tmp_path: Path
) -> None:
    # A crashed batch's orphan bins must not leak into the next publish.
    crashed = [seeded.add_target(NEW[0], b"new0")]

    def hook(step: str) -> None:
        raise Crash(step)

    with pytest.raises(Crash):
        publish(seeded.store, keyring, crashed, now, crash_hook=hook)
    other = seeded.add_target(NEW[1], b"new1")
    publish(seeded.store, keyring, [other, TargetChange.remove("packages/x/x.whl")], now)
    client = MirrorClient(seeded.url, root_bytes(seeded.store), tmp_path / "c")
    assert client.fetch_bytes(NEW[1]) == b"new1"
    with pytest.raises(TargetNotFoundError):
        client.get_targetinfo(NEW[0])
