"""Who is asking, for every request (docs/review.md, "Tokens"), and the headers every answer
carries.

Credentials come as HTTP basic auth with the user ``__token__`` (so pip, uv and poetry can keep
them in the index URL or their credential settings) or as a bearer token. A presented credential
that is wrong, expired or revoked is a 401 wherever it is sent; so is no credential when
``auth.anonymous_read`` is off. Both answers are the same bytes: nobody learns which tokens or
projects exist. ``flask.g.token_id`` (None when anonymous) is set for every request; the
download audit log reads it.
"""

import base64
import binascii
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import Flask, Response, abort, current_app, g, request

from mirror.services import tokens
from mirror.services.tokens import Scope, Token
from mirror.web import backends

BASIC_USER = "__token__"
REALM = "signed-mirror"
# Reachable without credentials whatever anonymous_read says: probes, the API's description,
# and the review UI, which signs people in itself.
# The CI identity exchange takes its own credential, the ID token.
_OPEN_ENDPOINTS = {
    "health.healthz",
    "health.readyz",
    "metrics.metrics",
    "api.openapi",
    "oidc.mint_token",
}
SECURITY_HEADERS = {
    # No inline script or style anywhere; pages, CSS and images only from the mirror itself.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}

# Every answer depends on who asks (a credential may be refused), so caches must key on it.
ALWAYS_VARY = "Authorization"

_USES = "mirror_token_uses"

P = ParamSpec("P")
R = TypeVar("R")


def challenge() -> Response:
    response = Response("authentication required\n", status=401, mimetype="text/plain")
    response.headers["WWW-Authenticate"] = f'Basic realm="{REALM}", Bearer realm="{REALM}"'
    return response


def forbidden(needed: Scope) -> Response:
    return Response(f"this needs a {needed.label} token\n", status=403, mimetype="text/plain")


def presented_secret(header: str) -> str | None:
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value
    if scheme.lower() != "basic":
        return None
    try:
        user, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return secret if user == BASIC_USER else None


def _authenticate() -> Response | None:
    g.token = None
    g.token_id = None
    header = request.headers.get("Authorization")
    if header is not None:
        secret = presented_secret(header)
        token = tokens.verify(backends(), secret) if secret else None
        if token is None:
            return challenge()
        set_identity(token)
        _record_use(token)
        return None
    if request.blueprint == "admin" or request.endpoint in _OPEN_ENDPOINTS:
        return None
    return None if backends().config.anonymous_read else challenge()


def _record_use(token: Token) -> None:
    use_recorder(current_app).used(token, backends().clock.now())


def use_recorder(app: Flask) -> tokens.UseRecorder:
    """Where the last use of each token is gathered (``mirror token list`` shows it)."""
    recorder: tokens.UseRecorder = app.extensions[_USES]
    return recorder


def set_identity(token: Token | None) -> None:
    g.token = token
    g.token_id = token.id if token else None


def current_token() -> Token | None:
    token: Token | None = g.get("token")
    return token


def needs(scope: Scope) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Guard a view: reads pass anonymously when allowed; anything more needs a token."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            token = current_token()
            if token is None and not (scope == Scope.READ and backends().config.anonymous_read):
                abort(challenge())
            if token is not None and not token.allows(scope):
                abort(forbidden(scope))
            return view(*args, **kwargs)

        return guarded

    return decorate


def _secure_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if "Authorization" in request.headers and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "private"
    response.vary.add(ALWAYS_VARY)
    return response


def init_app(app: Flask) -> None:
    app.extensions[_USES] = tokens.use_recorder_for(app.extensions["mirror"])
    # First: nothing else runs for a request that is turned away.
    app.before_request_funcs.setdefault(None, []).insert(0, _authenticate)
    app.after_request(_secure_headers)
