"""One mapping from every error a request meets to a short HTTP answer.

Every answer carries an ``X-Request-ID`` header: the client's own when it sent a sane one (a
load balancer's), else a fresh one; log lines written while the request is answered carry it as
``request_id``. A server error (5xx) answers the reason and that id, as JSON for API clients
(paths under ``/api/``, or ``Accept: application/json``) and as plain text otherwise. Faults of
the database or the disk are 503 with ``Retry-After``; anything unexpected is a 500 whose body
says only "internal error": the traceback goes to the log, under the request id.

A 404 is an RFC 9457 problem (docs/admission.md, "Problem types"): a refusal's own type, or
``about:blank`` for any other, as ``application/problem+json`` when the client accepts it and
as the same sentence in plain text otherwise. This is the one place every route's refusal
becomes an answer.
"""

import json
import logging
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, request
from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import HTTPException
from werkzeug.http import parse_accept_header

from mirror.errors import (
    MirrorError,
    NotFoundError,
    PublishError,
    StorageError,
    UpstreamError,
)
from mirror.logs import REQUEST_ID, REQUEST_ID_ENVIRON
from mirror.services import problems
from mirror.services.faults import backend_fault
from mirror.services.problems import PROBLEM_JSON, Problem
from mirror.services.refusal import RefusedError

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

REQUEST_ID_HEADER = "X-Request-ID"
# A client waits this long before asking again after a 503: outages of the database or the
# store either end within seconds (a restart) or need a person.
RETRY_AFTER_SECONDS = 5
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_STATUS: list[tuple[type[MirrorError], int]] = [
    (NotFoundError, 404),
    (UpstreamError, 502),
    (StorageError, 503),
    (PublishError, 503),
]


def status_for(error: MirrorError) -> int:
    return next((code for kind, code in _STATUS if isinstance(error, kind)), 500)


@dataclass(frozen=True)
class Failure:
    """What a client is told about an error: status and a reason safe to show."""

    status: int
    reason: str


def failure_for(error: BaseException) -> Failure:
    if isinstance(error, MirrorError):
        return Failure(status_for(error), str(error))
    if isinstance(error, HTTPException) and error.code is not None:
        return Failure(error.code, error.description or error.name)
    reason = backend_fault(error)
    if reason is not None:
        return Failure(503, reason)
    return Failure(500, "internal error")


def error_response(error: BaseException, environ: dict[str, Any]) -> Response:
    """The answer to ``error``; a server error is logged and names the request id."""
    failure = failure_for(error)
    problem = _problem(error, failure)
    if problem is not None:
        return problem_response(problem, environ)
    if failure.status < 500:
        return Response(f"{failure.reason}\n", status=failure.status, mimetype="text/plain")
    if failure.status == 500:
        log.error("request failed", exc_info=error, extra={"path": environ.get("PATH_INFO")})
    else:
        log.error("request failed", extra={"error": _first_line(error), "status": failure.status})
    rid = request_id(environ)
    if _wants_json(environ):
        body = json.dumps({"error": failure.reason, "request_id": rid})
        response = Response(body, status=failure.status, mimetype="application/json")
    else:
        text = f"{failure.reason} (request id {rid})\n"
        response = Response(text, status=failure.status, mimetype="text/plain")
    if failure.status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _problem(error: BaseException, failure: Failure) -> Problem | None:
    if isinstance(error, RefusedError):
        return problems.problem_for(error.refusal, failure.status)
    if isinstance(error, NotFoundError):
        return problems.untyped(failure.status, failure.reason)
    return None


# The types a problem can be answered in; the first is the answer to "*/*" or no Accept.
_PROBLEM_OFFERS = ["text/plain", PROBLEM_JSON, "application/json"]
# Markup characters as JSON escapes: the body stays inert if something renders it as HTML.
_INERT_JSON = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def problem_response(problem: Problem, environ: dict[str, Any]) -> Response:
    """``problem`` as ``application/problem+json`` when the request accepts JSON more than
    plain text, else as its sentence in plain text."""
    offered = parse_accept_header(environ.get("HTTP_ACCEPT", ""), MIMEAccept)
    if offered.best_match(_PROBLEM_OFFERS, default="text/plain") == "text/plain":
        response = Response(problem.text(), status=problem.status, mimetype="text/plain")
    else:
        body = json.dumps(problem.document()).translate(_INERT_JSON)
        response = Response(body, status=problem.status, mimetype=PROBLEM_JSON)
    response.vary.add("Accept")
    return response


def request_id(environ: dict[str, Any]) -> str:
    """This request's id, as ``RequestIds`` set it."""
    return str(environ.get(REQUEST_ID_ENVIRON) or _new_id(environ.get("HTTP_X_REQUEST_ID")))


def _new_id(incoming: str | None) -> str:
    if incoming is not None and _SANE_ID.fullmatch(incoming):
        return incoming
    return f"{random.getrandbits(64):016x}"


def _first_line(error: BaseException) -> str:
    """The driver's or the system's own message, briefly, for the log."""
    cause = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else error.__class__.__name__


def _wants_json(environ: dict[str, Any]) -> bool:
    if str(environ.get("PATH_INFO", "")).startswith("/api/"):
        return True
    return "application/json" in str(environ.get("HTTP_ACCEPT", ""))


class RequestIds:
    """The outermost WSGI layer: gives each request its id (header, log lines) and answers
    what the layers inside it let escape (the warm page layer answers before Flask does)."""

    def __init__(self, app: WSGIApp) -> None:
        self._app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        rid = _new_id(environ.get("HTTP_X_REQUEST_ID"))
        environ[REQUEST_ID_ENVIRON] = rid

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append((REQUEST_ID_HEADER, rid))
            return start_response(status, headers, exc_info)

        token = REQUEST_ID.set(rid)
        try:
            return self._app(environ, start)
        except Exception as error:
            return error_response(error, environ)(environ, start)
        finally:
            REQUEST_ID.reset(token)


def _handle(error: Exception) -> Response | HTTPException:
    if isinstance(error, HTTPException) and (error.code or 500) < 500:
        return error  # Flask's own answers: 404 of an unknown route, 405, ...
    return error_response(error, request.environ)


def init_app(app: Flask) -> None:
    app.register_error_handler(Exception, _handle)
