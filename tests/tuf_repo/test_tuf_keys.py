"""Key files: modes, O_EXCL, passphrases, signer URIs."""

from __future__ import annotations

import json
import stat
from datetime import datetime
from pathlib import Path

import pytest
from securesystemslib.signer import AWSSigner, CryptoSigner

from tests.support.metadata_store import MemoryMetadataStore
from tuf_repo.bins import TargetChange
from tuf_repo.errors import KeyFileError
from tuf_repo.keys import (
    MANIFEST,
    generate_key,
    init_keys,
    load_keyring,
    load_online_signer,
    read_public_key,
    set_role_keys,
)
from tuf_repo.repository import bootstrap, publish

SHA = "0" * 64


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_private_keys_0600_in_a_0700_folder(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    init_keys(keys_dir, "correct horse", root_keys=3, root_threshold=2)
    pems = sorted(keys_dir.glob("*.pem"))
    assert [p.name.split("-")[0] for p in pems] == ["online", "root", "root", "root", "targets"]
    assert all(_mode(p) == 0o600 for p in pems)
    assert _mode(keys_dir / MANIFEST) == 0o600
    assert _mode(keys_dir) == 0o700
    # Offline keys are encrypted; the online key cannot be (it signs unattended).
    assert all(b"ENCRYPTED" in p.read_bytes() for p in pems if not p.name.startswith("online"))
    assert b"ENCRYPTED" not in next(keys_dir.glob("online-*.pem")).read_bytes()


def test_second_init_fails_clearly(tmp_path: Path) -> None:
    init_keys(tmp_path, None)
    with pytest.raises(KeyFileError, match="already"):
        init_keys(tmp_path, None)


def test_key_files_are_never_overwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    signer = CryptoSigner.generate_ed25519()
    monkeypatch.setattr(CryptoSigner, "generate_ed25519", staticmethod(lambda: signer))
    generate_key(tmp_path, "targets")
    before = next(tmp_path.glob("*.pem")).read_bytes()
    with pytest.raises(KeyFileError, match="already exists"):
        generate_key(tmp_path, "targets")
    assert next(tmp_path.glob("*.pem")).read_bytes() == before


def test_load_with_passphrase(tmp_path: Path) -> None:
    created = init_keys(tmp_path, "pw", root_keys=2, root_threshold=2)
    ring = load_keyring(tmp_path, "pw")
    assert [s.public_key for s in ring.root] == [s.public_key for s in created.root]
    assert ring.root_threshold == 2
    assert ring.targets is ring.bins  # one signer when bins reuses the targets key
    assert ring.targets is not None and created.targets is not None
    assert ring.targets.public_key == created.targets.public_key
    assert ring.online.public_key == created.online.public_key


@pytest.mark.parametrize("passphrase", [None, "wrong"])
def test_wrong_or_missing_passphrase_fails(tmp_path: Path, passphrase: str | None) -> None:
    init_keys(tmp_path, "pw")
    with pytest.raises(KeyFileError, match="passphrase"):
        load_keyring(tmp_path, passphrase)


def test_worker_loads_only_the_online_key_without_passphrase(tmp_path: Path) -> None:
    init_keys(tmp_path, "pw")
    ring = load_keyring(tmp_path, offline=False)
    assert ring.root == () and ring.targets is None and ring.bins is None


def test_unencrypted_embedded_default_round_trips(tmp_path: Path, now: datetime) -> None:
    init_keys(tmp_path, None)
    ring = load_keyring(tmp_path)
    store = MemoryMetadataStore()
    bootstrap(store, ring, now)
    assert publish(store, ring, [TargetChange.add("packages/a/a.whl", 1, SHA)], now).published


def test_offline_keys_moved_away_are_absent(tmp_path: Path) -> None:
    init_keys(tmp_path, None)
    for pem in tmp_path.glob("root-*.pem"):
        pem.rename(tmp_path.parent / pem.name)
    ring = load_keyring(tmp_path)
    assert ring.root == () and ring.targets is not None


def test_online_key_cannot_have_a_passphrase(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unattended"):
        generate_key(tmp_path, "online", "pw")


def test_ecdsa_online_key_through_the_signer_uri(tmp_path: Path, now: datetime) -> None:
    # KMS keys are ECDSA P-256 and load through a URI; a P-256 file key takes
    # the same path (Signer.from_priv_key_uri) and must publish the same way.
    ring = init_keys(tmp_path, None)
    p256 = generate_key(tmp_path, "online", scheme="ecdsa-sha2-nistp256")
    set_role_keys(tmp_path, "online", [p256.public_key])
    ring = load_keyring(tmp_path)
    assert ring.online.public_key.scheme == "ecdsa-sha2-nistp256"
    store = MemoryMetadataStore()
    bootstrap(store, ring, now)
    assert publish(store, ring, [TargetChange.add("packages/a/a.whl", 1, SHA)], now).published


def test_awskms_uri_selects_the_aws_signer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No KMS here: building the signer makes a boto3 client but no request.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    public = CryptoSigner.generate_ecdsa().public_key
    signer = load_online_signer("awskms:alias/mirror-online", public)
    assert isinstance(signer, AWSSigner)
    assert signer.aws_key_id == "alias/mirror-online"

    init_keys(tmp_path, None)
    set_role_keys(tmp_path, "online", [public], uri="awskms:alias/mirror-online")
    manifest = json.loads((tmp_path / MANIFEST).read_bytes())
    assert manifest["online"]["uri"] == "awskms:alias/mirror-online"
    assert read_public_key(tmp_path / f"{manifest['online']['keys'][0]}.pub.json") == public
    assert isinstance(load_keyring(tmp_path, offline=False).online, AWSSigner)


def test_config_uri_overrides_the_manifest(tmp_path: Path) -> None:
    init_keys(tmp_path, None)
    with pytest.raises(KeyFileError, match="online signer"):
        load_keyring(tmp_path, online_uri=f"file2:{tmp_path / 'missing.pem'}")
