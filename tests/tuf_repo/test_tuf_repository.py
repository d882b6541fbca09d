"""Repository operations, checked with python-tuf's own client and metadata API."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Root

from tests.support.metadata_store import MemoryMetadataStore
from tests.tuf_repo.support import TufServer, make_keyring, refreshed_updater, root_bytes
from tuf_repo.bins import TargetChange, bin_for_path
from tuf_repo.errors import MissingKeyError, RepositoryStateError, SigningError
from tuf_repo.keys import KeyRing
from tuf_repo.repository import (
    MirrorRepository,
    bootstrap,
    publish,
    refresh_timestamp,
    renew,
    status,
)
from tuf_repo.store import DirectoryMetadataStore, MetadataStore

WHEEL = "packages/demo/demo-1.0-py3-none-any.whl"


def change(path: str = WHEEL, data: bytes = b"wheel bytes") -> TargetChange:
    return TargetChange.add(path, len(data), hashlib.sha256(data).hexdigest())


def load(store: MetadataStore, name: str) -> Metadata[Any]:
    data = store.read(name)
    assert data is not None, name
    return Metadata.from_bytes(data)


def versions(store: MetadataStore, role: str) -> list[int]:
    return sorted(int(n.split(".")[0]) for n in store.list() if n.endswith(f".{role}.json"))


def test_bootstrap_creates_every_role_and_256_empty_bins(repo: DirectoryMetadataStore) -> None:
    names = repo.list()
    assert len(names) == 4 + 256 + 1
    root = Metadata[Root].from_bytes(root_bytes(repo)).signed
    assert root.consistent_snapshot
    targets = load(repo, "1.targets.json").signed
    assert targets.delegations is not None and targets.delegations.roles is not None
    bins_role = targets.delegations.roles["bins"]
    assert bins_role.terminating and bins_role.paths == ["packages/*/*", "simple/*/*"]
    assert load(repo, "1.bin-88.json").signed.targets == {}
    snapshot = json.loads(repo.read("1.snapshot.json") or b"")["signed"]
    assert len(snapshot["meta"]) == 2 + 256


def test_expiries_follow_the_design(repo: DirectoryMetadataStore, now: datetime) -> None:
    now = now.replace(microsecond=0)
    for name, days in [
        ("1.root.json", 365),
        ("1.targets.json", 365),
        ("1.bins.json", 365),
        ("1.bin-00.json", 1),
        ("1.snapshot.json", 1),
        ("timestamp.json", 1),
    ]:
        assert load(repo, name).signed.expires == now + timedelta(days=days), name


def test_bootstrap_refuses_a_non_empty_store(
    repo: DirectoryMetadataStore, keyring: KeyRing, now: datetime
) -> None:
    with pytest.raises(RepositoryStateError, match="not empty"):
        bootstrap(repo, keyring, now)


def test_bootstrap_needs_offline_keys(now: datetime) -> None:
    ring = make_keyring()
    with pytest.raises(MissingKeyError, match="targets"):
        bootstrap(MemoryMetadataStore(), KeyRing(ring.online, ring.root), now)


def test_publish_then_plain_updater_downloads(
    server: TufServer, keyring: KeyRing, now: datetime, tmp_path: Path
) -> None:
    result = publish(server.store, keyring, [server.add_target(WHEEL, b"wheel bytes")], now)
    assert result.published and result.bins == {"bin-88": 2}
    assert (result.snapshot_version, result.timestamp_version) == (2, 2)

    updater = refreshed_updater(server, tmp_path)
    info = updater.get_targetinfo(WHEEL)
    assert info is not None
    path = updater.download_target(info, filepath=str(tmp_path / "demo.whl"))
    assert Path(path).read_bytes() == b"wheel bytes"
    assert updater.get_targetinfo("packages/demo/absent.whl") is None


def test_versions_strictly_increase_and_no_op_publishes_nothing(
    repo: DirectoryMetadataStore, keyring: KeyRing, now: datetime
) -> None:
    first = publish(repo, keyring, [change()], now)
    assert not publish(repo, keyring, [], now).published
    # Re-adding identical bytes or removing what is absent changes no bin.
    again = publish(repo, keyring, [change(), TargetChange.remove("packages/x/x.whl")], now)
    assert not again.published and again.snapshot_version == first.snapshot_version
    forced = publish(repo, keyring, [], now, force=True)
    assert forced.published and forced.bins == {}
    assert forced.snapshot_version == first.snapshot_version + 1
    removed = publish(repo, keyring, [TargetChange.remove(WHEEL)], now)
    assert removed.bins == {"bin-88": 3}
    assert versions(repo, "snapshot") == [1, 2, 3, 4]
    assert load(repo, "3.bin-88.json").signed.targets == {}


def test_one_batch_touches_each_bin_once(
    repo: DirectoryMetadataStore, keyring: KeyRing, now: datetime
) -> None:
    changes = [change(f"packages/p{i}/p{i}-1.0.tar.gz", str(i).encode()) for i in range(300)]
    result = publish(repo, keyring, changes, now)
    assert set(result.bins) == {bin_for_path(c.path) for c in changes}
    assert set(result.bins.values()) == {2}
    assert result.snapshot_version == 2


def test_publish_before_bootstrap_fails(keyring: KeyRing, now: datetime) -> None:
    with pytest.raises(RepositoryStateError, match="bootstrapped"):
        publish(MemoryMetadataStore(), keyring, [change()], now)


def test_signature_is_checked_before_writing(
    repo: DirectoryMetadataStore, keyring: KeyRing, now: datetime
) -> None:
    wrong = KeyRing(CryptoSigner.generate_ed25519(), keyring.root, 1, keyring.targets, keyring.bins)
    before = sorted(repo.list())
    with pytest.raises(SigningError, match="bin-88"):
        publish(repo, wrong, [change()], now)
    assert sorted(repo.list()) == before


def test_naive_now_is_refused(repo: DirectoryMetadataStore, keyring: KeyRing) -> None:
    with pytest.raises(ValueError, match="timezone"):
        publish(repo, keyring, [change()], datetime(2030, 1, 1))


def test_refresh_timestamp_only_when_old(
    repo: DirectoryMetadataStore, keyring: KeyRing, now: datetime
) -> None:
    assert not refresh_timestamp(repo, keyring, now + timedelta(minutes=59))
    assert refresh_timestamp(repo, keyring, now + timedelta(minutes=61))
    timestamp = load(repo, "timestamp.json").signed
    assert timestamp.version == 2
    assert timestamp.snapshot_meta.version == 1  # same snapshot, fresh signature


def test_renew_re_signs_expiring_online_roles_in_one_batch(
    repo: DirectoryMetadataStore, keyring: KeyRing, now: datetime
) -> None:
    publish(repo, keyring, [change()], now + timedelta(hours=6))
    # 13 h later bin-88 (signed at +6 h) still has 17 h left; the rest have 11 h.
    renewed = renew(repo, keyring, now + timedelta(hours=13))
    assert "bin-88" not in renewed and "bin-00" in renewed
    assert renewed[-2:] == ["snapshot", "timestamp"]
    assert len(renewed) == 255 + 2
    assert versions(repo, "snapshot") == [1, 2, 3]
    assert renew(repo, keyring, now + timedelta(hours=14)) == []


def test_renew_offline_roles_only_with_their_keys(
    repo: DirectoryMetadataStore, keyring: KeyRing, now: datetime
) -> None:
    later = now + timedelta(days=340)  # 25 days left on root, targets, bins
    online_only = KeyRing(keyring.online)
    assert not {"root", "targets", "bins"} & set(renew(repo, online_only, later))
    assert {"root", "targets", "bins"} <= set(renew(repo, keyring, later))
    assert versions(repo, "root") == [1, 2]


def test_status_alerts(repo: DirectoryMetadataStore, keyring: KeyRing, now: datetime) -> None:
    fresh = status(repo, now)
    assert fresh.alerts == []
    assert [r.role for r in fresh.roles][:5] == ["root", "targets", "bins", "snapshot", "timestamp"]
    assert fresh.roles[-1].role.startswith("bin-")

    stale = status(repo, now + timedelta(hours=3))
    assert any("timestamp is 3:00" in a for a in stale.alerts)
    late = status(repo, now + timedelta(days=340))
    assert any(a.startswith("root expires in 2") for a in late.alerts)
    assert any("expired" in a for a in late.alerts)


def test_stored_metadata_round_trips_through_python_tuf(
    repo: DirectoryMetadataStore, keyring: KeyRing, now: datetime
) -> None:
    publish(repo, keyring, [change()], now)
    bins = load(repo, "1.bins.json").signed
    md = load(repo, "2.bin-88.json")
    bins.verify_delegate("bin-88", md.signed_bytes, md.signatures)


def test_repository_reads_each_role_once(
    repo: DirectoryMetadataStore, keyring: KeyRing, now: datetime
) -> None:
    reads: list[str] = []

    class Counting(DirectoryMetadataStore):
        def read(self, name: str) -> bytes | None:
            reads.append(name)
            return super().read(name)

    counting = Counting(repo.path)
    r = MirrorRepository(counting, keyring, now)
    r.targets("bin-88")
    r.targets("bin-88")
    r.snapshot()
    assert reads == ["timestamp.json", "1.snapshot.json", "1.bin-88.json"]


def test_next_versions_follow_the_store_listed_whatever_was_listed_before(
    keyring: KeyRing, now: datetime
) -> None:
    # Two stores listed in turn, one growing, one smaller: each numbers from its own files.
    big, small = MemoryMetadataStore(), MemoryMetadataStore()
    bootstrap(big, keyring, now, 3)
    bootstrap(small, keyring, now, 3)
    for expected in (2, 3, 4):
        assert publish(big, keyring, [], now, force=True).snapshot_version == expected
    assert publish(small, keyring, [], now, force=True).snapshot_version == 2
    big.write("9.snapshot.json", b"{}")  # left by a crashed publish: never reused
    assert publish(big, keyring, [], now, force=True).snapshot_version == 10
    assert publish(small, keyring, [], now, force=True).snapshot_version == 3
