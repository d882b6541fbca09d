"""The pages the web serves, as last signed: the bytes served are the bytes the TUF metadata
lists, never a rendering newer than the signature.

A project's first request reads upstream and signs its pages at once (``open_project``), so the
client gets an answer in one go. Lookups go through ``mirror.db.commit_cache``: a warm page
costs no query until the next commit.
"""

import functools
import hashlib
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Engine

from mirror.codings import encode
from mirror.db import commit_cache, page_rows, targets
from mirror.services import pages, prefetch, publish, refusal, sync
from mirror.services.backends import Backends
from tuf_repo.bins import index_html_path, index_json_path

PageForm = Literal["html", "json"]


@dataclass(frozen=True)
class SignedPages:
    """The sha256 of a project's signed PEP 503 and PEP 691 pages."""

    html: str
    json: str

    def digest(self, form: PageForm) -> str:
        return self.json if form == "json" else self.html


def signed_pages(mirror: Backends, name: str) -> SignedPages | None:
    """The project's pages as last signed, or None (not yet)."""
    return commit_cache.lookup(mirror.engine, name, _read_signed_pages)


def _read_signed_pages(engine: Engine, name: str) -> SignedPages | None:
    with engine.connect() as conn:
        html = targets.published_target(conn, index_html_path(name))
        json = targets.published_target(conn, index_json_path(name))
    if html is None or json is None:
        return None
    return SignedPages(html=html.sha256, json=json.sha256)


def open_project(mirror: Backends, name: str) -> SignedPages:
    """The project's signed pages; on its first request, read upstream now and sign them (the
    files' targets follow). Content inspection (downloads) is left to the scheduler's cycle.

    Raises:
        NotFoundError: upstream has no such project.
        NotPublishedYetError: the pages are recorded, but this process cannot sign them.
    """
    signed = signed_pages(mirror, name)
    if signed is None:
        sync.first_look(mirror, name)
        publish.publish_now(mirror, name, pages_only=True)
        prefetch.after_first_look(mirror, name)
        signed = signed_pages(mirror, name)
    if signed is None:
        with mirror.engine.connect() as conn:
            if page_rows.get_page(conn, name) is None:
                raise refusal.unknown(name, "no such project").error()
        raise publish.NotPublishedYetError(f"{name}: page not signed yet, retry in a minute")
    return signed


def signed_page(mirror: Backends, project: str, filename: str) -> str | None:
    """The sha256 of ``simple/<project>/<filename>`` as last signed, or None."""
    paths = {"index.html": index_html_path, "index.json": index_json_path}
    if filename not in paths:
        return None
    with mirror.engine.connect() as conn:
        row = targets.published_target(conn, paths[filename](project))
    return None if row is None else str(row.sha256)


@dataclass(frozen=True)
class RootIndex:
    """The rendered ``/simple/`` page and its ETag."""

    body: bytes
    etag: str


class RootIndexes:
    """The root index of one app's backends, rendered (and compressed, per coding asked for)
    once per commit rather than per request: with 100,000 projects a rendering reads and
    writes every name (about 0.1 s)."""

    def __init__(self, mirror: Backends) -> None:
        self._mirror = mirror
        # One loader each per app: the cache is kept per loader, and the rendering asks this
        # app's rules.
        self._render = functools.partial(_render_root, mirror)
        self._encode = functools.partial(_encode_root, self)

    def get(self, form: PageForm, coding: str | None = None) -> RootIndex:
        """The root index in ``form``; in ``coding`` when given, with the identity's ETag."""
        key, load = (form, self._render) if coding is None else (f"{form}.{coding}", self._encode)
        root = commit_cache.lookup(self._mirror.engine, key, load)
        assert root is not None  # the loaders always make one
        return root


def _encode_root(roots: RootIndexes, engine: Engine, key: str) -> RootIndex:
    form, coding = key.split(".")
    identity = roots.get("json" if form == "json" else "html")
    return RootIndex(encode(identity.body, coding), identity.etag)


def _render_root(mirror: Backends, engine: Engine, form: str) -> RootIndex:
    with engine.connect() as conn:
        names = page_rows.served_projects(conn)
    # Until the next publish takes them out, the pages of a project refused since still list
    # its files.
    names = [name for name in names if refusal.refusal(mirror, name) is None]
    body = pages.render_index(names, as_json=form == "json")
    return RootIndex(body, hashlib.sha256(body).hexdigest())
