"""API tokens (docs/review.md, "Tokens"): scoped, expiring, stored as hashes, shown once, revocable.

A token is 256 bits from the OS's CSPRNG, so one sha256 is enough to store it: there is nothing to
guess, and a slow password hash would only slow down every pip request. Lookups go by that hash;
the secret never reaches the database or the logs.
"""

import fnmatch
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

from sqlalchemy import Row

from mirror.db import access
from mirror.db.engine import writing
from mirror.errors import MirrorError, NotFoundError
from mirror.services.backends import Backends
from mirror.timeutil import parse_duration

PREFIX = "smt_"
_MAX_NAME = 100


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
# Bounded: patterns are matched on every upload and shown by `mirror token list`.
_MAX_PATTERNS = 50
_PATTERN = re.compile(r"[a-z0-9*?]|[a-z0-9*?][a-z0-9._*?-]{0,198}[a-z0-9*?]")
_SEPARATORS = re.compile(r"[-_.]+")


class TokenError(MirrorError):
    """A token cannot be created or changed as asked."""


@dataclass(frozen=True)
class Token:
    """Who is asking: a valid, unexpired, unrevoked token."""

    id: str
    name: str
    scope: Scope
    expires_at: datetime
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
    lifetime = parse_duration(ttl) if ttl is not None else DEFAULT_TTL[level]
    if lifetime <= timedelta(0):
        raise TokenError("--ttl must be longer than zero")
    token_id = secrets.token_hex(6)
    label = (name or f"{level.label}-{token_id}").strip()
    if not label or len(label) > _MAX_NAME or not label.isprintable():
        raise TokenError(f"a token name is 1 to {_MAX_NAME} printable characters")
    secret = PREFIX + secrets.token_urlsafe(32)
    now = backends.clock.now()
    with writing(backends.engine) as conn:
        access.insert_token(
            conn,
            {
                "id": token_id,
                "name": label,
                "scope": level.label,
                "secret_sha256": digest(secret),
                "created_at": now,
                "created_by": created_by,
                "created_reason": reason,
                "expires_at": now + lifetime,
                "projects": list(patterns) if patterns else None,
            },
        )
    return NewToken(Token(token_id, label, level, now + lifetime, patterns), secret)


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
    """The patterns as stored: normalised, each a project name with ``*``/``?`` globs."""
    if scope != Scope.UPLOAD:
        if projects:
            raise TokenError("--projects is for upload tokens only")
        return ()
    patterns = tuple(dict.fromkeys(_pattern(text) for text in projects))
    if not patterns or len(patterns) > _MAX_PATTERNS:
        raise TokenError(f"an upload token needs 1 to {_MAX_PATTERNS} --projects patterns")
    return patterns


def _pattern(text: str) -> str:
    pattern = text.strip().lower()
    if not _PATTERN.fullmatch(pattern):
        raise TokenError(f"{text!r} is no project name pattern (a name, with * and ? globs)")
    # Normalised as names are (PEP 503), so "Acme_*" matches what "acme-*" does.
    return _SEPARATORS.sub("-", pattern)


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
    return Token(row.id, row.name, Scope.parse(row.scope), row.expires_at, projects)


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
