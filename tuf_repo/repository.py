"""The mirror's TUF repository: roles, hash-bin delegation, batch publishing,
timestamp refresh, renewal, key rotation and sweeping old versions.

Roles (PEP 458 minimum security model, docs/tuf.md "What is signed"): ``root``;
``targets`` delegates ``packages/*/*`` and ``simple/*/*`` to ``bins``
(terminating); ``bins`` delegates succinctly (TAP 15) to ``bin-00``…;
``snapshot`` and ``timestamp``. Consistent snapshots: every file but
``timestamp.json`` is ``<N>.<role>.json`` and immutable.

Every operation builds a ``MirrorRepository`` over a ``MetadataStore``, a
``KeyRing`` and an explicit ``now``; its ``open``/``close`` do the metadata
I/O. Publishing writes touched bins, then the snapshot, then the timestamp
last, so a crash at any point leaves only unreferenced files behind.

Not done here: locking (the caller holds the single-writer lock), target
blobs, and deciding what to publish.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from securesystemslib.signer import Signature, Signer
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Root,
    Signed,
    Snapshot,
    SuccinctRoles,
    Targets,
    Timestamp,
)
from tuf.api.serialization import DeserializationError
from tuf.repository import Repository

from tuf_repo.binmeta import BinMetadata, entry_text
from tuf_repo.bins import (
    BIN_PREFIX,
    DEFAULT_BIT_LENGTH,
    DELEGATED_PATHS,
    TargetChange,
    bin_names,
    group_by_bin,
)
from tuf_repo.canonical import canonical, metadata_bytes, spliced_metadata_bytes
from tuf_repo.errors import (
    MissingKeyError,
    RepositoryStateError,
    RootRejectedError,
    SigningError,
)
from tuf_repo.keys import KeyRing
from tuf_repo.store import TIMESTAMP_NAME, MetadataStore, is_versioned, write_all

OFFLINE_ROLES = (Root.type, Targets.type, "bins")
OFFLINE_EXPIRY = timedelta(days=365)
ONLINE_EXPIRY = timedelta(days=1)

# docs/tuf.md, "How changes are published".
TIMESTAMP_MAX_AGE = timedelta(hours=1)
RENEW_MIN_LEFT = timedelta(hours=12)
OFFLINE_ALERT_LEFT = timedelta(days=30)
TIMESTAMP_ALERT_AGE = timedelta(hours=2)

CrashHook = Callable[[str], None]

_VERSIONED = re.compile(r"([1-9][0-9]*)\.(.+)\.json")


def _parse_name(name: str) -> tuple[int, str] | None:
    match = _VERSIONED.fullmatch(name)
    return (int(match[1]), match[2]) if match else None


# The names of the last listing, and the newest version of each role among them. A name says
# all there is to parse, so for a listing that holds all of them (a store that only grew since,
# the common case: each publish adds a few files to hundreds) only the new names are parsed.
_last_listing: tuple[frozenset[str], dict[str, int]] = (frozenset(), {})


def _newest_versions(names: list[str]) -> dict[str, int]:
    """The newest version of each role among the versioned ``names``."""
    global _last_listing
    listed = frozenset(names)
    known, newest = _last_listing
    if known <= listed:
        newest, fresh = dict(newest), listed - known
    else:
        newest, fresh = {}, listed
    for name in fresh:
        parsed = _parse_name(name)
        if parsed:
            version, role = parsed
            newest[role] = max(version, newest.get(role, 0))
    _last_listing = (listed, newest)
    return dict(newest)


def _file_name(role: str, version: int) -> str:
    return TIMESTAMP_NAME if role == Timestamp.type else f"{version}.{role}.json"


def _is_bin(role: str) -> bool:
    return role.startswith(f"{BIN_PREFIX}-")


def _is_targets_role(role: str) -> bool:
    return role in (Targets.type, "bins") or _is_bin(role)


def _expiry_period(role: str) -> timedelta:
    return OFFLINE_EXPIRY if role in OFFLINE_ROLES else ONLINE_EXPIRY


def _utc(now: datetime) -> datetime:
    # A naive datetime would silently be taken as UTC by python-tuf.
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(UTC)


def _require(signer: Signer | None, role: str) -> Signer:
    if signer is None:
        raise MissingKeyError(f"the {role} key is needed for this operation")
    return signer


def _require_root_keys(keyring: KeyRing) -> None:
    if len(keyring.root) < keyring.root_threshold:
        raise MissingKeyError(
            f"root needs {keyring.root_threshold} keys, the key ring holds {len(keyring.root)}"
        )


class MirrorRepository(Repository):
    """One operation's view of the metadata in a store.

    Reads go through ``open`` (and ``expiry``, which skips full parsing);
    writes go through ``close``. Bins go through ``open_bin`` and
    ``close_bin`` instead, kept as their canonical text (``BinMetadata``).
    Opened metadata is cached, so each role is read at most once per
    operation and later edits see earlier ones.

    Args:
        store: where the metadata lives.
        keyring: signers; None for read-only use.
        now: the reference time for expiries.
    """

    def __init__(self, store: MetadataStore, keyring: KeyRing | None, now: datetime) -> None:
        self._store = store
        self._keyring = keyring
        self.now = _utc(now)
        self._cache: dict[str, Metadata[Any]] = {}
        self._bins: dict[str, BinMetadata] = {}
        self._pending: list[tuple[str, bytes]] | None = None
        self._opened_version: dict[str, int] = {}
        self._previous_root: Root | None = None
        self._targets_infos: dict[str, MetaFile] | None = None
        self._snapshot_info: MetaFile | None = None
        # Next version = max(stored, referenced) + 1 (docs/tuf.md, "How changes are published"):
        # a crash may have left unreferenced files whose versions must not be reused.
        self._stored = _newest_versions(store.list())

    # -- where each role's current version is -------------------------------

    def _current_name(self, role: str) -> str | None:
        """Return the file holding the current ``role``, None if it has none yet."""
        if role == Timestamp.type:
            return TIMESTAMP_NAME
        if role == Root.type:
            version = self._stored.get(Root.type)
            return None if version is None else _file_name(role, version)
        if role == Snapshot.type:
            if self._opened_version_of(Timestamp.type) == 0:
                return None
            return _file_name(role, self.timestamp().snapshot_meta.version)
        if self._opened_version_of(Snapshot.type) == 0:
            return None
        meta = self.snapshot().meta.get(f"{role}.json")
        return None if meta is None else _file_name(role, meta.version)

    def _opened_version_of(self, role: str) -> int:
        self.open(role)
        return self._opened_version[role]

    def _read(self, name: str, required: bool) -> bytes | None:
        data = self._store.read(name)
        if data is None and required:
            raise RepositoryStateError(f"{name} is referenced but missing from the store")
        return data

    @property
    def initialised(self) -> bool:
        return self._opened_version_of(Timestamp.type) > 0

    def require_initialised(self) -> None:
        if not self.initialised:
            raise RepositoryStateError("the repository has not been bootstrapped")

    # -- Repository interface ------------------------------------------------

    def open(self, role: str) -> Metadata[Any]:
        """Return the current metadata of ``role``, or a new empty one."""
        if role in self._cache:
            return self._cache[role]
        name = self._current_name(role)
        data = None if name is None else self._read(name, required=role != Timestamp.type)
        md: Metadata[Any]
        if data is None:
            md = Metadata(_new_signed(role, self.now))
            self._opened_version[role] = 0
        else:
            md = Metadata.from_bytes(data)
            if md.signed.type != _type_of(role):
                raise RepositoryStateError(f"{name} holds {md.signed.type} metadata")
            self._opened_version[role] = md.signed.version
            if role == Root.type:
                # Kept apart from the cached copy, which edits change: a new
                # root must also satisfy the threshold of the one it replaces.
                self._previous_root = Metadata[Root].from_bytes(data).signed
        self._cache[role] = md
        return md

    def close(self, role: str, md: Metadata[Any]) -> None:
        """Sign a new version of ``role``, check it against its delegator, write it."""
        md.signed.version = self._next_version(role)
        md.signed.expires = self.now + _expiry_period(role)
        # Cached first: a new root is checked against itself (`_verify`).
        self._cache[role] = md
        signed = md.signed.to_dict()
        payload, payload_is_json = canonical(signed)
        signatures = self._sign(role, md.signed.version, payload)
        md.signatures.clear()
        md.signatures.update(signatures)
        listed = [s.to_dict() for s in signatures.values()]
        if payload_is_json:
            data = spliced_metadata_bytes(listed, payload)
        else:
            data = metadata_bytes(listed, signed)
        self._write(role, md.signed.version, data)

    def open_bin(self, name: str) -> BinMetadata:
        """Return the current metadata of bin ``name``, or a new empty one."""
        if name in self._bins:
            return self._bins[name]
        file = self._current_name(name)
        data = None if file is None else self._read(file, required=True)
        if data is None or file is None:
            md = BinMetadata.new(self.now)
            self._opened_version[name] = 0
        else:
            md = BinMetadata.from_bytes(data, file)
            self._opened_version[name] = md.version
        self._bins[name] = md
        return md

    def close_bin(self, name: str, md: BinMetadata) -> None:
        """Like ``close``, for a bin opened with ``open_bin``."""
        version = self._next_version(name)
        md.set_version(version, self.now + _expiry_period(name))
        payload = md.signed_text().encode()
        signatures = self._sign(name, version, payload)
        self._bins[name] = md
        listed = [s.to_dict() for s in signatures.values()]
        self._write(name, version, spliced_metadata_bytes(listed, payload))

    @contextmanager
    def batched_writes(self) -> Iterator[None]:
        """Hold back the versioned files closed inside and store them together
        on exit (one flush to disk for a publish's bins); nothing is stored if
        the block raises."""
        pending: list[tuple[str, bytes]] = []
        self._pending = pending
        try:
            yield
        finally:
            self._pending = None
        write_all(self._store, pending)

    def _next_version(self, role: str) -> int:
        return max(self._stored.get(role, 0), self._opened_version[role]) + 1

    def _sign(self, role: str, version: int, payload: bytes) -> dict[str, Signature]:
        """Sign the canonical ``payload`` for ``role`` and check the signatures."""
        signatures: dict[str, Signature] = {}
        for signer in self._signers(role):
            signature = signer.sign(payload)
            signatures[signature.keyid] = signature
        self._verify(role, version, payload, signatures)
        return signatures

    def _write(self, role: str, version: int, data: bytes) -> None:
        name = _file_name(role, version)
        if self._pending is not None and is_versioned(name):
            self._pending.append((name, data))
        else:
            self._store.write(name, data)
        self._stored[role] = self._opened_version[role] = version
        if _is_targets_role(role):
            self._infos()[f"{role}.json"] = MetaFile(version)
        elif role == Snapshot.type:
            # Length and hash pin the exact snapshot bytes in the timestamp.
            digest = hashlib.sha256(data).hexdigest()
            self._snapshot_info = MetaFile(version, len(data), {"sha256": digest})

    def _infos(self) -> dict[str, MetaFile]:
        if self._targets_infos is None:
            # Start from what the current snapshot lists, then track closes.
            meta = self.snapshot().meta
            self._targets_infos = {k: MetaFile(v.version) for k, v in meta.items()}
        return self._targets_infos

    @property
    def targets_infos(self) -> dict[str, MetaFile]:
        return self._infos()

    @property
    def snapshot_info(self) -> MetaFile:
        if self._snapshot_info is None:
            self._snapshot_info = self.timestamp().snapshot_meta
        return self._snapshot_info

    def _signers(self, role: str) -> Sequence[Signer]:
        if self._keyring is None:
            raise MissingKeyError("this operation was opened read-only")
        if role == Root.type:
            if not self._keyring.root:
                raise MissingKeyError("root keys are needed to sign root")
            return self._keyring.root
        if role == Targets.type:
            return [_require(self._keyring.targets, role)]
        if role == "bins":
            return [_require(self._keyring.bins, role)]
        return [self._keyring.online]

    def _verify(
        self, role: str, version: int, payload: bytes, signatures: dict[str, Signature]
    ) -> None:
        """Check the signatures against the delegator before anything is written."""
        try:
            if role == Root.type:
                # The root being closed (`close` caches it first).
                self.root().verify_delegate(Root.type, payload, signatures)
                if self._previous_root is not None:
                    try:
                        self._previous_root.verify_delegate(Root.type, payload, signatures)
                    except UnsignedMetadataError as e:
                        raise UnsignedMetadataError(f"under the previous root, {e}") from e
            elif role in (Targets.type, Snapshot.type, Timestamp.type):
                self.root().verify_delegate(role, payload, signatures)
            elif role == "bins":
                self.targets().verify_delegate(role, payload, signatures)
            else:
                self.targets("bins").verify_delegate(role, payload, signatures)
        except (UnsignedMetadataError, ValueError) as e:
            raise SigningError(f"{role} v{version} not written: {e}") from e

    # -- helpers for the operations ------------------------------------------

    def succinct_roles(self) -> SuccinctRoles:
        delegations = self.targets("bins").delegations
        if delegations is None or delegations.succinct_roles is None:
            raise RepositoryStateError("bins has no succinct delegation")
        return delegations.succinct_roles

    def expiry(self, role: str) -> tuple[int, datetime]:
        """Return the current version and expiry of ``role``.

        Parses only the JSON, not the metadata objects, and bins as
        ``BinMetadata`` (kept for a renewal to re-sign): status and renewal
        look at every bin each minute, and a bin holds hundreds of targets.
        """
        if role in self._cache:
            signed = self._cache[role].signed
            return signed.version, signed.expires
        if _is_bin(role):
            md = self.open_bin(role)
            if md.version == 0:
                raise RepositoryStateError(f"{role} has no metadata")
            return md.version, md.expires
        name = self._current_name(role)
        data = None if name is None else self._read(name, required=True)
        if data is None:
            raise RepositoryStateError(f"{role} has no metadata")
        signed_dict = json.loads(data)["signed"]
        expires = datetime.strptime(signed_dict["expires"], "%Y-%m-%dT%H:%M:%SZ")
        return signed_dict["version"], expires.replace(tzinfo=UTC)


def _type_of(role: str) -> str:
    return role if role in (Root.type, Snapshot.type, Timestamp.type) else Targets.type


def _new_signed(role: str, now: datetime) -> Signed:
    if role == Root.type:
        return Root(expires=now, consistent_snapshot=True)
    if role == Timestamp.type:
        return Timestamp(expires=now)
    if role == Snapshot.type:
        return Snapshot(expires=now, meta={})
    return Targets(expires=now)


# -- operations ---------------------------------------------------------------


@dataclass(frozen=True)
class PublishResult:
    """What one publish did. ``bins`` maps each re-signed bin to its new version."""

    published: bool
    bins: dict[str, int]
    snapshot_version: int
    timestamp_version: int


def bootstrap(
    store: MetadataStore,
    keyring: KeyRing,
    now: datetime,
    bit_length: int = DEFAULT_BIT_LENGTH,
) -> None:
    """Create version 1 of every role, with every bin present and empty.

    Raises:
        RepositoryStateError: the store already holds metadata.
        MissingKeyError: the key ring lacks root, targets or bins keys.
    """
    existing = store.list()
    if existing:
        raise RepositoryStateError(
            f"the metadata store is not empty ({len(existing)} files): bootstrap needs an empty one"
        )
    _require_root_keys(keyring)
    targets_key = _require(keyring.targets, Targets.type).public_key
    bins_key = _require(keyring.bins, "bins").public_key
    online_key = keyring.online.public_key
    repo = MirrorRepository(store, keyring, now)

    with repo.edit_root() as root:
        for signer in keyring.root:
            root.add_key(signer.public_key, Root.type)
        root.roles[Root.type].threshold = keyring.root_threshold
        root.add_key(targets_key, Targets.type)
        # PEP 458: one online key for snapshot, timestamp and every bin.
        root.add_key(online_key, Snapshot.type)
        root.add_key(online_key, Timestamp.type)
    with repo.edit_targets() as targets:
        bins_role = DelegatedRole("bins", [bins_key.keyid], 1, True, list(DELEGATED_PATHS))
        targets.delegations = Delegations({bins_key.keyid: bins_key}, roles={"bins": bins_role})
    with repo.edit_targets("bins") as bins:
        succinct = SuccinctRoles([online_key.keyid], 1, bit_length, BIN_PREFIX)
        bins.delegations = Delegations({online_key.keyid: online_key}, succinct_roles=succinct)
    # Every bin exists from the start: a client refuses a lookup whose bin is
    # missing from the snapshot.
    with repo.batched_writes():
        for name in bin_names(bit_length):
            repo.close_bin(name, repo.open_bin(name))
    repo.do_snapshot()
    with repo.edit_timestamp() as timestamp:
        timestamp.snapshot_meta = repo.snapshot_info


def publish(
    store: MetadataStore,
    keyring: KeyRing,
    changes: Sequence[TargetChange],
    now: datetime,
    *,
    force: bool = False,
    crash_hook: CrashHook | None = None,
) -> PublishResult:
    """Publish a batch of target changes as one new snapshot.

    Writes one new version of each bin whose targets change, then the
    snapshot, then the timestamp last. Changes that alter nothing, or an empty
    batch, publish nothing unless ``force`` is set.

    Args:
        crash_hook: test seam, called after "bins-written", "snapshot-written"
            and "timestamp-written"; raising from it simulates a crash there.
    """
    repo = MirrorRepository(store, keyring, now)
    repo.require_initialised()
    written: dict[str, int] = {}
    groups = group_by_bin(changes, repo.succinct_roles().bit_length)
    with repo.batched_writes():
        for name, group in sorted(groups.items()):
            md = repo.open_bin(name)
            entries = {
                c.path: entry_text(c.path, c.length, c.sha256) if c.op == "add" else None
                for c in group
            }
            if md.apply(entries):
                repo.close_bin(name, md)
                written[name] = md.version
    _step(crash_hook, "bins-written")
    published = bool(written) or force
    if published:
        repo.do_snapshot(force=force)
        _step(crash_hook, "snapshot-written")
        repo.do_timestamp()
        _step(crash_hook, "timestamp-written")
    return PublishResult(published, written, repo.snapshot().version, repo.timestamp().version)


def _step(hook: CrashHook | None, step: str) -> None:
    if hook is not None:
        hook(step)


def refresh_timestamp(
    store: MetadataStore,
    keyring: KeyRing,
    now: datetime,
    max_age: timedelta = TIMESTAMP_MAX_AGE,
) -> bool:
    """Re-sign the timestamp if it is ``max_age`` old or no longer verifies.

    Returns True if a new timestamp was written.
    """
    repo = MirrorRepository(store, keyring, now)
    repo.require_initialised()
    # No signing time is stored; a timestamp always expires ONLINE_EXPIRY
    # after it was signed.
    signed_at = repo.timestamp().expires - ONLINE_EXPIRY
    updated, _ = repo.do_timestamp(force=repo.now - signed_at >= max_age)
    return updated


def renew(
    store: MetadataStore,
    keyring: KeyRing,
    now: datetime,
    *,
    min_left: timedelta = RENEW_MIN_LEFT,
    offline_min_left: timedelta = OFFLINE_ALERT_LEFT,
) -> list[str]:
    """Re-sign, in one batch, every role that expires too soon.

    Online roles (bins, snapshot) with less than ``min_left`` left are renewed
    and the timestamp follows. Offline roles with less than
    ``offline_min_left`` left are renewed only if the key ring holds their
    keys (embedded default); otherwise ``status`` raises the alert.

    Returns the renewed role names, timestamp included.
    """
    repo = MirrorRepository(store, keyring, now)
    repo.require_initialised()
    renewed: list[str] = []
    holds_keys = {
        Root.type: len(keyring.root) >= keyring.root_threshold,
        Targets.type: keyring.targets is not None,
        "bins": keyring.bins is not None,
    }
    for role, held in holds_keys.items():
        if held and repo.expiry(role)[1] - repo.now < offline_min_left:
            repo.close(role, repo.open(role))
            renewed.append(role)
    with repo.batched_writes():
        for name in repo.succinct_roles().get_roles():
            if repo.expiry(name)[1] - repo.now < min_left:
                repo.close_bin(name, repo.open_bin(name))
                renewed.append(name)
    snapshot_due = repo.expiry(Snapshot.type)[1] - repo.now < min_left
    snapshot_written, _ = repo.do_snapshot(force=snapshot_due)
    if snapshot_written:
        renewed.append(Snapshot.type)
        repo.do_timestamp()
        renewed.append(Timestamp.type)
    return renewed


@dataclass(frozen=True)
class RoleExpiry:
    role: str
    version: int
    expires: datetime


@dataclass(frozen=True)
class RepositoryStatus:
    """Expiries of the top-level roles and of the earliest bin, with alerts."""

    roles: list[RoleExpiry]
    timestamp_age: timedelta
    alerts: list[str]


def status(store: MetadataStore, now: datetime) -> RepositoryStatus:
    """Report expiries and what needs a human (docs/tuf.md, "Keys")."""
    repo = MirrorRepository(store, None, now)
    repo.require_initialised()
    roles = [RoleExpiry(r, *repo.expiry(r)) for r in (*OFFLINE_ROLES, "snapshot", "timestamp")]
    bins = [RoleExpiry(n, *repo.expiry(n)) for n in repo.succinct_roles().get_roles()]
    roles.append(min(bins, key=lambda b: b.expires))
    alerts = []
    for entry in roles:
        left = entry.expires - repo.now
        if left <= timedelta(0):
            alerts.append(f"{entry.role} v{entry.version} expired at {entry.expires:%F %H:%M}")
        elif entry.role in OFFLINE_ROLES and left < OFFLINE_ALERT_LEFT:
            alerts.append(f"{entry.role} expires in {left.days} days: sign a new version offline")
    age = repo.now - (repo.timestamp().expires - ONLINE_EXPIRY)
    if age > TIMESTAMP_ALERT_AGE:
        alerts.append(f"timestamp is {age} old: is the publishing worker running?")
    return RepositoryStatus(roles, age, alerts)


def rotate_online_key(
    store: MetadataStore, keyring: KeyRing, new_online: Signer, now: datetime
) -> KeyRing:
    """Replace the online key everywhere it is trusted; return the new key ring.

    Order: a new ``bins`` delegating to the new key and every bin re-signed
    (unreferenced so far), then root N+1 trusting the new key for snapshot and
    timestamp, then snapshot and timestamp. Clients that fetch between the
    root and the timestamp fail once and succeed on retry. Running it again
    after a crash completes the rotation.

    Needs the bins key and a threshold of root keys.
    """
    _require_root_keys(keyring)
    _require(keyring.bins, "bins")
    new_ring = replace(keyring, online=new_online)
    new_key = new_online.public_key
    repo = MirrorRepository(store, new_ring, now)
    repo.require_initialised()

    with repo.edit_targets("bins") as bins:
        for keyid in list(repo.succinct_roles().keyids):
            bins.revoke_key(keyid)
        bins.add_key(new_key)
    with repo.batched_writes():
        for name in repo.succinct_roles().get_roles():
            repo.close_bin(name, repo.open_bin(name))
    online_roles = (Snapshot.type, Timestamp.type)
    if any(repo.root().roles[r].keyids != [new_key.keyid] for r in online_roles):
        with repo.edit_root() as root:
            for role in online_roles:
                for keyid in list(root.roles[role].keyids):
                    root.revoke_key(keyid, role)
                root.add_key(new_key, role)
    repo.do_snapshot()
    repo.do_timestamp()
    return new_ring


def rotate_root(
    store: MetadataStore,
    keyring: KeyRing,
    new_root: Sequence[Signer],
    threshold: int,
    now: datetime,
) -> KeyRing:
    """Write root N+1 trusting ``new_root`` keys; return the new key ring.

    The new root is signed by the old keys (a threshold of the current root)
    and the new ones (its own threshold), as clients check both.
    """
    if not 1 <= threshold <= len(new_root):
        raise ValueError("need 1 <= threshold <= number of new root keys")
    _require_root_keys(keyring)
    repo = MirrorRepository(store, replace(keyring, root=(*keyring.root, *new_root)), now)
    repo.require_initialised()
    with repo.edit_root() as root:
        for keyid in list(root.roles[Root.type].keyids):
            root.revoke_key(keyid, Root.type)
        for signer in new_root:
            root.add_key(signer.public_key, Root.type)
        root.roles[Root.type].threshold = threshold
    return replace(keyring, root=tuple(new_root), root_threshold=threshold)


def import_signed_root(store: MetadataStore, root_bytes: bytes, now: datetime) -> int:
    """Store a root signed elsewhere (offline ceremony) as ``<N+1>.root.json``.

    Accepted only if it is version N+1, signed by a threshold of the current
    root's keys and of its own, not expired, uses consistent snapshots, and
    still trusts the keys that signed the published targets, snapshot and
    timestamp (otherwise every client would fail until those are re-signed).
    The bytes are stored unchanged. Returns the new version.

    Raises:
        RootRejectedError: any check failed; nothing was written.
    """
    repo = MirrorRepository(store, None, now)
    repo.require_initialised()
    current = repo.root()
    try:
        new_md = Metadata[Root].from_bytes(root_bytes)
    except DeserializationError as e:
        raise RootRejectedError(f"not valid metadata: {e}") from e
    new = new_md.signed
    if not isinstance(new, Root):
        raise RootRejectedError(f"not root metadata but {new.type}")
    if new.version != current.version + 1:
        raise RootRejectedError(f"version {new.version}, expected {current.version + 1}")
    payload = new_md.signed_bytes
    for name, delegator in (("current", current), ("new", new)):
        try:
            delegator.verify_delegate(Root.type, payload, new_md.signatures)
        except UnsignedMetadataError as e:
            raise RootRejectedError(f"lacks a threshold of the {name} root's keys: {e}") from e
    if new.is_expired(repo.now):
        raise RootRejectedError(f"expired at {new.expires:%Y-%m-%d %H:%M}Z")
    if not new.consistent_snapshot:
        raise RootRejectedError("consistent_snapshot must stay enabled")
    for role in (Targets.type, Snapshot.type, Timestamp.type):
        md = repo.open(role)
        try:
            new.verify_delegate(role, md.signed_bytes, md.signatures)
        except UnsignedMetadataError as e:
            raise RootRejectedError(
                f"no longer trusts the key that signed the current {role}: {e}"
            ) from e
    store.write(_file_name(Root.type, new.version), root_bytes)
    return new.version


def sweep(store: MetadataStore, keep_snapshots: int = 3) -> list[str]:
    """Delete versioned metadata that the last ``keep_snapshots`` snapshots do
    not reach. Never deletes a root, the timestamp, the current snapshot or
    anything newer than what is referenced (a publish in progress).

    Clients mid-refresh may still fetch files a recent snapshot lists, so the
    caller runs this about an hour behind publishing (docs/tuf.md, "How changes are published").
    Returns the deleted names.
    """
    if keep_snapshots < 1:
        raise ValueError("keep_snapshots must be at least 1")
    timestamp = store.read(TIMESTAMP_NAME)
    if timestamp is None:
        return []
    current = json.loads(timestamp)["signed"]["meta"]["snapshot.json"]["version"]
    versioned = [(name, parsed) for name in store.list() if (parsed := _parse_name(name))]
    snapshots = sorted(
        (v for _, (v, role) in versioned if role == Snapshot.type and v <= current), reverse=True
    )
    kept = snapshots[:keep_snapshots]
    referenced: dict[str, set[int]] = {Snapshot.type: set(kept)}
    for version in kept:
        data = store.read(_file_name(Snapshot.type, version))
        if data is None:
            raise RepositoryStateError(f"{version}.snapshot.json vanished during sweep")
        for key, meta in json.loads(data)["signed"]["meta"].items():
            referenced.setdefault(key.removesuffix(".json"), set()).add(meta["version"])
    doomed = []
    for name, (version, role) in versioned:
        if role == Root.type:
            continue
        reached = referenced.get(role)
        if reached is None or (version not in reached and version < max(reached)):
            doomed.append(name)
    for name in doomed:
        store.delete(name)
    return sorted(doomed)
