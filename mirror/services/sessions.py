"""Review-UI sessions: a signed-in browser holds a random cookie, the server holds the rest.

The cookie value is 256 random bits; only its sha256 is stored, beside the token it stands for
and the CSRF token of the session. Each request re-checks the token, so revoking a token ends
its sessions at once, and no server-side secret key has to be shared between nodes.
"""

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from mirror.db import access
from mirror.db.engine import writing
from mirror.services import tokens
from mirror.services.backends import Backends
from mirror.services.tokens import Scope, Token

MAX_AGE = timedelta(hours=12)
NEEDED = Scope.REVIEW


@dataclass(frozen=True)
class Session:
    token: Token
    csrf: str

    def csrf_ok(self, presented: str) -> bool:
        return hmac.compare_digest(self.csrf.encode(), presented.encode())


def sign_in(backends: Backends, secret: str) -> tuple[str, Session] | None:
    """A new session for a review or admin token; None for anything else."""
    token = tokens.verify(backends, secret.strip())
    if token is None or not token.allows(NEEDED):
        return None
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = backends.clock.now()
    with writing(backends.engine) as conn:
        access.delete_expired_sessions(conn, now)
        access.insert_session(
            conn,
            {
                "id_sha256": tokens.digest(cookie),
                "token_id": token.id,
                "csrf": csrf,
                "created_at": now,
                "expires_at": min(token.expires_at, now + MAX_AGE),
            },
        )
    return cookie, Session(token, csrf)


def resolve(backends: Backends, cookie: str) -> Session | None:
    if not cookie or len(cookie) > 100:
        return None
    with backends.engine.connect() as conn:
        row = access.session_with_token(conn, tokens.digest(cookie))
    now = backends.clock.now()
    if row is None or row.expires_at <= now or row.token_revoked_at is not None:
        return None
    if row.token_expires_at <= now:
        return None
    token = Token(row.token_id, row.token_name, Scope.parse(row.token_scope), row.token_expires_at)
    return Session(token, row.csrf)


def sign_out(backends: Backends, cookie: str) -> None:
    with writing(backends.engine) as conn:
        access.delete_session(conn, tokens.digest(cookie))
