"""``POST /api/v1/oidc/mint-token``: a CI identity token in, a short-lived mirror token out
(services/oidc.py; docs/review.md, "CI identity tokens").

No credential is needed: the ID token is the credential. Every refusal is the same 401 with
the same body, whichever check failed, so a caller cannot probe which issuers, claims or keys
the mirror trusts; the log says which check failed.
"""

import json
import logging

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from mirror.services.oidc import Exchange, RefusedError
from mirror.timeutil import format_timestamp
from mirror.web import backends

log = logging.getLogger(__name__)

blueprint = Blueprint("oidc", __name__, url_prefix="/api/v1/oidc")

_EXTENSION = "mirror_oidc"
# Far more than any CI's ID token; a larger body is refused unread.
MAX_BODY_BYTES = 32 * 1024
REFUSED = {"error": "the identity token was refused"}


def init_app(app: Flask) -> None:
    app.extensions[_EXTENSION] = Exchange.from_backends(app.extensions["mirror"])
    app.register_blueprint(blueprint)


@blueprint.post("/mint-token")
def mint_token() -> tuple[Response, int]:
    try:
        minted = _exchange().mint(_id_token())
    except RefusedError as refusal:
        log.warning("CI identity token refused: %s", refusal)
        return _no_store(jsonify(REFUSED)), 401
    token = minted.token
    log.info("CI identity token exchanged for token %s (%s)", token.id, token.name)
    answer = {
        "token": minted.secret,
        "expires": format_timestamp(token.expires_at),
        "scope": token.scope.label,
    }
    return _no_store(jsonify(answer)), 200


def _exchange() -> Exchange:
    exchange: Exchange = current_app.extensions[_EXTENSION]
    if not backends().config.auth.oidc.trust:
        raise RefusedError("untrusted issuer", "no [[auth.oidc.trust]] entries")
    return exchange


def _id_token() -> str:
    # Read within the cap whatever Content-Length says (a chunked body declares none).
    data = request.stream.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise RefusedError("malformed request", "body too large")
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str):
        raise RefusedError("malformed request", 'the body is not {"token": "<ID token>"}')
    return token


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response
