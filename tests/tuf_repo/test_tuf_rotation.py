"""Key rotation (online key, root keys), import of a root signed offline, and
sweeping old versions."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner, Signer
from tuf.api.metadata import Metadata, Root, Timestamp

from tests.tuf_repo.support import TufServer, root_bytes
from tuf_repo.client import MirrorClient
from tuf_repo.errors import BadSignatureError, MissingKeyError, RootRejectedError, SigningError
from tuf_repo.keys import KeyRing
from tuf_repo.repository import (
    import_signed_root,
    publish,
    rotate_online_key,
    rotate_root,
    sweep,
)
from tuf_repo.store import DirectoryMetadataStore, MetadataStore

WHEEL = "packages/demo/demo-1.0-py3-none-any.whl"


@pytest.fixture
def published(server: TufServer, keyring: KeyRing, now: datetime) -> TufServer:
    publish(server.store, keyring, [server.add_target(WHEEL, b"wheel bytes")], now)
    return server


def roots(store: MetadataStore) -> list[int]:
    return sorted(int(n.split(".")[0]) for n in store.list() if n.endswith(".root.json"))


def fresh_client(server: TufServer, cache: Path) -> MirrorClient:
    # Pinned to root v1: the client must walk the chain of roots itself.
    return MirrorClient(server.url, root_bytes(server.store, 1), cache)


def test_rotate_online_key(
    published: TufServer, keyring: KeyRing, now: datetime, tmp_path: Path
) -> None:
    store = published.store
    old_client = fresh_client(published, tmp_path / "old")
    assert old_client.fetch_bytes(WHEEL) == b"wheel bytes"

    new_ring = rotate_online_key(store, keyring, CryptoSigner.generate_ed25519(), now)
    assert roots(store) == [1, 2]
    with pytest.raises(SigningError):
        publish(store, keyring, [published.add_target("packages/a/a.whl", b"a")], now)
    publish(store, new_ring, [published.add_target("packages/a/a.whl", b"a")], now)

    old_client.refresh()  # same cache: follows root v2 and the re-signed bins
    assert old_client.fetch_bytes("packages/a/a.whl") == b"a"
    assert fresh_client(published, tmp_path / "new").fetch_bytes(WHEEL) == b"wheel bytes"

    # The old online key can no longer sign a timestamp that clients accept.
    assert isinstance(store, DirectoryMetadataStore)
    md = Metadata[Timestamp].from_bytes(store.read("timestamp.json") or b"")
    md.signed.version += 1
    md.sign(keyring.online)
    (store.path / "timestamp.json").write_bytes(md.to_bytes())
    with pytest.raises(BadSignatureError):
        fresh_client(published, tmp_path / "attacked").refresh()


def test_rotate_online_key_again_completes_without_a_new_root(
    published: TufServer, keyring: KeyRing, now: datetime, tmp_path: Path
) -> None:
    new_online = CryptoSigner.generate_ed25519()
    rotate_online_key(published.store, keyring, new_online, now)
    rotate_online_key(published.store, keyring, new_online, now)
    assert roots(published.store) == [1, 2]
    assert fresh_client(published, tmp_path / "c").fetch_bytes(WHEEL) == b"wheel bytes"


def test_rotate_online_key_needs_root_keys(
    published: TufServer, keyring: KeyRing, now: datetime
) -> None:
    before = sorted(published.store.list())
    with pytest.raises(MissingKeyError, match="root"):
        rotate_online_key(
            published.store, replace(keyring, root=()), CryptoSigner.generate_ed25519(), now
        )
    assert sorted(published.store.list()) == before


def test_rotate_root_to_two_of_three(
    published: TufServer, keyring: KeyRing, now: datetime, tmp_path: Path
) -> None:
    store = published.store
    new_keys = [CryptoSigner.generate_ed25519() for _ in range(3)]
    ring = rotate_root(store, keyring, new_keys, 2, now)
    assert ring.root_threshold == 2 and roots(store) == [1, 2]
    root = Metadata[Root].from_bytes(root_bytes(store, 2)).signed
    assert set(root.roles["root"].keyids) == {k.public_key.keyid for k in new_keys}
    assert fresh_client(published, tmp_path / "c").fetch_bytes(WHEEL) == b"wheel bytes"

    # The retired key alone cannot sign the next root; two new keys can.
    with pytest.raises(SigningError, match="root v3"):
        rotate_root(store, keyring, [CryptoSigner.generate_ed25519()], 1, now)
    rotate_root(store, replace(ring, root=tuple(new_keys[:2])), new_keys, 2, now)
    assert roots(store) == [1, 2, 3]
    assert fresh_client(published, tmp_path / "c3").fetch_bytes(WHEEL) == b"wheel bytes"


def ceremony(
    store: MetadataStore,
    signers: Sequence[Signer],
    now: datetime,
    edit: Callable[[Root], None] = lambda root: None,
    version_step: int = 1,
) -> bytes:
    """What the offline holders do: edit root N into N+1 and each append a signature."""
    current = max(int(n.split(".")[0]) for n in store.list() if n.endswith(".root.json"))
    md = Metadata[Root].from_bytes(root_bytes(store, current))
    md.signed.version += version_step
    md.signed.expires = now + timedelta(days=365)
    edit(md.signed)
    md.signatures.clear()
    for signer in signers:
        md.sign(signer, append=True)
    return md.to_bytes()


def test_import_root_signed_offline(
    published: TufServer, keyring: KeyRing, now: datetime, tmp_path: Path
) -> None:
    new_key = CryptoSigner.generate_ed25519()

    def add_root_key(root: Root) -> None:
        root.add_key(new_key.public_key, "root")
        root.roles["root"].threshold = 2

    data = ceremony(published.store, [keyring.root[0], new_key], now, add_root_key)
    assert import_signed_root(published.store, data, now) == 2
    assert published.store.read("2.root.json") == data  # stored unchanged
    assert fresh_client(published, tmp_path / "c").fetch_bytes(WHEEL) == b"wheel bytes"


def _drop_online_key(root: Root) -> None:
    for role in ("snapshot", "timestamp"):
        for keyid in list(root.roles[role].keyids):
            root.revoke_key(keyid, role)
        root.add_key(CryptoSigner.generate_ed25519().public_key, role)


@pytest.mark.parametrize(
    ("case", "match"),
    [
        ("only-new-key", "current root"),
        ("below-new-threshold", "new root"),
        ("skips-a-version", "version 3, expected 2"),
        ("expired", "expired"),
        ("drops-online-key", "no longer trusts"),
        ("not-json", "not valid metadata"),
    ],
)
def test_import_rejects(
    published: TufServer, keyring: KeyRing, now: datetime, case: str, match: str
) -> None:
    old = keyring.root[0]
    new_key = CryptoSigner.generate_ed25519()

    def replace_root_key(root: Root) -> None:
        root.revoke_key(old.public_key.keyid, "root")
        root.add_key(new_key.public_key, "root")

    def expire(root: Root) -> None:
        root.expires = now - timedelta(days=1)

    def two_keys(root: Root) -> None:
        root.add_key(new_key.public_key, "root")
        root.roles["root"].threshold = 2

    data = {
        "only-new-key": lambda: ceremony(published.store, [new_key], now, replace_root_key),
        "below-new-threshold": lambda: ceremony(published.store, [old], now, two_keys),
        "skips-a-version": lambda: ceremony(published.store, [old], now, version_step=2),
        "expired": lambda: ceremony(published.store, [old], now, expire),
        "drops-online-key": lambda: ceremony(published.store, [old], now, _drop_online_key),
        "not-json": lambda: b"{not json",
    }[case]()
    with pytest.raises(RootRejectedError, match=match):
        import_signed_root(published.store, data, now)
    assert roots(published.store) == [1]


def referenced_files(store: MetadataStore, snapshot_version: int) -> set[str]:
    data = store.read(f"{snapshot_version}.snapshot.json")
    assert data is not None
    meta = json.loads(data)["signed"]["meta"]
    return {f"{m['version']}.{name}" for name, m in meta.items()}


def test_sweep_keeps_roots_and_what_recent_snapshots_reference(
    published: TufServer, keyring: KeyRing, now: datetime, tmp_path: Path
) -> None:
    store = published.store
    rotate_root(store, keyring, list(keyring.root), 1, now)  # root v2
    for i in range(5):
        data = f"v{i}".encode()
        changes = [published.add_target(p, data) for p in (WHEEL, f"packages/p{i}/p{i}.whl")]
        publish(store, keyring, changes, now)

    def crash_after_snapshot(step: str) -> None:
        if step == "snapshot-written":
            raise RuntimeError(step)

    new = [published.add_target("packages/z/z.whl", b"z")]
    with pytest.raises(RuntimeError):  # leaves an orphan snapshot 8 and an orphan bin
        publish(store, keyring, new, now, crash_hook=crash_after_snapshot)
    orphans = {"8.snapshot.json"}
    assert orphans <= set(store.list())

    deleted = sweep(store, keep_snapshots=2)
    remaining = set(store.list())
    assert {"1.root.json", "2.root.json", "timestamp.json"} <= remaining
    assert orphans <= remaining  # newer than anything referenced: maybe in flight
    for version in (6, 7):
        assert {f"{version}.snapshot.json"} | referenced_files(store, version) <= remaining
    assert "5.snapshot.json" in deleted and "1.bin-88.json" in deleted
    assert not any(name.endswith(".root.json") for name in deleted)
    assert sweep(store, keep_snapshots=2) == []
    assert fresh_client(published, tmp_path / "c").fetch_bytes(WHEEL) == b"v4"
