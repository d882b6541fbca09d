"""The pipeline client: auth, downloads, and the attacks it must refuse."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Targets, Timestamp

from tests.tuf_repo.support import TufServer, make_keyring, root_bytes
from tuf_repo.bins import TargetChange
from tuf_repo.client import Auth, MirrorClient
from tuf_repo.errors import (
    BadSignatureError,
    ExpiredError,
    FetchError,
    HashMismatchError,
    RollbackError,
    TargetNotFoundError,
)
from tuf_repo.keys import KeyRing
from tuf_repo.repository import bootstrap, publish, refresh_timestamp
from tuf_repo.store import DirectoryMetadataStore

WHEEL = "packages/demo/demo-1.0-py3-none-any.whl"
PAGE = "simple/demo/index.json"


@pytest.fixture
def published(server: TufServer, keyring: KeyRing, now: datetime) -> TufServer:
    changes = [server.add_target(WHEEL, b"wheel bytes"), server.add_target(PAGE, b'{"files":[]}')]
    publish(server.store, keyring, changes, now)
    return server


def client_for(server: TufServer, cache: Path, auth: Auth | None = None) -> MirrorClient:
    return MirrorClient(server.url, root_bytes(server.store), cache, auth)


def tamper(store: DirectoryMetadataStore, name: str, data: bytes) -> None:
    """Overwrite a published file behind the store's back, as an attacker could."""
    (store.path / name).write_bytes(data)


def test_download_and_fetch_bytes(published: TufServer, tmp_path: Path) -> None:
    client = client_for(published, tmp_path / "cache")
    client.refresh()
    assert client.fetch_bytes(PAGE) == b'{"files":[]}'
    info = client.download(WHEEL, tmp_path / "wheelhouse" / "demo-1.0-py3-none-any.whl")
    assert info.length == len(b"wheel bytes")
    assert (tmp_path / "wheelhouse" / "demo-1.0-py3-none-any.whl").read_bytes() == b"wheel bytes"
    client.refresh()  # a second refresh starts a new Updater on the same cache
    assert client.get_targetinfo(WHEEL).hashes == info.hashes


def test_basic_auth_header_is_sent(published: TufServer, tmp_path: Path) -> None:
    expected = "Basic " + base64.b64encode(b"__token__:s3cret").decode()
    published.require_auth = expected
    client = client_for(published, tmp_path / "cache", auth=("__token__", "s3cret"))
    assert client.fetch_bytes(WHEEL) == b"wheel bytes"
    assert published.seen_auth and set(published.seen_auth) == {expected}


def test_bearer_auth_header_is_sent(published: TufServer, tmp_path: Path) -> None:
    published.require_auth = "Bearer tok"
    assert client_for(published, tmp_path / "c", auth="tok").fetch_bytes(WHEEL) == b"wheel bytes"


def test_missing_auth_is_a_clear_fetch_error(published: TufServer, tmp_path: Path) -> None:
    published.require_auth = "Bearer tok"
    with pytest.raises(FetchError, match="HTTP 401"):
        client_for(published, tmp_path / "c").refresh()


def test_altered_target_blob_is_refused(published: TufServer, tmp_path: Path) -> None:
    blob = next(k for k in published.blobs if k.endswith(".demo-1.0-py3-none-any.whl"))
    published.blobs[blob] = b"evil! bytes"  # same length, different hash
    dest = tmp_path / "demo.whl"
    with pytest.raises(HashMismatchError, match=WHEEL):
        client_for(published, tmp_path / "c").download(WHEEL, dest)
    assert not dest.exists()


def test_altered_bin_is_refused(published: TufServer, tmp_path: Path) -> None:
    store = published.store
    assert isinstance(store, DirectoryMetadataStore)
    md = Metadata[Targets].from_bytes(store.read("2.bin-88.json") or b"")
    md.signed.targets[WHEEL].hashes["sha256"] = "0" * 64
    tamper(store, "2.bin-88.json", md.to_bytes())
    with pytest.raises(BadSignatureError, match=WHEEL):
        client_for(published, tmp_path / "c").get_targetinfo(WHEEL)


def test_replayed_old_timestamp_is_refused(
    published: TufServer, keyring: KeyRing, now: datetime, tmp_path: Path
) -> None:
    store = published.store
    assert isinstance(store, DirectoryMetadataStore)
    old = store.read("timestamp.json") or b""
    refresh_timestamp(store, keyring, now + timedelta(hours=2))
    client_for(published, tmp_path / "c").refresh()  # trusts the new timestamp
    tamper(store, "timestamp.json", old)
    with pytest.raises(RollbackError, match="refresh"):
        client_for(published, tmp_path / "c").refresh()


def test_replayed_old_snapshot_is_refused(published: TufServer, tmp_path: Path) -> None:
    store = published.store
    assert isinstance(store, DirectoryMetadataStore)
    tamper(store, "2.snapshot.json", store.read("1.snapshot.json") or b"")
    with pytest.raises(HashMismatchError):
        client_for(published, tmp_path / "c").refresh()


def test_expired_metadata_is_refused(keyring: KeyRing, now: datetime, tmp_path: Path) -> None:
    # A freeze: the mirror keeps serving metadata signed days ago.
    store = DirectoryMetadataStore(tmp_path / "frozen")
    bootstrap(store, keyring, now - timedelta(days=3))
    with TufServer(store) as server, pytest.raises(ExpiredError, match="expired"):
        client_for(server, tmp_path / "c").refresh()


def test_removed_target_is_gone_although_its_blob_is_served(
    published: TufServer, keyring: KeyRing, now: datetime, tmp_path: Path
) -> None:
    publish(published.store, keyring, [TargetChange.remove(WHEEL)], now)
    assert any(k.endswith(".demo-1.0-py3-none-any.whl") for k in published.blobs)
    with pytest.raises(TargetNotFoundError, match=f"{WHEEL}: not found in signed metadata"):
        client_for(published, tmp_path / "c").download(WHEEL, tmp_path / "x.whl")


def test_metadata_signed_by_a_key_not_in_root_is_refused(
    published: TufServer, tmp_path: Path
) -> None:
    store = published.store
    assert isinstance(store, DirectoryMetadataStore)
    md = Metadata[Timestamp].from_bytes(store.read("timestamp.json") or b"")
    md.signed.version += 1
    md.sign(CryptoSigner.generate_ed25519())
    tamper(store, "timestamp.json", md.to_bytes())
    with pytest.raises(BadSignatureError, match="timestamp"):
        client_for(published, tmp_path / "c").refresh()


def test_pinned_root_of_another_repository_is_refused(
    published: TufServer, now: datetime, tmp_path: Path
) -> None:
    other = DirectoryMetadataStore(tmp_path / "other")
    bootstrap(other, make_keyring(), now)
    client = MirrorClient(published.url, root_bytes(other), tmp_path / "c")
    with pytest.raises(BadSignatureError):
        client.refresh()
