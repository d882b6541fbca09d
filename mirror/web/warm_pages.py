"""A WSGI layer in front of Flask that answers warm project pages itself (docs/performance.md,
"The serving path").

A ``GET`` or ``HEAD`` of ``/simple/<normalized name>/`` whose pages are signed and kept in memory
is answered here by ``simple.page_answer``, the function the Flask view uses, without building
a Flask request: a warm page then costs about what gunicorn itself costs. It is counted in the
same metrics (endpoint ``simple.project_page``) and appears in gunicorn's access log like any
other request. A credential is checked here as Flask checks it (``tokens.verify``, one indexed
lookup per request, so a revoked token fails on its next request): a valid token is answered
here too, and its use recorded as Flask records it. Everything else goes to Flask unchanged:
other paths, a name to redirect, a refused or cold project, a range, an error, a credential
that does not verify, and a request without one when anonymous reads are off (Flask answers
the 401).
"""

import time
from collections.abc import Callable, Iterable
from typing import Any

from mirror.errors import MirrorError
from mirror.names import is_valid_project_name, normalize
from mirror.services import refusal, tokens
from mirror.services.backends import Backends
from mirror.services.signed_pages import signed_pages
from mirror.services.tokens import Scope, Token
from mirror.web import metrics
from mirror.web.auth import presented_secret
from mirror.web.simple import PageAnswer, page_answer

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

ENDPOINT = "simple.project_page"
_PREFIX = "/simple/"


class WarmPages:
    """Wraps ``app`` (Flask's ``wsgi_app``) for the mirror's ``backends``."""

    def __init__(self, backends: Backends, app: WSGIApp, uses: tokens.UseRecorder) -> None:
        self._backends = backends
        self._app = app
        self._uses = uses
        self._open = backends.config.anonymous_read

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = time.perf_counter()
        answer = self._answer(environ)
        if answer is None:
            return self._app(environ, start_response)
        start_response(answer.status_line, answer.headers)
        metrics.record(ENDPOINT, answer.status, started)
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [answer.body]

    def _answer(self, environ: dict[str, Any]) -> PageAnswer | None:
        reader = self._reader(environ.get("HTTP_AUTHORIZATION"))
        if reader is None:
            return None
        if environ["REQUEST_METHOD"] not in {"GET", "HEAD"}:
            return None
        name = _project(environ.get("PATH_INFO", ""))
        if name is None or refusal.refusal(self._backends, name) is not None:
            return None
        try:
            signed = signed_pages(self._backends, name)
            answer = None if signed is None else page_answer(self._backends, signed, environ)
        except MirrorError:
            return None  # Flask meets the same error and answers it as every view does
        if answer is not None and isinstance(reader, Token):
            self._uses.used(reader, self._backends.clock.now())
        return answer

    def _reader(self, authorization: str | None) -> Token | bool | None:
        """Who may read here: the token, True for anonymous, None for nobody."""
        if authorization is None:
            return True if self._open else None
        secret = presented_secret(authorization)
        token = tokens.verify(self._backends, secret) if secret else None
        return token if token is not None and token.allows(Scope.READ) else None


def _project(path: str) -> str | None:
    """The normalized project name of a ``/simple/<name>/`` path, else None (Flask decides)."""
    if not path.startswith(_PREFIX) or not path.endswith("/"):
        return None
    name = path[len(_PREFIX) : -1]
    if "/" in name or not is_valid_project_name(name) or normalize(name) != name:
        return None
    return name
