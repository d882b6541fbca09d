"""Liveness and readiness.

``/readyz`` stays 200 while upstream is down, because admitted files are still served
(stale-if-error), but says so; it is 503 only when the mirror's own database or storage fail.
"""

from typing import Any

from flask import Blueprint, Response, jsonify

from mirror.db import queries
from mirror.db.engine import check_connection
from mirror.errors import StorageError
from mirror.services.sync import UPSTREAM_STATUS
from mirror.web import services

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain")


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    report: dict[str, Any] = {"database": "ok", "storage": "ok"}
    try:
        check_connection(services().engine)
        with services().engine.connect() as conn:
            upstream = queries.get_status(conn, UPSTREAM_STATUS) or {"ok": True}
    except StorageError as exc:
        report["database"] = str(exc)
        upstream = {"ok": None}
    try:
        services().blobs.check()  # the bucket too, when blobs live in S3
    except StorageError as exc:
        report["storage"] = str(exc)
    report["upstream"] = upstream
    ready = report["database"] == "ok" and report["storage"] == "ok"
    report["ready"] = ready
    report["degraded"] = ready and not upstream.get("ok", True)
    if report["degraded"]:
        report["note"] = "upstream unreachable: serving admitted files only (stale-if-error)"
    return jsonify(report), 200 if ready else 503
