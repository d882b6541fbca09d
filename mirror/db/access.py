"""Query functions for API tokens and review-UI sessions (docs/review.md, "Tokens")."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, insert, select, update

from mirror.db.schema import admin_sessions, oidc_exchanges, tokens


def insert_token(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(tokens).values(**values))


# Built once: this lookup runs for every request that carries a token.
_TOKEN_BY_SECRET = select(tokens).where(tokens.c.secret_sha256 == bindparam("digest"))


def token_by_secret(conn: Connection, secret_sha256: str) -> Row[Any] | None:
    return conn.execute(_TOKEN_BY_SECRET, {"digest": secret_sha256}).first()


def token_by_id(conn: Connection, token_id: str) -> Row[Any] | None:
    return conn.execute(select(tokens).where(tokens.c.id == token_id)).first()


def all_tokens(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(tokens).order_by(tokens.c.created_at.desc(), tokens.c.id)))


def mark_token_used(conn: Connection, token_id: str, at: datetime) -> None:
    conn.execute(update(tokens).where(tokens.c.id == token_id).values(last_used_at=at))


def claim_exchange(conn: Connection, issuer: str, jti: str, expires_at: datetime) -> bool:
    """Record that the identity token ``(issuer, jti)`` is exchanged now; False when it was
    before. Runs under the write lock (``writing``), so two nodes cannot both claim it; the
    primary key would refuse the second anyway."""
    seen = select(oidc_exchanges.c.jti).where(
        oidc_exchanges.c.issuer == issuer, oidc_exchanges.c.jti == jti
    )
    if conn.execute(seen).first() is not None:
        return False
    conn.execute(insert(oidc_exchanges).values(issuer=issuer, jti=jti, expires_at=expires_at))
    return True


def forget_expired_exchanges(conn: Connection, now: datetime) -> None:
    conn.execute(delete(oidc_exchanges).where(oidc_exchanges.c.expires_at < now))


def revoke_token(conn: Connection, token_id: str, *, at: datetime, by: str, reason: str) -> int:
    statement = (
        update(tokens)
        .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
        .values(revoked_at=at, revoked_by=by, revoked_reason=reason)
    )
    conn.execute(delete(admin_sessions).where(admin_sessions.c.token_id == token_id))
    return conn.execute(statement).rowcount


def insert_session(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(admin_sessions).values(**values))


def session_with_token(conn: Connection, id_sha256: str) -> Row[Any] | None:
    """The session and its token's columns (``token_*``) in one row."""
    query = (
        select(
            admin_sessions,
            tokens.c.name.label("token_name"),
            tokens.c.scope.label("token_scope"),
            tokens.c.expires_at.label("token_expires_at"),
            tokens.c.revoked_at.label("token_revoked_at"),
        )
        .join(tokens, tokens.c.id == admin_sessions.c.token_id)
        .where(admin_sessions.c.id_sha256 == id_sha256)
    )
    return conn.execute(query).first()


def delete_session(conn: Connection, id_sha256: str) -> None:
    conn.execute(delete(admin_sessions).where(admin_sessions.c.id_sha256 == id_sha256))


def delete_expired_sessions(conn: Connection, now: datetime) -> None:
    conn.execute(delete(admin_sessions).where(admin_sessions.c.expires_at <= now))


def tokens_by_id(conn: Connection, token_ids: Sequence[str]) -> dict[str, Row[Any]]:
    """The tokens of ``token_ids`` that exist, by id."""
    if not token_ids:
        return {}
    query = select(tokens).where(tokens.c.id.in_(list(token_ids)))
    return {row.id: row for row in conn.execute(query)}
