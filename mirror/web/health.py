"""Liveness and readiness: ``/readyz`` is 200 when ``mirror.services.status`` finds this node
ready, 503 when not, with its report either way."""

from flask import Blueprint, Response, jsonify

from mirror.services import status
from mirror.web import backends

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain")


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    report = status.readiness(backends())
    return jsonify(report), 200 if report["ready"] else 503
