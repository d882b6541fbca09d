"""The simple repository API: PEP 503 HTML and PEP 691 JSON, chosen by Accept or ?format=.

A warm project page is answered by ``page_answer`` from the signed bytes kept in memory; the
WSGI layer in ``warm_pages`` calls it before Flask runs, and the Flask view below calls it too,
so both paths negotiate and answer with the same headers.
"""

import functools
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from flask import Blueprint, Response, current_app, redirect, request
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_etags
from werkzeug.wrappers import Response as BaseResponse

from mirror import codings
from mirror.errors import NotFoundError
from mirror.names import is_valid_project_name, normalize
from mirror.services import pages, refusal
from mirror.services.backends import Backends
from mirror.services.files import Blob
from mirror.services.page_bytes import PageBytes
from mirror.services.signed_pages import RootIndexes, SignedPages, open_project
from mirror.simple_api import JSON_TYPE
from mirror.web import backends
from mirror.web.auth import ALWAYS_VARY, SECURITY_HEADERS
from mirror.web.blobs import send_blob

log = logging.getLogger(__name__)
blueprint = Blueprint("simple", __name__)

HTML_V1 = "application/vnd.pypi.simple.v1+html"
_OFFERED = [
    JSON_TYPE,
    "application/vnd.pypi.simple.latest+json",
    HTML_V1,
    "application/vnd.pypi.simple.latest+html",
    "text/html",
]
# Pages change only when the mirror publishes; clients may reuse them briefly and revalidate.
PAGE_CACHE = "max-age=60, must-revalidate"
PAGE_VARY = f"Accept, Accept-Encoding, {ALWAYS_VARY}"
_ROOT_INDEXES = "mirror_root_indexes"
# This process's copies of signed page blobs, by sha256 (content-addressed: never stale).
PAGE_BYTES = PageBytes()


def negotiate(environ: dict[str, Any]) -> tuple[bool, str]:
    """(JSON?, Content-Type to answer with), from ?format= first, then Accept (PEP 691)."""
    query = environ.get("QUERY_STRING", "")
    return _negotiate(requested_format(query) if query else "", environ.get("HTTP_ACCEPT", ""))


def requested_format(query: str) -> str:
    """The first ``format`` query value, as ``request.args`` reads it."""
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "format":
            # An unencoded "+" in the query arrives as a space; take it back.
            return value.replace(" ", "+")
    return ""


# Clients send a handful of distinct Accept headers; parse each once.
@functools.lru_cache(maxsize=256)
def _negotiate(requested: str, accept: str) -> tuple[bool, str]:
    offered = parse_accept_header(accept, MIMEAccept)
    chosen = requested or offered.best_match(_OFFERED, default="text/html")
    if chosen and chosen.endswith("+json"):
        return True, JSON_TYPE
    return False, HTML_V1 if chosen and chosen.endswith("+html") else pages.HTML_TYPE


_R = TypeVar("_R", bound=BaseResponse)


def _vary(response: _R) -> _R:
    response.vary.add("Accept")
    return response


@dataclass(frozen=True)
class PageAnswer:
    """A complete answer for a project page; ``body`` is the page even for HEAD (the server
    drops it)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status_line(self) -> str:
        return f"{self.status} {HTTPStatus(self.status).phrase}"


def page_answer(
    mirror: Backends, signed: SignedPages, environ: dict[str, Any]
) -> PageAnswer | None:
    """The page ``signed`` lists for ``name``, as the request negotiates it, from memory; None
    when the request asks for a range or the page is too large to keep (serve it from the
    store)."""
    if "HTTP_RANGE" in environ:
        return None
    digest, content_type = _chosen_page(signed, environ)
    coding = codings.chosen(environ.get("HTTP_ACCEPT_ENCODING", ""))
    if coding is None:
        body = PAGE_BYTES.get(mirror.blobs, digest)
    else:
        body = PAGE_BYTES.encoded(mirror.blobs, digest, coding)
    if body is None:
        return None
    etag = variant_etag(digest, coding)
    headers = [
        ("ETag", f'"{etag}"'),
        ("Cache-Control", PAGE_CACHE),
        ("Accept-Ranges", "bytes"),
        ("Vary", PAGE_VARY),
        *SECURITY_HEADERS.items(),
    ]
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match and parse_etags(if_none_match).contains(etag):
        return PageAnswer(304, headers, b"")
    headers += [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    if coding is not None:
        headers.append(("Content-Encoding", coding))
    return PageAnswer(200, headers, body)


def variant_etag(digest: str, coding: str | None) -> str:
    """The ETag of a page's bytes in ``coding``: each variant is a representation of its own
    (RFC 9110, section 8.8.3), and the identity's is the sha256 TUF signs."""
    return digest if coding is None else f"{digest}.{coding}"


def _chosen_page(signed: SignedPages, environ: dict[str, Any]) -> tuple[str, str]:
    """(sha256, Content-Type) of the page the request negotiates."""
    as_json, content_type = negotiate(environ)
    return signed.digest("json" if as_json else "html"), content_type


@blueprint.get("/simple/")
def index() -> Response:
    as_json, content_type = negotiate(request.environ)
    roots = current_app.extensions.setdefault(_ROOT_INDEXES, RootIndexes(backends()))
    coding = codings.chosen(request.headers.get("Accept-Encoding", ""))
    root = roots.get("json" if as_json else "html", coding)
    response = Response(root.body, content_type=content_type)
    response.set_etag(variant_etag(root.etag, coding))
    response.headers["Cache-Control"] = PAGE_CACHE
    if coding is not None:
        response.content_encoding = coding
    response.make_conditional(request)  # 304 when the client has these bytes
    response.vary.add("Accept-Encoding")
    return _vary(response)


@blueprint.get("/simple/<project>/")
def project_page(project: str) -> BaseResponse:
    if not is_valid_project_name(project):
        raise NotFoundError(f"invalid project name {project[:100]!r}")
    name = normalize(project)
    if name != project:
        query = f"?{request.query_string.decode()}" if request.query_string else ""
        return _vary(redirect(f"../{name}/{query}", code=301))
    signed = _page_for(name)
    answer = page_answer(backends(), signed, request.environ)
    if answer is not None:
        return Response(answer.body, status=answer.status, headers=answer.headers)
    digest, content_type = _chosen_page(signed, request.environ)
    blob = Blob.stored(digest)
    response = _vary(send_blob(blob.key, blob.sha256, content_type, cache=PAGE_CACHE))
    # The same Vary as a page from memory, which may be compressed: caches keep them apart.
    response.vary.add("Accept-Encoding")
    return response


def _page_for(name: str) -> SignedPages:
    """The project's pages as last signed, read from upstream on its first request."""
    refused = refusal.refusal(backends(), name)
    if refused is not None:
        log.warning(
            "refused project request",
            extra={"project": name, "reason": refused.reason, "remote_addr": request.remote_addr},
        )
        raise refused.error()
    return open_project(backends(), name)
