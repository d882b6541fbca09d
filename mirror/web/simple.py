"""The simple repository API: PEP 503 HTML and PEP 691 JSON, chosen by Accept or ?format=."""

import functools
import logging
from typing import TypeVar

from flask import Blueprint, Response, redirect, request
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header
from werkzeug.wrappers import Response as BaseResponse

from mirror.db import queries, targets
from mirror.errors import NotFoundError
from mirror.names import is_valid_project_name, normalize
from mirror.services import pages, publish, sync
from mirror.storage import blob_key
from mirror.web import page_digests, services
from mirror.web.blobs import send_blob
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


def _wants_json() -> tuple[bool, str]:
    """(JSON?, Content-Type to answer with), from ?format= first, then Accept (PEP 691)."""
    # An unencoded "+" in the query arrives as a space; take it back.
    requested = request.args.get("format", "").replace(" ", "+")
    return _negotiate(requested, request.headers.get("Accept", ""))


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


@blueprint.get("/simple/")
def index() -> Response:
    as_json, mimetype = _wants_json()
    with services().engine.connect() as conn:
        names = queries.served_projects(conn)
    response = Response(pages.render_index(names, as_json), mimetype=mimetype)
    response.headers["Cache-Control"] = PAGE_CACHE
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
    as_json, mimetype = _wants_json()
    digest = signed[index_json_path(name) if as_json else index_html_path(name)]
    return _vary(send_blob(blob_key(digest), digest, mimetype, cache=PAGE_CACHE))


def _page_for(name: str) -> dict[str, str]:
    """The project's pages as last signed (TUF target path -> sha256): the bytes served here
    are the bytes the TUF metadata lists, never a rendering newer than the signature."""
    refusal = services().rules.project_refusal(name)
    if refusal:
        log.warning(
            "refused project request",
            extra={"project": name, "reason": refusal, "remote_addr": request.remote_addr},
        )
        raise NotFoundError(f"{name}: not available from this mirror")
    signed = _signed_pages(name)
    if signed is None:
        # A project's first request: read upstream now and publish, so the client gets an
        # answer in one go. Content inspection (downloads) is left to the scheduler's cycle.
        sync.first_look(services(), name)
        publish.publish_now(services(), name)
        signed = _signed_pages(name)
    if signed is None:
        with services().engine.connect() as conn:
            if queries.get_page(conn, name) is None:
                raise NotFoundError(f"{name}: no such project")
        raise publish.NotPublishedYet(f"{name}: page not signed yet, retry in a minute")
    return signed


def _signed_pages(name: str) -> dict[str, str] | None:
    # issue 7 (bench): a warm page costs no query; the cache empties on any commit.
    return page_digests.lookup(services().engine, name, _read_signed_pages)


def _read_signed_pages(name: str) -> dict[str, str] | None:
    paths = (index_html_path(name), index_json_path(name))
    with services().engine.connect() as conn:
        rows = [targets.published_target(conn, path) for path in paths]
    if any(row is None for row in rows):
        return None
    return {row.path: row.sha256 for row in rows if row is not None}
