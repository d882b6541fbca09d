"""The mirror's TUF keys and repository: first start, key rotation, exporting and importing root.

First start (``initialise``): when the metadata store holds no timestamp yet, keys are created in
``tuf.keys_dir`` unless a key ring is already there (``mirror keys init`` made one), and every
role is signed at version 1. Later starts leave both alone, so a node that shares an already
published repository (S3) never makes keys of its own.

Every write to the metadata happens under ``publish_lock``: one writer across all nodes.
"""

import logging
import re
from pathlib import Path

from sqlalchemy import Engine

from mirror.config import Config
from mirror.db.locks import publish_lock
from mirror.errors import PublishError
from mirror.storage import open_metadata_store
from mirror.timeutil import Clock
from tuf_repo import TufRepoError, bootstrap, init_keys, load_keyring
from tuf_repo.keys import MANIFEST, KeyRing, generate_key, set_role_keys
from tuf_repo.repository import import_signed_root, rotate_online_key, rotate_root
from tuf_repo.store import TIMESTAMP_NAME, MetadataStore

log = logging.getLogger(__name__)

_ROOT_NAME = re.compile(r"([1-9][0-9]*)\.root\.json")


def _clock(config: Config) -> Clock:
    return Clock(config.debug.clock_offset)


def load_keys(config: Config, *, offline: bool) -> KeyRing:
    """The key ring from ``tuf.keys_dir``; ``offline=False`` loads the online key only.

    Raises:
        PublishError: a key is missing or cannot be loaded.
    """
    online_uri = config.tuf.online_signer or None
    try:
        return load_keyring(config.keys_dir, online_uri=online_uri, offline=offline)
    except (TufRepoError, ValueError) as exc:
        raise PublishError(f"TUF keys in {config.keys_dir}: {exc}") from exc


def available_keys(config: Config) -> KeyRing:
    """The online key plus the offline keys held here unencrypted (the embedded default), so
    the scheduler can renew offline roles; encrypted offline keys stay out of its reach."""
    try:
        return load_keys(config, offline=True)
    except PublishError:
        return load_keys(config, offline=False)


def is_bootstrapped(store: MetadataStore) -> bool:
    return store.read(TIMESTAMP_NAME) is not None


def ensure_repository(config: Config, engine: Engine) -> bool:
    """Create keys (if none) and sign version 1 of every role, unless already published.

    Returns True when this call bootstrapped the repository.
    """
    store = open_metadata_store(config)
    if is_bootstrapped(store):
        return False
    with publish_lock(engine):
        if is_bootstrapped(store):
            return False
        # Without a timestamp no client can have trusted anything here: what a crash during an
        # earlier bootstrap left behind is discarded, not reused.
        for name in store.list():
            store.delete(name)
        if not (config.keys_dir / MANIFEST).exists():
            _init_keys(config.keys_dir, None, root_keys=1, threshold=1)
            log.warning(
                "TUF keys created; the root key is on this server (embedded default)",
                extra={"keys_dir": str(config.keys_dir)},
            )
        try:
            bootstrap(store, load_keys(config, offline=True), _clock(config).now())
        except TufRepoError as exc:
            raise PublishError(f"cannot sign the first TUF metadata: {exc}") from exc
    log.info("TUF repository initialised")
    return True


def _init_keys(keys_dir: Path, passphrase: str | None, *, root_keys: int, threshold: int) -> None:
    try:
        init_keys(keys_dir, passphrase, root_keys=root_keys, root_threshold=threshold)
    except (TufRepoError, ValueError) as exc:
        raise PublishError(str(exc)) from exc


def create_keys(
    config: Config, engine: Engine, passphrase: str | None, *, root_keys: int, threshold: int
) -> None:
    """``mirror keys init``: a new key ring, then version 1 of every role signed with it."""
    if is_bootstrapped(open_metadata_store(config)):
        raise PublishError("the TUF repository is already initialised: use `mirror keys rotate`")
    _init_keys(config.keys_dir, passphrase, root_keys=root_keys, threshold=threshold)
    if passphrase is None:
        ensure_repository(config, engine)
        return
    # Encrypted offline keys: sign version 1 now, while the passphrase is at hand.
    store = open_metadata_store(config)
    try:
        keys = load_keyring(config.keys_dir, passphrase)
        with publish_lock(engine):
            bootstrap(store, keys, _clock(config).now())
    except TufRepoError as exc:
        raise PublishError(f"cannot sign the first TUF metadata: {exc}") from exc


def current_root(config: Config) -> bytes:
    """The newest ``<N>.root.json``: what pipelines pin (``mirror keys export-root``)."""
    store = open_metadata_store(config)
    versions = [int(m[1]) for n in store.list() if (m := _ROOT_NAME.fullmatch(n))]
    data = store.read(f"{max(versions)}.root.json") if versions else None
    if data is None:
        raise PublishError("no TUF root yet: start the mirror once or run `mirror keys init`")
    return data


def rotate(config: Config, engine: Engine, role: str, passphrase: str | None) -> str:
    """Replace the key of ``role`` ("online" or "root") and re-sign what depends on it."""
    keys_dir = config.keys_dir
    store = open_metadata_store(config)
    now = _clock(config).now()
    try:
        keys = load_keyring(keys_dir, passphrase)
        with publish_lock(engine):
            if role == "online":
                if config.tuf.online_signer:
                    raise PublishError(
                        "tuf.online_signer names an external key: rotate it there and point "
                        "the config at the new one"
                    )
                signer = generate_key(keys_dir, "online")
                rotate_online_key(store, keys, signer, now)
                set_role_keys(keys_dir, "online", [signer.public_key])
                return signer.public_key.keyid
            if role == "root":
                new = generate_key(keys_dir, "root", passphrase)
                rotate_root(store, keys, [new], 1, now)
                set_role_keys(keys_dir, "root", [new.public_key], threshold=1)
                return new.public_key.keyid
    except (TufRepoError, ValueError) as exc:
        raise PublishError(f"cannot rotate the {role} key: {exc}") from exc
    raise PublishError(f"cannot rotate {role!r}: choose online (snapshot, timestamp, bins) or root")


def import_root(config: Config, engine: Engine, data: bytes) -> int:
    """Store a root signed elsewhere (the offline ceremony); returns its version."""
    store = open_metadata_store(config)
    try:
        with publish_lock(engine):
            return import_signed_root(store, data, _clock(config).now())
    except TufRepoError as exc:
        raise PublishError(f"root refused: {exc}") from exc
