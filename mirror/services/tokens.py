"""API tokens (docs/review.md, "Tokens"): scoped, expiring, stored as hashes, shown once, revocable.

A token is 256 bits from the OS's CSPRNG, so one sha256 is enough to store it: there is nothing to
guess, and a slow password hash would only slow down every pip request. Lookups go by that hash;
the secret never reaches the database or the logs.
"""

import fnmatch
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

from sqlalchemy import Connection, Engine, Row
from sqlalchemy.exc import SQLAlchemyError

from mirror.batches import BatchWriter
from mirror.db import access
from mirror.db.engine import writing
from mirror.errors import MirrorError, NotFoundError
from mirror.names import upload_patterns
from mirror.services.backends import Backends
from mirror.timeutil import parse_duration

PREFIX = "smt_"
_MAX_NAME = 100
# How precisely the last use of a token is kept: one write per token per step at most, so
# recording it costs the serving path nothing measurable.
LAST_USE_STEP = timedelta(minutes=1)


class Scope(IntEnum):
    """READ < REVIEW < ADMIN are ordered: each grants everything the lower ones do.

    UPLOAD stands apart (``grants``): it publishes private files within its project patterns
    and nothing else, and no other scope can upload. A CI job's upload secret thus never reads
    the quarantine or decides on it, and a leaked read token never publishes.
    """

    READ = 1
    REVIEW = 2
    ADMIN = 3
    UPLOAD = 10

    @classmethod
    def parse(cls, text: str) -> "Scope":
        try:
            return cls[text.upper()]
        except KeyError:
            raise TokenError(
                f"unknown scope {text!r} (use read, review, admin or upload)"
            ) from None

    def grants(self, needed: "Scope") -> bool:
        if Scope.UPLOAD in (self, needed):
            return self == needed
        return self >= needed

    @property
    def label(self) -> str:
        return self.name.lower()


# Short by default: the more a token can do, the sooner it should stop working.
DEFAULT_TTL = {
    Scope.READ: timedelta(days=30),
    Scope.REVIEW: timedelta(hours=12),
    Scope.ADMIN: timedelta(hours=1),
    # Kept as a CI secret like a read token; it can only add files within its patterns.
    Scope.UPLOAD: timedelta(days=30),
}


class TokenError(MirrorError):
    """A token cannot be created or changed as asked."""


@dataclass(frozen=True)
class Token:
    """Who is asking: a valid, unexpired, unrevoked token."""

    id: str
    name: str
    scope: Scope
    expires_at: datetime
    # The CI identity a token minted by the exchange carries (services/oidc.py), else None.
    identity: Mapping[str, str] | None = None
    last_used_at: datetime | None = None
    # An upload token's project name patterns (normalised names, ``*`` and ``?`` globs).
    projects: tuple[str, ...] = ()

    @property
    def actor(self) -> str:
        """How decisions made with this token are attributed in the audit trail."""
        return f"{self.name} (token {self.id})"

    def allows(self, needed: Scope) -> bool:
        return self.scope.grants(needed)

    def may_upload(self, project: str) -> bool:
        """Whether this token may publish files of ``project`` (a normalised name)."""
        return self.scope == Scope.UPLOAD and any(
            fnmatch.fnmatchcase(project, pattern) for pattern in self.projects
        )


@dataclass(frozen=True)
class NewToken:
    token: Token
    secret: str


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def create(
    backends: Backends,
    scope: str,
    *,
    ttl: str | None,
    name: str | None,
    created_by: str,
    reason: str,
    projects: Sequence[str] = (),
) -> NewToken:
    """A new token of ``scope``; ``projects``: the name patterns an upload token may publish
    (required for ``upload``, refused for the other scopes)."""
    level, reason = Scope.parse(scope), _require_reason(reason)
    patterns = _project_patterns(level, projects)
    max_ttl = backends.config.auth.max_ttl
    lifetime = parse_duration(ttl) if ttl is not None else min(DEFAULT_TTL[level], max_ttl)
    if lifetime <= timedelta(0):
        raise TokenError("--ttl must be longer than zero")
    if lifetime > max_ttl:
        raise TokenError(f"--ttl is longer than auth.max_ttl ({max_ttl})")
    with writing(backends.engine) as conn:
        return issue(
            conn,
            Grant(level, lifetime, name, created_by, reason, projects=patterns),
            now=backends.clock.now(),
        )


@dataclass(frozen=True)
class Grant:
    """What a new token is: its scope and lifetime, what it is called, who asked and why, and
    the CI identity it was exchanged for, if any."""

    scope: Scope
    lifetime: timedelta
    name: str | None
    created_by: str
    reason: str
    identity: Mapping[str, str] | None = None
    # An upload token's project name patterns, as ``_project_patterns`` made them.
    projects: tuple[str, ...] = ()


def issue(conn: Connection, grant: Grant, *, now: datetime) -> NewToken:
    """Store a new token for ``grant`` in the caller's write transaction."""
    token_id = secrets.token_hex(6)
    label = (grant.name or f"{grant.scope.label}-{token_id}").strip()
    if not label or len(label) > _MAX_NAME or not label.isprintable():
        raise TokenError(f"a token name is 1 to {_MAX_NAME} printable characters")
    secret = PREFIX + secrets.token_urlsafe(32)
    expires_at = now + grant.lifetime
    access.insert_token(
        conn,
        {
            "id": token_id,
            "name": label,
            "scope": grant.scope.label,
            "secret_sha256": digest(secret),
            "created_at": now,
            "created_by": grant.created_by,
            "created_reason": grant.reason,
            "expires_at": expires_at,
            "identity": dict(grant.identity) if grant.identity else None,
            "projects": list(grant.projects) if grant.projects else None,
        },
    )
    token = Token(token_id, label, grant.scope, expires_at, grant.identity, projects=grant.projects)
    return NewToken(token, secret)


def create_upload(
    backends: Backends,
    projects: Sequence[str],
    *,
    ttl: str | None,
    name: str | None,
    created_by: str,
    reason: str,
) -> NewToken:
    """An upload token for the project name patterns ``projects``: what an operator creates
    with `mirror token create --scope upload`, and what a trusted CI identity is given."""
    return create(
        backends,
        Scope.UPLOAD.label,
        ttl=ttl,
        name=name,
        created_by=created_by,
        reason=reason,
        projects=projects,
    )


def _project_patterns(scope: Scope, projects: Sequence[str]) -> tuple[str, ...]:
    try:
        return upload_patterns(projects, upload=scope == Scope.UPLOAD)
    except ValueError as exc:
        raise TokenError(f"--projects: {exc}") from exc


def verify(backends: Backends, secret: str) -> Token | None:
    """The token for ``secret``, or None when it is unknown, expired or revoked (no difference
    is reported: a caller must not learn which tokens exist)."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    with backends.engine.connect() as conn:
        row = access.token_by_secret(conn, digest(secret))
    if row is None or row.revoked_at is not None or row.expires_at <= backends.clock.now():
        return None
    return token_of(row)


def token_of(row: Row[Any]) -> Token:
    projects = tuple(row.projects or ())
    return Token(
        row.id,
        row.name,
        Scope.parse(row.scope),
        row.expires_at,
        row.identity,
        row.last_used_at,
        projects,
    )


class UseRecorder:
    """Writes when tokens were last used from a background thread, never on the serving path
    (the shape of the download audit: ``mirror.batches``)."""

    def __init__(self, engine: Engine, *, interval: float) -> None:
        self._engine = engine
        self._batches: BatchWriter[tuple[str, datetime]] = BatchWriter(
            self._write,
            name="token use",
            interval=interval,
            batch_size=1000,
            keep_on=(SQLAlchemyError,),
            max_kept=10_000,
        )

    def used(self, token: Token, now: datetime) -> None:
        """``token`` was accepted ``now``: queued when that moves its recorded last use."""
        if token.last_used_at is None or now - token.last_used_at >= LAST_USE_STEP:
            self._batches.add((token.id, now))

    def flush(self) -> int:
        return self._batches.flush()

    def _write(self, batch: list[tuple[str, datetime]]) -> None:
        latest: dict[str, datetime] = {}
        for token_id, at in batch:
            latest[token_id] = max(at, latest.get(token_id, at))
        with writing(self._engine) as conn:
            for token_id, at in latest.items():
                access.mark_token_used(conn, token_id, at)


def use_recorder_for(backends: Backends) -> UseRecorder:
    return UseRecorder(
        backends.engine, interval=backends.config.audit.flush_interval.total_seconds()
    )


def listing(backends: Backends) -> list[Row[Any]]:
    with backends.engine.connect() as conn:
        return access.all_tokens(conn)


def revoke(backends: Backends, token_id: str, *, by: str, reason: str) -> None:
    reason = _require_reason(reason)
    with writing(backends.engine) as conn:
        if access.token_by_id(conn, token_id) is None:
            raise NotFoundError(f"no token with id {token_id!r}")
        if not access.revoke_token(conn, token_id, at=backends.clock.now(), by=by, reason=reason):
            raise TokenError(f"token {token_id} is already revoked")


def _require_reason(reason: str) -> str:
    if not reason.strip():
        raise TokenError("a reason is required")
    return reason.strip()


def status(row: Row[Any], now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    return "expired" if row.expires_at <= now else "active"


def never_used(row: Row[Any]) -> bool:
    """A read token nothing ever presented: a credential that sits in some store for no use
    (docs/review.md, "Token hygiene")."""
    return row.scope == Scope.READ.label and row.last_used_at is None
