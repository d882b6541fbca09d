"""The download audit hook: each distribution file served is recorded (services/audit.py),
by every route that serves one (``send_distribution``): its file URL, its TUF target (what
``mirror install`` downloads), and a presigned redirect to the object store.

The token id, and the CI identity of a token minted by the exchange, come from the auth layer
(absent for anonymous reads). The
address is the client's: behind ``server.trusted_proxies`` proxies, ``create_app`` takes it
from the X-Forwarded-For entry the outermost one appended.
"""

from flask import Flask, Response, current_app, g, request

from mirror.services.audit import MAX_USER_AGENT, Download, DownloadRecorder, recorder_for
from mirror.services.files import Blob, NamedRow
from mirror.web import backends
from mirror.web.auth import current_token
from mirror.web.blobs import send_blob

# A file's bytes never change under its name and digest.
FILE_CACHE = "public, max-age=31536000, immutable"

_EXTENSION = "mirror_downloads"


def init_app(app: Flask) -> None:
    app.extensions[_EXTENSION] = recorder_for(app.extensions["mirror"])


def recorder() -> DownloadRecorder:
    result: DownloadRecorder = current_app.extensions[_EXTENSION]
    return result


def send_distribution(row: NamedRow, blob: Blob, *, allow_redirect: bool) -> Response:
    """The distribution file ``blob`` of ``row`` as a response, recorded in the audit.
    ``allow_redirect``: may answer with a presigned URL (the redirect is recorded as well)."""
    response = send_blob(
        blob.key,
        blob.sha256,
        "application/octet-stream",
        cache=FILE_CACHE,
        allow_redirect=allow_redirect,
    )
    record(row)
    return response


def record(row: NamedRow) -> None:
    """Record that this request pulls ``row``'s file (GET only: a HEAD transfers nothing)."""
    if request.method != "GET":
        return
    agent = request.headers.get("User-Agent")
    token = current_token()
    recorder().record(
        Download(
            at=backends().clock.now(),
            project=row.project,
            version=row.version,
            filename=row.filename,
            token_id=g.get("token_id"),
            remote_addr=request.remote_addr,
            user_agent=agent[:MAX_USER_AGENT] if agent else None,
            identity=token.identity if token else None,
        )
    )
