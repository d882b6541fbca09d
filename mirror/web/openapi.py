"""The OpenAPI 3 description of ``/api/v1/``, written by hand beside the views it describes.

``tests/web/test_api_schema.py`` runs schemathesis against the running app with this document,
checking status codes, content types and response bodies, so it cannot drift from the code.
"""

from typing import Any

_NULLABLE_STRING = {"type": "string", "nullable": True}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": "string", "format": "date-time", "nullable": True}
_STATES = ["pending", "quarantined", "admitted", "blocked", "rejected", "withdrawn"]
_PROJECT = {
    "type": "string",
    "pattern": "^[A-Za-z0-9]([A-Za-z0-9._-]{0,198}[A-Za-z0-9])?$",
    "maxLength": 200,
}
_REASON = {"type": "string", "pattern": "\\S", "maxLength": 2000, "description": "why; recorded"}
_VERSION = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9.+!_-]{0,99}$"}
_IDENTITY = {
    "type": "object",
    "nullable": True,
    "additionalProperties": {"type": "string"},
    "description": "the CI identity of a token minted by /api/v1/oidc/mint-token: issuer, "
    "subject, repository, workflow, ref, sha, run_id (as far as the ID token names them)",
}
_SCOPE = {"type": "string", "enum": ["read", "review", "admin", "upload"]}
_PATTERNS = {
    "type": "array",
    "items": {"type": "string"},
    "description": 'upload tokens: the project names it may publish, with * and ? globs ("acme-*")',
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **(optional or {})},
    }


def _list_of(key: str, schema: str) -> dict[str, Any]:
    return _object({key: {"type": "array", "items": _ref(schema)}})


_SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": {"type": "string"}}),
    "File": _object(
        {
            "filename": {"type": "string"},
            "state": {"type": "string", "enum": _STATES},
            "reason": {"type": "string"},
            "decided_by": {"type": "string"},
            "hold_until": {
                **_NULLABLE_TIME,
                "description": "quarantined: when it may be admitted; null when it waits for "
                "a person (or is not held)",
            },
            "state_at": _TIME,
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "size": {"type": "integer", "nullable": True},
            "upload_time": _NULLABLE_TIME,
            "age_seconds": {"type": "number", "nullable": True},
            "first_seen_at": _TIME,
            "requires_python": _NULLABLE_STRING,
            "yanked": {"type": "boolean"},
            "yanked_reason": _NULLABLE_STRING,
            "present_upstream": {"type": "boolean"},
            "evidence": {
                "type": "object",
                "description": "check results (provenance, publisher, content inspection)",
            },
        }
    ),
    "Block": _object(
        {
            "id": {"type": "integer"},
            "project": {"type": "string"},
            "specifier": {"type": "string", "description": "PEP 440; empty: every version"},
            "reason": {"type": "string"},
            "actor": {"type": "string"},
            "created_at": _TIME,
        }
    ),
    "Event": _object(
        {
            "id": {"type": "integer"},
            "at": _TIME,
            "project": {"type": "string"},
            "filename": _NULLABLE_STRING,
            "from_state": _NULLABLE_STRING,
            "to_state": _NULLABLE_STRING,
            "actor": {"type": "string"},
            "reason": {"type": "string"},
        }
    ),
    "Advisory": _object(
        {
            "id": {"type": "string", "description": "OSV id, e.g. MAL-2026-1234"},
            "summary": {"type": "string"},
            "details": {"type": "string"},
            "malicious": {"type": "boolean", "description": "malicious entries block"},
            "modified": _TIME,
            "published": _NULLABLE_TIME,
            "withdrawn": _NULLABLE_TIME,
            "aliases": {"type": "array", "items": {"type": "string"}},
            "links": {"type": "array", "items": {"type": "string"}},
            "affected": {
                "type": "array",
                "items": _object({"project": {"type": "string"}, "specifier": {"type": "string"}}),
            },
            "imported_at": _TIME,
        }
    ),
    "Download": _object(
        {
            "at": _TIME,
            "project": {"type": "string"},
            "version": {"type": "string"},
            "filename": {"type": "string"},
            "token_id": {**_NULLABLE_STRING, "description": "null: an anonymous read"},
            "token_name": _NULLABLE_STRING,
            "remote_addr": _NULLABLE_STRING,
            "user_agent": _NULLABLE_STRING,
            "identity": _IDENTITY,
        }
    ),
    "ExposedFile": _object(
        {
            "filename": {"type": "string"},
            "version": {"type": "string"},
            "state": {"type": "string", "enum": ["blocked", "rejected", "withdrawn"]},
            "reason": {"type": "string"},
            "decided_by": {"type": "string"},
        }
    ),
    "ExposedIdentity": _object(
        {
            "identity": {"type": "string", "description": "who, as a person reads it"},
            "kind": {"type": "string", "description": "pipeline (a CI identity), token or address"},
            "key": {"type": "string", "description": "what downloads are grouped by"},
            "tokens": {
                "type": "array",
                "items": _object({"id": {"type": "string"}, "name": _NULLABLE_STRING}),
            },
            "addresses": {"type": "array", "items": {"type": "string"}},
            "files": {"type": "array", "items": {"type": "string"}},
            "first": _TIME,
            "last": _TIME,
            "downloads": {"type": "integer"},
        }
    ),
    "Exposure": _object(
        {
            "project": {"type": "string"},
            "specifier": {"type": "string"},
            "downloads": {"type": "integer"},
            "files": {"type": "array", "items": _ref("ExposedFile")},
            "identities": {
                "type": "array",
                "items": _ref("ExposedIdentity"),
                "description": "most recent download first: the credentials to rotate",
            },
        }
    ),
    "Delivery": _object(
        {
            "id": {"type": "integer"},
            "event_id": {"type": "integer"},
            "event": {"type": "string"},
            "event_at": _TIME,
            "project": _NULLABLE_STRING,
            "summary": {"type": "string"},
            "webhook": {"type": "string", "description": "the webhook's name, never its URL"},
            "state": {"type": "string", "enum": ["queued", "delivered", "failed"]},
            "attempts": {"type": "integer"},
            "next_attempt_at": _TIME,
            "last_status": {"type": "integer", "nullable": True},
            "last_error": _NULLABLE_STRING,
            "created_at": _TIME,
            "finished_at": _NULLABLE_TIME,
        }
    ),
    "ReleaseSummary": _object(
        {
            "project": {"type": "string"},
            "version": {"type": "string"},
            "first_seen_at": _TIME,
            "hold_until": _NULLABLE_TIME,
            "files": {"type": "array", "items": _ref("File")},
        }
    ),
    "Problem": _object(
        {
            "type": {
                "type": "string",
                "description": "/problems/<kind> (a page says what it means)",
            },
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string", "description": "what is refused, why, and until when"},
        },
        {"until": _TIME},
    ),
    "Why": _object(
        {
            "project": {"type": "string"},
            "version": {"type": "string"},
            "installable": {"type": "boolean"},
            "problem": {"allOf": [_ref("Problem")], "nullable": True},
        }
    ),
    "Release": _object(
        {
            "project": {"type": "string"},
            "version": {"type": "string"},
            "files": {"type": "array", "items": _ref("File")},
            "previous_admitted": {
                "type": "object",
                "nullable": True,
                "required": ["version", "files"],
                "properties": {
                    "version": {"type": "string"},
                    "files": {"type": "array", "items": _ref("File")},
                },
            },
            "blocks": {"type": "array", "items": _ref("Block")},
            "advisories": {"type": "array", "items": _ref("Advisory")},
            "upstream_status": {
                "type": "object",
                "required": ["status", "reason"],
                "properties": {
                    "status": {
                        "type": "string",
                        "enum": ["active", "archived", "quarantined", "deprecated"],
                    },
                    "reason": {"type": "string", "nullable": True},
                },
            },
            "events": {"type": "array", "items": _ref("Event")},
        }
    ),
    "Outcome": _object(
        {"project": {"type": "string"}, "changed": {"type": "array", "items": {"type": "string"}}}
    ),
    "Token": _object(
        {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "scope": _SCOPE,
            "projects": _PATTERNS,
            "status": {"type": "string", "enum": ["active", "expired", "revoked"]},
            "created_at": _TIME,
            "created_by": {"type": "string"},
            "created_reason": {"type": "string"},
            "expires_at": _TIME,
            "revoked_at": _NULLABLE_TIME,
            "revoked_by": _NULLABLE_STRING,
            "revoked_reason": _NULLABLE_STRING,
            "identity": _IDENTITY,
            "last_used_at": {**_NULLABLE_TIME, "description": "to the minute; null: never"},
        }
    ),
    "NewToken": _object(
        {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "scope": _SCOPE,
            "projects": _PATTERNS,
            "expires_at": _TIME,
            "token": {"type": "string", "description": "the secret; shown only in this answer"},
        }
    ),
    "Decision": _object({"reason": _REASON}),
    "IdentityToken": _object({"token": {"type": "string", "description": "the CI's ID token"}}),
    "MintedToken": _object(
        {
            "token": {"type": "string", "description": "the secret; shown only in this answer"},
            "expires": _TIME,
            "scope": {"type": "string"},
        }
    ),
    "BlockRequest": _object(
        {"project": _PROJECT, "reason": _REASON},
        {"specifier": {"type": "string", "description": 'e.g. ">=1.82.7,<1.82.9"'}},
    ),
    "TokenRequest": _object(
        {"scope": _SCOPE, "reason": _REASON},
        {
            "projects": _PATTERNS,
            "ttl": {"type": "string", "description": 'lifetime, e.g. "30d", "12h"'},
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
        },
    ),
}

_TEXT = {"text/plain": {"schema": {"type": "string"}}}


def _json(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(schema)}}


def _responses(ok: str, ok_code: str = "200", *, write: bool = False) -> dict[str, Any]:
    responses: dict[str, Any] = {
        ok_code: {"description": "done", "content": _json(ok)},
        "400": {"description": "malformed request", "content": _json("Error")},
        "401": {"description": "no, or no valid, token", "content": _TEXT},
        "403": {"description": "the token's scope is too small", "content": _TEXT},
    }
    if write:
        responses["404"] = {
            "description": "no such release, block or token",
            "content": _json("Error"),
        }
    return responses


def _parameter(name: str, where: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        "description": text,
    }


def _limit() -> dict[str, Any]:
    return _parameter(
        "limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, "at most this many"
    )


_READ: list[dict[str, list[str]]] = [{}, {"basic": []}, {"bearer": []}]
_TOKEN_ONLY: list[dict[str, list[str]]] = [{"basic": []}, {"bearer": []}]


def _operation(
    summary: str,
    responses: dict[str, Any],
    *,
    scope: str,
    parameters: list[dict[str, Any]] | None = None,
    body: str | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "description": f"Needs a token of scope {scope} or higher"
        + (" (none when anonymous reads are on)." if scope == "read" else "."),
        "security": _READ if scope == "read" else _TOKEN_ONLY,
        "parameters": parameters or [],
        "responses": responses,
    }
    if body:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    return operation


def _paths() -> dict[str, Any]:
    project = _parameter("project", "path", _PROJECT, "project name")
    version = _parameter("version", "path", _VERSION, "release version, as the mirror lists it")
    release = _responses("Release")
    release["404"] = {"description": "no such release", "content": _json("Error")}
    return {
        "/api/v1/releases": {
            "get": _operation(
                "Releases with files in one state, newest first",
                _responses("ReleaseList"),
                scope="read",
                parameters=[
                    _parameter(
                        "state",
                        "query",
                        {"type": "string", "enum": _STATES, "default": "quarantined"},
                        "file state",
                    ),
                    _parameter("project", "query", _PROJECT, "only this project"),
                    _limit(),
                ],
            )
        },
        "/api/v1/projects/{project}/releases/{version}": {
            "get": _operation(
                "One release with all its evidence, the previous admitted release and history",
                release,
                scope="read",
                parameters=[project, version],
            )
        },
        "/api/v1/why/{project}/{version}": {
            "get": _operation(
                "Whether a release is installable now; if not, the problem every route answers",
                _responses("Why"),
                scope="read",
                parameters=[project, version],
            )
        },
        "/api/v1/projects/{project}/releases/{version}/approve": {
            "post": _operation(
                "Admit the held files of a release now (recorded with who and why)",
                _responses("Outcome", write=True),
                scope="review",
                parameters=[project, version],
                body="Decision",
            )
        },
        "/api/v1/blocks": {
            "get": _operation("Active blocks", _responses("BlockList"), scope="read"),
            "post": _operation(
                "Block a project, or the versions a specifier matches, also retroactively",
                _responses("Outcome", "201"),
                scope="review",
                body="BlockRequest",
            ),
        },
        "/api/v1/blocks/unblock": {
            "post": _operation(
                "Lift the active block with exactly this project and specifier",
                _responses("Outcome", write=True),
                scope="review",
                body="BlockRequest",
            )
        },
        "/api/v1/events": {
            "get": _operation(
                "The audit trail of state changes and decisions, newest first",
                _responses("EventList"),
                scope="read",
                parameters=[
                    _parameter("project", "query", _PROJECT, "only this project"),
                    _parameter(
                        "before",
                        "query",
                        {"type": "integer", "minimum": 1, "maximum": 2**62},
                        "events older than this event id (paging)",
                    ),
                    _limit(),
                ],
            )
        },
        "/api/v1/advisories": {
            "get": _operation(
                "Imported OSV advisories, newest first",
                _responses("AdvisoryList"),
                scope="read",
                parameters=[
                    _parameter("project", "query", _PROJECT, "only this project"),
                    _limit(),
                ],
            )
        },
        "/api/v1/projects/{project}/downloads": {
            "get": _operation(
                "Who pulled a project's files (one release with ?version=), newest first",
                _responses("DownloadList"),
                scope="review",
                parameters=[
                    project,
                    _parameter("version", "query", _VERSION, "only this release"),
                    _limit(),
                ],
            )
        },
        "/api/v1/exposure/{project}": {
            "get": _operation(
                "Who downloaded the project's files that are now blocked, rejected or "
                "withdrawn, by identity: the credentials to rotate",
                {
                    **_responses("Exposure"),
                    "404": {"description": "no such project", "content": _json("Error")},
                },
                scope="review",
                parameters=[
                    project,
                    _parameter(
                        "specifier",
                        "query",
                        {"type": "string", "maxLength": 500},
                        "only versions in this PEP 440 specifier (==1.2, >=1,<2)",
                    ),
                ],
            )
        },
        "/api/v1/notifications/deliveries": {
            "get": _operation(
                "Webhook deliveries, newest first: the delivery log",
                _responses("DeliveryList"),
                scope="admin",
                parameters=[
                    _parameter(
                        "state",
                        "query",
                        {"type": "string", "enum": ["queued", "delivered", "failed"]},
                        "only deliveries in this state",
                    ),
                    _parameter(
                        "before",
                        "query",
                        {"type": "integer", "minimum": 1, "maximum": 2**62},
                        "deliveries older than this delivery id (paging)",
                    ),
                    _limit(),
                ],
            )
        },
        "/api/v1/private/{project}/files/{filename}/{action}": {
            "post": _operation(
                "Yank or delete an uploaded file (a deleted filename stays taken)",
                _responses("Outcome", write=True),
                scope="admin",
                parameters=[
                    project,
                    _parameter(
                        "filename",
                        "path",
                        {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._+!-]{0,254}$"},
                        "the uploaded file",
                    ),
                    _parameter(
                        "action", "path", {"type": "string", "enum": ["yank", "delete"]}, "what"
                    ),
                ],
                body="Decision",
            )
        },
        "/api/v1/tokens": {
            "get": _operation(
                "API tokens (never their secrets)", _responses("TokenList"), scope="admin"
            ),
            "post": _operation(
                "Create a token; its secret is shown once",
                _responses("NewToken", "201"),
                scope="admin",
                body="TokenRequest",
            ),
        },
        "/api/v1/oidc/mint-token": {
            "post": {
                "summary": "Exchange a CI identity token for a short-lived mirror token",
                "description": "No credential: the ID token is one. Every refusal is the same "
                "401 (docs/review.md, CI identity tokens).",
                "security": [{}],
                "parameters": [],
                "requestBody": {"required": True, "content": _json("IdentityToken")},
                "responses": {
                    "200": {"description": "minted", "content": _json("MintedToken")},
                    "401": {"description": "refused", "content": _json("Error")},
                },
            }
        },
        "/api/v1/tokens/{token_id}/revoke": {
            "post": _operation(
                "Revoke a token at once (its review-UI sessions end too)",
                _responses("Revoked", write=True),
                scope="admin",
                body="Decision",
                parameters=[
                    _parameter(
                        "token_id",
                        "path",
                        {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"},
                        "id",
                    )
                ],
            )
        },
    }


def document() -> dict[str, Any]:
    schemas = {
        **_SCHEMAS,
        "ReleaseList": _list_of("releases", "ReleaseSummary"),
        "BlockList": _list_of("blocks", "Block"),
        "EventList": _list_of("events", "Event"),
        "TokenList": _list_of("tokens", "Token"),
        "AdvisoryList": _list_of("advisories", "Advisory"),
        "DownloadList": _list_of("downloads", "Download"),
        "DeliveryList": _list_of("deliveries", "Delivery"),
        "Revoked": _object({"id": {"type": "string"}, "status": {"type": "string"}}),
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "signed-mirror admin API",
            "version": "1",
            "description": "Quarantine review: releases and their evidence, approvals, blocks "
            "and the audit trail. Tokens go as HTTP basic auth (user __token__) or bearer.",
        },
        "paths": _paths(),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }
