"""One mapping from the mirror's errors to HTTP answers."""

import logging

from flask import Flask, Response

from mirror.errors import MirrorError, NotFoundError, SigningError, StorageError, UpstreamError

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[MirrorError], int]] = [
    (NotFoundError, 404),
    (UpstreamError, 502),
    (StorageError, 503),
    (SigningError, 503),
]


def status_for(error: MirrorError) -> int:
    return next((code for kind, code in _STATUS if isinstance(error, kind)), 500)


def _handle(error: MirrorError) -> Response:
    code = status_for(error)
    if code >= 500:
        log.error("request failed", extra={"error": str(error), "status": code})
    return Response(f"{error}\n", status=code, mimetype="text/plain")


def init_app(app: Flask) -> None:
    app.register_error_handler(MirrorError, _handle)
