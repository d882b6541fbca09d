"""API tokens (docs/review.md, "Tokens"): scoped, expiring, stored as hashes, shown once, revocable.

A token is 256 bits from the OS's CSPRNG, so one sha256 is enough to store it: there is nothing to
guess, and a slow password hash would only slow down every pip request. Lookups go by that hash;
the secret never reaches the database or the logs.
"""

import hashlib
import secrets
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
    """Ordered: a scope grants everything the lower ones do."""

    READ = 1
    REVIEW = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str) -> "Scope":
        try:
            return cls[text.upper()]
        except KeyError:
            raise TokenError(f"unknown scope {text!r} (use read, review or admin)") from None

    @property
    def label(self) -> str:
        return self.name.lower()


# Short by default: the more a token can do, the sooner it should stop working.
DEFAULT_TTL = {
    Scope.READ: timedelta(days=30),
    Scope.REVIEW: timedelta(hours=12),
    Scope.ADMIN: timedelta(hours=1),
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

    @property
    def actor(self) -> str:
        """How decisions made with this token are attributed in the audit trail."""
        return f"{self.name} (token {self.id})"

    def allows(self, needed: Scope) -> bool:
        return self.scope >= needed


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
) -> NewToken:
    level, reason = Scope.parse(scope), _require_reason(reason)
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
            },
        )
    return NewToken(Token(token_id, label, level, now + lifetime), secret)


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
    return Token(row.id, row.name, Scope.parse(row.scope), row.expires_at)


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
