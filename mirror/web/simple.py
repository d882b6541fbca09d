"""The simple repository API: PEP 503 HTML and PEP 691 JSON, chosen by Accept or ?format=.

A warm project page is answered by ``page_answer`` from the signed bytes kept in memory; the
WSGI layer in ``warm_pages`` calls it before Flask runs, and the Flask view below calls it too,
so both paths negotiate and answer with the same headers.
"""

import functools
import hashlib
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from flask import Blueprint, Response, current_app, redirect, request
from sqlalchemy import Engine
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_etags
from werkzeug.wrappers import Response as BaseResponse

from mirror.db import queries, targets
from mirror.errors import NotFoundError
from mirror.names import is_valid_project_name, normalize
from mirror.services import pages, publish, refusal, sync
from mirror.services.context import Services
from mirror.storage import blob_key
from mirror.web import page_digests, prefetcher, services
from mirror.web.auth import ALWAYS_VARY, SECURITY_HEADERS
from mirror.web.blobs import send_blob
from mirror.web.page_bytes import PageBytes
from tuf_repo.bins import index_html_path, index_json_path

log = logging.getLogger(__name__)
blueprint = Blueprint("simple", __name__)

HTML_V1 = "application/vnd.pypi.simple.v1+html"
_OFFERED = [
    pages.JSON_TYPE,
    "application/vnd.pypi.simple.latest+json",
    HTML_V1,
    "application/vnd.pypi.simple.latest+html",
    "text/html",
]
# Pages change only when the mirror publishes; clients may reuse them briefly and revalidate.
PAGE_CACHE = "max-age=60, must-revalidate"
PAGE_VARY = f"Accept, {ALWAYS_VARY}"
_ROOT_LOADER = "mirror_root_index"
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


# issue 7 (bench): clients send a handful of distinct Accept headers; parse each once.
@functools.lru_cache(maxsize=256)
def _negotiate(requested: str, accept: str) -> tuple[bool, str]:
    offered = parse_accept_header(accept, MIMEAccept)
    chosen = requested or offered.best_match(_OFFERED, default="text/html")
    if chosen and chosen.endswith("+json"):
        return True, pages.JSON_TYPE
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
    mirror: Services, name: str, signed: dict[str, str], environ: dict[str, Any]
) -> PageAnswer | None:
    """The page ``signed`` lists for ``name``, as the request negotiates it, from memory; None
    when the request asks for a range or the page is too large to keep (serve it from the
    store)."""
    if "HTTP_RANGE" in environ:
        return None
    digest, content_type = _chosen_page(name, signed, environ)
    body = PAGE_BYTES.get(mirror.blobs, digest)
    if body is None:
        return None
    headers = [
        ("ETag", f'"{digest}"'),
        ("Cache-Control", PAGE_CACHE),
        ("Accept-Ranges", "bytes"),
        ("Vary", PAGE_VARY),
        *SECURITY_HEADERS.items(),
    ]
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match and parse_etags(if_none_match).contains(digest):
        return PageAnswer(304, headers, b"")
    headers += [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    return PageAnswer(200, headers, body)


def _chosen_page(name: str, signed: dict[str, str], environ: dict[str, Any]) -> tuple[str, str]:
    """(sha256, Content-Type) of the page the request negotiates."""
    as_json, content_type = negotiate(environ)
    return signed[index_json_path(name) if as_json else index_html_path(name)], content_type


@dataclass(frozen=True)
class RootIndex:
    """The rendered ``/simple/`` page and its ETag."""

    body: bytes
    etag: str


@blueprint.get("/simple/")
def index() -> Response:
    as_json, content_type = negotiate(request.environ)
    # Rendered once per commit, not per request: with 100,000 projects a rendering reads and
    # writes every name (about 0.1 s).
    # One loader per app: the cache is kept per loader, and the rendering asks this app's rules.
    render = current_app.extensions.setdefault(
        _ROOT_LOADER, functools.partial(_render_root, services())
    )
    root = page_digests.lookup(services().engine, "json" if as_json else "html", render)
    assert root is not None  # the loader always renders one
    response = Response(root.body, content_type=content_type)
    response.set_etag(root.etag)
    response.headers["Cache-Control"] = PAGE_CACHE
    response.make_conditional(request)  # 304 when the client has these bytes
    return _vary(response)


def _render_root(mirror: Services, engine: Engine, form: str) -> RootIndex:
    with engine.connect() as conn:
        names = queries.served_projects(conn)
    # Until the next publish takes them out, the pages of a project refused since still list
    # its files.
    names = [name for name in names if refusal.refusal(mirror, name) is None]
    body = pages.render_index(names, as_json=form == "json")
    return RootIndex(body, hashlib.sha256(body).hexdigest())


@blueprint.get("/simple/<project>/")
def project_page(project: str) -> BaseResponse:
    if not is_valid_project_name(project):
        raise NotFoundError(f"invalid project name {project[:100]!r}")
    name = normalize(project)
    if name != project:
        query = f"?{request.query_string.decode()}" if request.query_string else ""
        return _vary(redirect(f"../{name}/{query}", code=301))
    signed = _page_for(name)
    answer = page_answer(services(), name, signed, request.environ)
    if answer is not None:
        return Response(answer.body, status=answer.status, headers=answer.headers)
    digest, content_type = _chosen_page(name, signed, request.environ)
    return _vary(send_blob(blob_key(digest), digest, content_type, cache=PAGE_CACHE))


def _page_for(name: str) -> dict[str, str]:
    """The project's pages as last signed (TUF target path -> sha256): the bytes served here
    are the bytes the TUF metadata lists, never a rendering newer than the signature."""
    refused = refusal.refusal(services(), name)
    if refused is not None:
        log.warning(
            "refused project request",
            extra={"project": name, "reason": refused.reason, "remote_addr": request.remote_addr},
        )
        raise refused.error()
    signed = signed_pages(services(), name)
    if signed is None:
        # A project's first request: read upstream now and sign the pages, so the client gets
        # an answer in one go (the files' targets follow). Content inspection (downloads) is
        # left to the scheduler's cycle.
        sync.first_look(services(), name)
        publish.publish_now(services(), name, pages_only=True)
        prefetcher().after_first_look(name)
        signed = signed_pages(services(), name)
    if signed is None:
        with services().engine.connect() as conn:
            if queries.get_page(conn, name) is None:
                raise NotFoundError(f"{name}: no such project")
        raise publish.NotPublishedYet(f"{name}: page not signed yet, retry in a minute")
    return signed


def signed_pages(mirror: Services, name: str) -> dict[str, str] | None:
    """The project's pages as last signed (TUF target path -> sha256), or None (not yet)."""
    # issue 7 (bench): a warm page costs no query; the cache empties on any commit.
    return page_digests.lookup(mirror.engine, name, _read_signed_pages)


def _read_signed_pages(engine: Engine, name: str) -> dict[str, str] | None:
    paths = (index_html_path(name), index_json_path(name))
    with engine.connect() as conn:
        rows = [targets.published_target(conn, path) for path in paths]
    if any(row is None for row in rows):
        return None
    return {row.path: row.sha256 for row in rows if row is not None}
