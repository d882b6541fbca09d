"""The admin JSON API under ``/api/v1/`` (docs/review.md, "The JSON API"); described by
``/api/v1/openapi.json``.

Reads need a read token unless anonymous reads are on; every write needs a review token (token
management an admin token) and a reason, and is attributed to the token in the audit trail.
"""

from typing import Any

from flask import Blueprint, Response, jsonify, request

from mirror.errors import ConfigError, MirrorError, NotFoundError
from mirror.names import is_valid_project_name, normalize
from mirror.policy.admission import State
from mirror.services import advisories, exposure, problems, review_view, tokens, webhooks
from mirror.services.review import Outcome, ReviewError
from mirror.services.tokens import Scope, Token, TokenError
from mirror.services.uploads import UploadError
from mirror.web import backends, decisions
from mirror.web.api_json import (
    advisory_json,
    block_json,
    delivery_json,
    download_json,
    event_json,
    release_json,
    summary_json,
    token_json,
    when,
)
from mirror.web.auth import current_token, needs
from mirror.web.errors import error_response, status_for
from mirror.web.openapi import document

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

STATES = [state.value for state in State]
_MAX_LIMIT = 1000


class BadRequestError(MirrorError):
    """The request is malformed: a parameter or the JSON body."""


@blueprint.errorhandler(MirrorError)
def _error(error: MirrorError) -> Response | tuple[Response, int]:
    bad = (BadRequestError, ReviewError, TokenError, ConfigError, UploadError)
    code = 400 if isinstance(error, bad) else status_for(error)
    if code >= 500:
        return error_response(error, request.environ)  # with the request id, as everywhere
    return jsonify({"error": str(error)}), code


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())


@blueprint.get("/releases")
@needs(Scope.READ)
def releases() -> Response:
    state = request.args.get("state", State.QUARANTINED.value)
    if state not in STATES:
        raise BadRequestError(f"state must be one of: {', '.join(STATES)}")
    project = request.args.get("project")
    found = review_view.queue(
        backends(), [state], _project_arg(project) if project else None, _limit()
    )
    now = backends().clock.now()
    return jsonify({"releases": [summary_json(s, now) for s in found]})


@blueprint.get("/projects/<project>/releases/<version>")
@needs(Scope.READ)
def release(project: str, version: str) -> Response:
    return jsonify(release_json(review_view.report(backends(), project, _version(version))))


@blueprint.get("/why/<project>/<version>")
@needs(Scope.READ)
def why(project: str, version: str) -> Response:
    """Whether a release is installable now and, when not, the problem every route answers."""
    refused = review_view.why(backends(), project, version)
    problem = problems.problem_for(refused).document() if refused is not None else None
    return jsonify(
        {"project": project, "version": version, "installable": refused is None, "problem": problem}
    )


@blueprint.post("/projects/<project>/releases/<version>/approve")
@needs(Scope.REVIEW)
def approve(project: str, version: str) -> Response:
    body = _body()
    outcome = decisions.approve(
        project, _version(version), actor=_actor(), reason=_text(body, "reason")
    )
    return _outcome(outcome)


@blueprint.get("/blocks")
@needs(Scope.READ)
def blocks() -> Response:
    return jsonify({"blocks": [block_json(row) for row in review_view.blocked(backends())]})


@blueprint.post("/blocks")
@needs(Scope.REVIEW)
def block() -> tuple[Response, int]:
    body = _body()
    outcome = decisions.block(
        _text(body, "project"),
        _text(body, "specifier", ""),
        actor=_actor(),
        reason=_text(body, "reason"),
    )
    return _outcome(outcome), 201


@blueprint.post("/blocks/unblock")
@needs(Scope.REVIEW)
def unblock() -> Response:
    body = _body()
    outcome = decisions.unblock(
        _text(body, "project"),
        _text(body, "specifier", ""),
        actor=_actor(),
        reason=_text(body, "reason"),
    )
    return _outcome(outcome)


@blueprint.get("/events")
@needs(Scope.READ)
def events() -> Response:
    project = request.args.get("project")
    rows = review_view.audit_log(
        backends(),
        project=_project_arg(project) if project else None,
        before_id=_int_arg("before", None, 1, 2**62),
        limit=_limit(),
    )
    return jsonify({"events": [event_json(row) for row in rows]})


@blueprint.get("/advisories")
@needs(Scope.READ)
def advisory_list() -> Response:
    project = request.args.get("project")
    found = advisories.list_advisories(backends(), _project_arg(project) if project else None)
    return jsonify({"advisories": [advisory_json(item) for item in found[: _limit()]]})


@blueprint.get("/projects/<project>/downloads")
@needs(Scope.REVIEW)
def downloads(project: str) -> Response:
    """Who pulled this: the first question after an incident."""
    version = request.args.get("version")
    pulled, names = review_view.downloads(
        backends(), _project_arg(project), _version(version) if version else None, _limit()
    )
    return jsonify({"downloads": [download_json(item, names) for item in pulled]})


@blueprint.get("/exposure/<project>")
@needs(Scope.REVIEW)
def exposure_report(project: str) -> Response:
    """The blast radius of what is now blocked, rejected or withdrawn."""
    specifier = request.args.get("specifier", "")
    found = exposure.exposure(backends(), _project_arg(project), specifier)
    return jsonify(exposure.exposure_json(found))


@blueprint.get("/notifications/deliveries")
@needs(Scope.ADMIN)
def deliveries() -> Response:
    state = request.args.get("state")
    if state is not None and state not in webhooks.DELIVERY_STATES:
        raise BadRequestError(f"state must be one of: {', '.join(webhooks.DELIVERY_STATES)}")
    rows = webhooks.delivery_log(
        backends(), state=state, before=_int_arg("before", None, 1, 2**62), limit=_limit()
    )
    return jsonify({"deliveries": [delivery_json(row) for row in rows]})


_PRIVATE_ACTIONS = {"yank": decisions.yank_upload, "delete": decisions.delete_upload}


@blueprint.post("/private/<project>/files/<filename>/<action>")
@needs(Scope.ADMIN)
def private_file(project: str, filename: str, action: str) -> Response:
    """Yank or delete an uploaded file (docs/private-packages.md), with who and why."""
    act = _PRIVATE_ACTIONS.get(action)
    if act is None:
        raise NotFoundError("the action is yank or delete")
    reason = _text(_body(), "reason")
    return _outcome(act(_project_arg(project), filename, actor=_actor(), reason=reason))


@blueprint.get("/tokens")
@needs(Scope.ADMIN)
def token_list() -> Response:
    now = backends().clock.now()
    rows = tokens.listing(backends())
    return jsonify({"tokens": [token_json(row, tokens.status(row, now)) for row in rows]})


@blueprint.post("/tokens")
@needs(Scope.ADMIN)
def token_create() -> tuple[Response, int]:
    body = _body()
    created = tokens.create(
        backends(),
        _text(body, "scope"),
        ttl=_optional_text(body, "ttl"),
        name=_optional_text(body, "name"),
        created_by=_actor(),
        reason=_text(body, "reason"),
        projects=_texts(body, "projects"),
    )
    token = created.token
    return jsonify(
        {
            "id": token.id,
            "name": token.name,
            "scope": token.scope.label,
            "projects": list(token.projects),
            "expires_at": when(token.expires_at),
            "token": created.secret,
        }
    ), 201


@blueprint.post("/tokens/<token_id>/revoke")
@needs(Scope.ADMIN)
def token_revoke(token_id: str) -> Response:
    tokens.revoke(backends(), token_id, by=_actor(), reason=_text(_body(), "reason"))
    return jsonify({"id": token_id, "status": "revoked"})


def _actor() -> str:
    token: Token | None = current_token()
    assert token is not None  # guarded by needs(REVIEW) or higher
    return token.actor


def _outcome(outcome: Outcome) -> Response:
    return jsonify({"project": outcome.project, "changed": outcome.changed})


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequestError("the body must be a JSON object")
    return body


def _text(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise BadRequestError(f"{key!r} must be a string")
    if "\x00" in value or len(value) > 2000:
        raise BadRequestError(f"{key!r} is not acceptable text")
    return value


def _texts(body: dict[str, Any], key: str) -> list[str]:
    values = body.get(key, [])
    if not isinstance(values, list) or len(values) > 100:
        raise BadRequestError(f"{key!r} must be a list of strings")
    return [_text({key: value}, key) for value in values]


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    return None if body.get(key) is None else _text(body, key)


def _project_arg(name: str) -> str:
    if not is_valid_project_name(name):
        raise BadRequestError(f"invalid project name {name[:100]!r}")
    return normalize(name)


def _version(version: str) -> str:
    # Versions are looked up, never parsed: anything unprintable cannot be one we know.
    if len(version) > 100 or not version.isprintable():
        raise NotFoundError("no such release known to the mirror")
    return review_view.canonical_version(version)


def _limit() -> int:
    value = _int_arg("limit", 100, 1, _MAX_LIMIT)
    assert value is not None
    return value


def _int_arg(name: str, default: int | None, low: int, high: int) -> int | None:
    text = request.args.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadRequestError(f"{name} must be a whole number from {low} to {high}")
    return int(text)
