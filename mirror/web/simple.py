"""The simple repository API: PEP 503 HTML and PEP 691 JSON, chosen by Accept or ?format=."""

import functools
import logging
from typing import Any

from flask import Blueprint, Response, redirect, request
from sqlalchemy import Row
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

from mirror.db import queries
from mirror.errors import NotFoundError
from mirror.names import is_valid_project_name, normalize
from mirror.services import pages, sync
from mirror.storage import blob_key
from mirror.web import page_digests, services
from mirror.web.blobs import send_blob

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


def _vary(response: Response) -> Response:
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
def project_page(project: str) -> Response:
    if not is_valid_project_name(project):
        raise NotFoundError(f"invalid project name {project[:100]!r}")
    name = normalize(project)
    if name != project:
        query = f"?{request.query_string.decode()}" if request.query_string else ""
        return _vary(redirect(f"../{name}/{query}", code=301))
    page = _page_for(name)
    as_json, mimetype = _wants_json()
    digest = page.json_sha256 if as_json else page.html_sha256
    return _vary(send_blob(blob_key(digest), digest, mimetype, cache=PAGE_CACHE))


def _page_for(name: str) -> Row[Any]:
    refusal = services().rules.project_refusal(name)
    if refusal:
        log.warning(
            "refused project request",
            extra={"project": name, "reason": refusal, "remote_addr": request.remote_addr},
        )
        raise NotFoundError(f"{name}: not available from this mirror")
    # issue 7 (bench): page rows come from a per-process cache invalidated by any commit.
    page = page_digests.lookup(services().engine, name)
    if page is None:
        # A project's first request: read upstream now, so the client gets an answer in one go.
        # Content inspection (downloads) is left to the scheduler's cycle.
        sync.refresh(services(), name, inspect=False)
        page = page_digests.lookup(services().engine, name)
    if page is None:
        raise NotFoundError(f"{name}: no such project")
    return page
