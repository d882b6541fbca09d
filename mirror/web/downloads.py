"""The download audit hook: each distribution file served is recorded (services/audit.py).

The token id comes from the auth layer (``flask.g.token_id``; absent for anonymous reads).
Behind a proxy, ``remote_addr`` is the proxy's unless the deployment fixes up the WSGI
environ (e.g. werkzeug's ProxyFix).
"""

from typing import Any

from flask import Flask, current_app, g, request
from sqlalchemy import Row

from mirror.services.audit import MAX_USER_AGENT, Download, DownloadRecorder, recorder_for
from mirror.web import services

_EXTENSION = "mirror_downloads"


def init_app(app: Flask) -> None:
    app.extensions[_EXTENSION] = recorder_for(app.extensions["mirror"])


def recorder() -> DownloadRecorder:
    result: DownloadRecorder = current_app.extensions[_EXTENSION]
    return result


def record(row: Row[Any]) -> None:
    """Record that this request pulls ``row``'s file (GET only: a HEAD transfers nothing)."""
    if request.method != "GET":
        return
    agent = request.headers.get("User-Agent")
    recorder().record(
        Download(
            at=services().clock.now(),
            project=row.project,
            version=row.version,
            filename=row.filename,
            token_id=g.get("token_id"),
            remote_addr=request.remote_addr,
            user_agent=agent[:MAX_USER_AGENT] if agent else None,
        )
    )
