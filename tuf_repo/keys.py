"""Key files and the key ring the repository signs with.

Layout of a keys folder (mode 0700)::

    keyring.json              which keys are current for each role
    <role>-<keyid8>.pem       PKCS#8 PEM private key, mode 0600, created O_EXCL
    <role>-<keyid8>.pub.json  its public key (securesystemslib ``Key.to_dict``)

The online key (bins, snapshot, timestamp) is unencrypted, because it signs
unattended, and loads through a signer URI: ``file2:<path>`` by default or
``awskms:<key id>`` (both via ``Signer.from_priv_key_uri``). Offline keys
(root, targets, bins) are encrypted with a passphrase when one is given.
``file2:`` cannot decrypt, so they load with cryptography's
``load_pem_private_key`` and ``CryptoSigner``.

Embedded default trade-off: ``init_keys(dir, passphrase=None)`` stores the
offline keys unencrypted (still 0600). Anyone who can read the folder can then
sign a new root, so the offline keys protect nothing against a host
compromise; they still allow rotating a leaked online key. Production keeps
the root keys off the server (an offline ceremony, see docs/tuf.md).

Not done here: any metadata; the repository module uses the ``KeyRing``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    load_pem_private_key,
)
from securesystemslib.signer import (
    ECDSA_SHA2_NISTP256,
    CryptoSigner,
    Key,
    Signer,
    SSlibKey,
)

from tuf_repo.errors import KeyFileError

MANIFEST = "keyring.json"

Role = Literal["root", "targets", "bins", "online"]
Scheme = Literal["ed25519", "ecdsa-sha2-nistp256"]


@dataclass(frozen=True)
class KeyRing:
    """The signers one repository operation may use.

    Offline signers are None (or root empty) when their key is kept elsewhere;
    operations that need them raise ``MissingKeyError``.
    """

    online: Signer
    root: tuple[Signer, ...] = ()
    root_threshold: int = 1
    targets: Signer | None = None
    bins: Signer | None = None


def load_online_signer(uri: str, public_key: Key) -> Signer:
    """Return the online signer for ``uri`` (``file2:<path>`` or ``awskms:<key id>``)."""
    return Signer.from_priv_key_uri(uri, public_key)


def _write_exclusive(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL: never overwrite a key; a second init or a name clash fails here.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyFileError(f"{path} already exists") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _write_public_key(keys_dir: Path, name: str, key: Key) -> None:
    path = keys_dir / f"{name}.pub.json"
    data = json.dumps({"keyid": key.keyid, **key.to_dict()}, indent=2, sort_keys=True)
    _write_exclusive(path, data.encode() + b"\n", 0o644)


def read_public_key(path: Path) -> Key:
    """Read a public key written next to its private key."""
    try:
        data: dict[str, Any] = json.loads(path.read_bytes())
        return Key.from_dict(data.pop("keyid"), data)
    except (OSError, ValueError, KeyError) as e:
        raise KeyFileError(f"cannot read public key {path}: {e}") from e


def generate_key(
    keys_dir: Path,
    role: Role,
    passphrase: str | None = None,
    *,
    scheme: Scheme = "ed25519",
) -> CryptoSigner:
    """Create a new key pair for ``role`` in ``keys_dir`` and return its signer.

    The key is not made current; see ``set_role_keys``.

    Raises:
        KeyFileError: a file of that name already exists.
        ValueError: a passphrase was given for the online key.
    """
    if role == "online" and passphrase is not None:
        raise ValueError("the online key signs unattended and cannot have a passphrase")
    if scheme == "ed25519":
        signer = CryptoSigner.generate_ed25519()
    else:
        signer = CryptoSigner.generate_ecdsa(scheme=ECDSA_SHA2_NISTP256)
    pem = signer.private_bytes
    if passphrase is not None:
        # private_bytes is unencrypted PKCS#8; re-serialise it under the passphrase.
        encryption = BestAvailableEncryption(passphrase.encode())
        pem = load_pem_private_key(pem, None).private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, encryption
        )
    name = _key_name(role, signer.public_key)
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_exclusive(keys_dir / f"{name}.pem", pem, 0o600)
    _write_public_key(keys_dir, name, signer.public_key)
    return signer


def _key_name(role: Role, key: Key) -> str:
    return f"{role}-{key.keyid[:8]}"


def _read_manifest(keys_dir: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((keys_dir / MANIFEST).read_bytes())
    except FileNotFoundError:
        raise KeyFileError(f"no {MANIFEST} in {keys_dir}: run key init first") from None
    except ValueError as e:
        raise KeyFileError(f"{keys_dir / MANIFEST}: {e}") from e
    return manifest


def _write_manifest(keys_dir: Path, manifest: dict[str, Any], *, exclusive: bool) -> None:
    data = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    path = keys_dir / MANIFEST
    if exclusive:
        _write_exclusive(path, data, 0o600)
        return
    tmp = keys_dir / f".{MANIFEST}.tmp"
    tmp.unlink(missing_ok=True)
    _write_exclusive(tmp, data, 0o600)
    os.replace(tmp, path)


def set_role_keys(
    keys_dir: Path,
    role: Role,
    keys: Sequence[Key],
    *,
    threshold: int = 1,
    uri: str | None = None,
) -> None:
    """Make ``keys`` the current keys of ``role`` in the manifest.

    For a key generated here the public key file exists already; for a KMS
    key (``uri="awskms:<key id>"``) it is written now.

    Call this after the metadata trusts the new keys (``rotate_online_key``,
    ``rotate_root``): until then the repository still needs the old ones.
    """
    if role != "online" and uri is not None:
        raise ValueError("only the online key is loaded through a URI")
    if role != "root" and len(keys) != 1:
        raise ValueError(f"{role} has exactly one key")
    manifest = _read_manifest(keys_dir)
    names = []
    for key in keys:
        name = _key_name(role, key)
        if not (keys_dir / f"{name}.pub.json").exists():
            _write_public_key(keys_dir, name, key)
        names.append(name)
    entry: dict[str, Any] = {"keys": names}
    if role == "root":
        entry["threshold"] = threshold
    if role == "online":
        entry["uri"] = uri or f"file2:{names[0]}.pem"
    manifest[role] = entry
    _write_manifest(keys_dir, manifest, exclusive=False)


def init_keys(
    keys_dir: Path,
    passphrase: str | None,
    *,
    root_keys: int = 1,
    root_threshold: int = 1,
) -> KeyRing:
    """Create a new keys folder: root keys, one targets key (also used for
    ``bins``) and the online key. Embedded default: 1-of-1 root.

    Raises:
        KeyFileError: the folder already holds a key ring.
    """
    if not 1 <= root_threshold <= root_keys:
        raise ValueError("need 1 <= root_threshold <= root_keys")
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if (keys_dir / MANIFEST).exists():
        raise KeyFileError(f"{keys_dir / MANIFEST} already exists: keys are initialised")
    root = tuple(generate_key(keys_dir, "root", passphrase) for _ in range(root_keys))
    targets = generate_key(keys_dir, "targets", passphrase)
    online = generate_key(keys_dir, "online")
    targets_entry = {"keys": [_key_name("targets", targets.public_key)]}
    online_name = _key_name("online", online.public_key)
    manifest = {
        "root": {
            "keys": [_key_name("root", s.public_key) for s in root],
            "threshold": root_threshold,
        },
        "targets": targets_entry,
        # PEP 458 / tuf.md: bins is offline too and may reuse the targets key.
        "bins": targets_entry,
        "online": {"keys": [online_name], "uri": f"file2:{online_name}.pem"},
    }
    _write_manifest(keys_dir, manifest, exclusive=True)
    return KeyRing(online, root, root_threshold, targets, targets)


def _load_offline(keys_dir: Path, name: str, passphrase: str | None) -> Signer | None:
    path = keys_dir / f"{name}.pem"
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        return None  # kept offline, elsewhere
    public = read_public_key(keys_dir / f"{name}.pub.json")
    if not isinstance(public, SSlibKey):
        raise KeyFileError(f"{name}: unsupported public key type")
    password = None if passphrase is None else passphrase.encode()
    try:
        private = load_pem_private_key(pem, password)
        return CryptoSigner(private, public)
    except (TypeError, ValueError) as e:
        # cryptography raises TypeError for a missing or superfluous password
        # and ValueError for a wrong one; KeyMismatchError is a ValueError.
        raise KeyFileError(f"{path.name}: wrong or missing passphrase ({e})") from e


def load_keyring(
    keys_dir: Path,
    passphrase: str | None = None,
    *,
    online_uri: str | None = None,
    offline: bool = True,
) -> KeyRing:
    """Load the current keys from ``keys_dir``.

    Args:
        keys_dir: folder created by ``init_keys``.
        passphrase: for encrypted offline keys.
        online_uri: overrides the manifest's signer URI (config
            ``tuf.online_signer``); the public key still comes from the folder.
        offline: False loads only the online key, as the publishing worker does.

    Raises:
        KeyFileError: a file is missing, unreadable or cannot be decrypted.
    """
    manifest = _read_manifest(keys_dir)
    online_name = manifest["online"]["keys"][0]
    public = read_public_key(keys_dir / f"{online_name}.pub.json")
    uri = online_uri or manifest["online"]["uri"]
    scheme, _, rest = uri.partition(":")
    if scheme == "file2" and not os.path.isabs(rest):
        uri = f"file2:{keys_dir / rest}"
    try:
        online = load_online_signer(uri, public)
    except FileNotFoundError as e:
        raise KeyFileError(f"cannot load online signer {uri}: file not found") from e
    except (OSError, ValueError) as e:
        raise KeyFileError(f"cannot load online signer {uri}: {e}") from e
    if not offline:
        return KeyRing(online)

    loaded: dict[str, Signer | None] = {}

    def load(name: str) -> Signer | None:
        if name not in loaded:
            loaded[name] = _load_offline(keys_dir, name, passphrase)
        return loaded[name]

    root = tuple(s for n in manifest["root"]["keys"] if (s := load(n)) is not None)
    return KeyRing(
        online=online,
        root=root,
        root_threshold=manifest["root"]["threshold"],
        targets=load(manifest["targets"]["keys"][0]),
        bins=load(manifest["bins"]["keys"][0]),
    )
