"""Render project pages (PEP 503 HTML and PEP 691 JSON) from admitted files, and store them.

Pages are rendered when what they show changes, not per request, and stored as blobs: the
bytes a client gets are the bytes the TUF repository signs (docs/tuf.md, "What is signed").
So they carry nothing that varies per request: relative links, no host, token or clock, and a
stable order. One context feeds both formats (the Warehouse pattern). The one change rendered
later is a first download's extracted METADATA (``render_stale``): only later clients read it.
"""

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from json.encoder import encode_basestring_ascii
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import Connection, Engine

from mirror.db import file_rows, page_rows, project_rows, record_rows
from mirror.db.engine import writing
from mirror.db.record_rows import StoredRecord
from mirror.db.records import UNSAVED, FileRow
from mirror.errors import MirrorError
from mirror.policy.verdicts import version_key
from mirror.services import project_status, targets
from mirror.simple_api import ACTIVE, ProjectStatus
from mirror.storage import BlobStore, store_bytes
from mirror.timeutil import format_timestamp

# 1.4: PEP 792 `project-status` (1.1 brought PEP 700's upload-time and versions, 1.3 PEP 740's
# provenance). Installers read only the major version: a newer minor is at most a warning.
API_VERSION = "1.4"
HTML_TYPE = "text/html; charset=utf-8"

log = logging.getLogger(__name__)


def file_path(project: str, filename: str) -> str:
    """The file URL path relative to the site root (also its TUF target path)."""
    return f"packages/{project}/{filename}"


def provenance_path(project: str, filename: str) -> str:
    """Where the mirror serves its copy of a file's verified PEP 740 provenance object."""
    return f"{file_path(project, filename)}.provenance"


# The attributes of a files row a page shows, read in one call (a FileRecord or a Row alike).
_SHOWN = attrgetter(
    "filename",
    "sha256",
    "size",
    "upload_time",
    "requires_python",
    "yanked",
    "yanked_reason",
    "metadata_sha256",
    "provenance_sha256",
)
# How ``json.dumps`` writes a string (quoted, ASCII only); it escapes character by character,
# so the quoted text of a concatenation is the concatenation of the texts.
_json_text = encode_basestring_ascii


def render(
    project: str, rows: Sequence[FileRow], status: ProjectStatus = ACTIVE
) -> tuple[bytes, bytes]:
    """The project page as (HTML, JSON), from one pass over the files, with its status."""
    anchors, entries = _file_entries(project, rows)
    # By their text first: versions equal as versions ("1.0", "1.0.0") keep that order, not
    # the order their strings hash in, which differs from process to process.
    versions = sorted(sorted({row.version for row in rows}), key=version_key)
    return _render_html(project, anchors, status), _render_json(project, versions, entries, status)


def _file_entries(project: str, rows: Sequence[FileRow]) -> tuple[list[str], list[str]]:
    """Each file's HTML anchor and PEP 691 JSON object, written in one pass over ``rows``.

    A first look renders thousands of files, so the entries are written as text, not built as
    dicts for ``json.dumps``, in one loop (two calls per file would cost a fifth more); the
    bytes are the same (``tests/services/test_page_rendering.py`` keeps them). Every text a row
    carries is escaped by ``html.escape`` for HTML and by the string encoder of ``json.dumps``
    for JSON, but the filenames and digests of a page where neither would change any
    (``_escape_nothing``: upstream's, always); in HTML, the digests (hex the mirror checked or
    computed) are written as they are.
    """
    # The files' URL prefix, escaped once for the whole page.
    base = f"../../{file_path(project, '')}"
    html_base, json_base = escape(base), _json_text(base)[:-1]
    # A project's files repeat a few requires-python specifiers: each is escaped once.
    html_specifiers: dict[str, str] = {}
    json_specifiers: dict[str | None, str] = {None: "null"}
    anchors: list[str] = []
    entries: list[str] = []
    shown = list(map(_SHOWN, rows))
    plain = _escape_nothing(shown)
    for (
        filename,
        sha256,
        size,
        upload_time,
        requires_python,
        yanked,
        yanked_reason,
        metadata_sha256,
        provenance_sha256,
    ) in shown:
        if plain:
            html_name = json_name = filename
            json_sha256 = f'"{sha256}"'
        else:
            html_name, json_name = escape(filename), _json_text(filename)[1:-1]
            json_sha256 = _json_text(sha256)
        anchor = f'<a href="{html_base}{html_name}#sha256={sha256}"'
        if requires_python:
            specifier = html_specifiers.get(requires_python)
            if specifier is None:
                specifier = html_specifiers[requires_python] = escape(requires_python)
            anchor += f' data-requires-python="{specifier}"'
        json_specifier = json_specifiers.get(requires_python)
        if json_specifier is None:
            json_specifier = json_specifiers[requires_python] = _json_text(requires_python)
        if yanked:
            anchor += f' data-yanked="{escape(yanked_reason or "")}"'
            json_yanked = _json_text(yanked_reason) if yanked_reason else "true"
        else:
            json_yanked = "false"
        if metadata_sha256:
            anchor += (
                f' data-core-metadata="sha256={metadata_sha256}"'
                f' data-dist-info-metadata="sha256={metadata_sha256}"'
            )
            json_metadata = f'"{metadata_sha256}"' if plain else _json_text(metadata_sha256)
            metadata = f'{{"sha256":{json_metadata}}}'
        else:
            metadata = "false"
        # PEP 740 asks for a URL; a relative one keeps the page free of our host name, so its
        # bytes stay the same for every client (and for TUF). Set only for verified attestations.
        if provenance_sha256:
            anchor += f' data-provenance="{html_base}{html_name}.provenance"'
            provenance = f'{json_base}{json_name}.provenance"'
        else:
            provenance = "null"
        anchors.append(f"{anchor}>{html_name}</a><br>")
        sized = "" if size is None else f'"size":{size},'
        # PEP 700's key is left out, never null, for a file upstream gives no upload time (uv
        # refuses a null one): the mirror does not invent one from its own first sight. An ISO
        # 8601 timestamp needs no JSON escaping.
        uploaded = (
            "" if upload_time is None else f'"upload-time":"{format_timestamp(upload_time)}",'
        )
        entries.append(
            f'{{"core-metadata":{metadata},"data-dist-info-metadata":{metadata},'
            f'"filename":"{json_name}","hashes":{{"sha256":{json_sha256}}},'
            f'"provenance":{provenance},"requires-python":{json_specifier},{sized}{uploaded}'
            f'"url":{json_base}{json_name}","yanked":{json_yanked}}}'
        )
    return anchors, entries


def _escape_nothing(shown: list[tuple[Any, ...]]) -> bool:
    """Whether neither format would escape the filenames and digests of ``shown`` (``_SHOWN``
    of each file): one check for the whole page."""
    return _needs_no_escaping(
        "".join(
            (
                *map(itemgetter(0), shown),
                *map(itemgetter(1), shown),
                *filter(None, map(itemgetter(7), shown)),
            )
        )
    )


# The ASCII characters either format escapes: "&", "<", ">" and both quotes for
# ``html.escape``; the double quote, the backslash and the control characters for the
# ``json.dumps`` encoder, which escapes every character past "~" too.
_ESCAPED = bytes(range(0x20)) + b"\x7f\"&'<>\\"


def _needs_no_escaping(text: str) -> bool:
    """Whether ``html.escape`` and ``json.dumps``' string encoder leave ``text`` as it is."""
    # ASCII text encodes to one byte per character, which ``translate`` drops if escaped.
    return text.isascii() and len(text.encode().translate(None, _ESCAPED)) == len(text)


def _status_object(status: ProjectStatus) -> dict[str, str]:
    """PEP 792's ``project-status`` object (the marker always, the reason when there is one)."""
    shown = {"status": status.status.value}
    if status.reason:
        shown["reason"] = status.reason
    return shown


def _dumps(document: object) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def _render_json(
    project: str, versions: list[str], entries: list[str], status: ProjectStatus
) -> bytes:
    # json.dumps(sort_keys=True) of the whole document, its files written by _file_entries.
    return (
        f'{{"files":[{",".join(entries)}],"meta":{_dumps({"api-version": API_VERSION})},'
        f'"name":{_json_text(project)},"project-status":{_dumps(_status_object(status))},'
        f'"versions":{_dumps(versions)}}}'
    ).encode()


def _status_meta(status: ProjectStatus) -> str:
    tags = [f'<meta name="pypi:project-status" content="{status.status.value}">\n']
    if status.reason:
        tags.append(f'<meta name="pypi:project-status-reason" content="{escape(status.reason)}">\n')
    return "".join(tags)


def _render_html(project: str, anchors: list[str], status: ProjectStatus) -> bytes:
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"{_status_meta(status)}"
        f"<title>Links for {escape(project)}</title>\n</head>\n<body>\n"
        f"<h1>Links for {escape(project)}</h1>\n{chr(10).join(anchors)}\n</body>\n</html>\n"
    ).encode()


@dataclass(frozen=True)
class Rendered:
    """A project's pages, stored as blobs, and the admitted files they list."""

    project: str
    html: bytes
    data: bytes
    html_sha256: str
    json_sha256: str
    rows: Sequence[FileRow]
    status: ProjectStatus

    def page_targets(self) -> targets.Wanted:
        """The TUF targets of the two pages."""
        html, data = (self.html_sha256, len(self.html)), (self.json_sha256, len(self.data))
        return targets.page_targets(self.project, html, data)

    def targets(self, records: Mapping[str, StoredRecord]) -> targets.Wanted:
        """Every TUF target the pages and the files they list make, with their admission
        ``records`` (``record_rows.project_records``)."""
        return targets.wanted(self.project, self.rows, self.page_targets(), records)


def render_pages(
    blobs: BlobStore, project: str, rows: Sequence[FileRow], status: ProjectStatus
) -> Rendered:
    """Render and store the pages that list ``rows`` (the admitted files) with the project's
    ``status``; no transaction needed: blobs are named by their digest, and nothing refers to
    them until recorded."""
    html, data = render(project, rows, status)
    return Rendered(
        project=project,
        html=html,
        data=data,
        html_sha256=store_bytes(blobs, html),
        json_sha256=store_bytes(blobs, data),
        rows=rows,
        status=status,
    )


def record_pages(conn: Connection, project: str, pages: Rendered, now: datetime) -> bool:
    """Make ``pages`` the project's pages and queue their TUF targets; True when they changed.

    Clients see the new pages once the publisher has signed them (``services.publish``).
    """
    # TUF: queue the signed-target changes in this same transaction (docs/tuf.md, "How changes
    # are published").
    records = record_rows.project_records(conn, project)
    targets.queue_project(conn, project, pages.targets(records), now)
    return record_page_row(conn, project, pages, now, records=records)


def record_page_row(
    conn: Connection,
    project: str,
    pages: Rendered,
    now: datetime,
    *,
    files_deferred: bool = False,
    records: Mapping[str, StoredRecord] | None = None,
) -> bool:
    """``record_pages`` without queueing the targets (the caller did); True when they changed.

    ``files_deferred``: the caller queued only the pages' targets; the files' are queued by
    the next full batch (``queue_deferred_targets``). The row is then written without being
    read first (a first look's pages are new), and True returned. ``records``: the project's
    admission records, when the caller read them. A listed file without a record of its
    current decision marks the page's records due, whether or not the page changed (a lifted
    rule admits files again under the same page): the next full batch writes them
    (``admission_records``). A file without a row of its own gets no record (a first look's
    files have none yet): the records are read only when a listed file has one.
    """
    changed = _put_page_row(conn, project, pages, now, files_deferred)
    saved = [row for row in pages.rows if row.id != UNSAVED]
    if saved:
        if records is None:
            records = record_rows.project_records(conn, project)
        if any(record_rows.record_due(records.get(row.filename), row) for row in saved):
            record_rows.mark_due(conn, project, now)
    return changed


def _put_page_row(
    conn: Connection, project: str, pages: Rendered, now: datetime, files_deferred: bool
) -> bool:
    current = None if files_deferred else page_rows.get_page(conn, project)
    unchanged = current is not None and (current.html_sha256, current.json_sha256) == (
        pages.html_sha256,
        pages.json_sha256,
    )
    if (
        unchanged
        and current is not None
        and current.stale_since is None
        and current.targets_deferred_since is None
    ):
        return False
    page_rows.put_page(
        conn,
        project,
        {
            "html_sha256": pages.html_sha256,
            "html_size": len(pages.html),
            "json_sha256": pages.json_sha256,
            "json_size": len(pages.data),
            "files": len(pages.rows),
            "rendered_at": now,
            "stale_since": None,
            "targets_deferred_since": now if files_deferred else None,
        },
    )
    return not unchanged


def render_and_queue(
    conn: Connection,
    blobs: BlobStore,
    project_id: int,
    project: str,
    now: datetime,
    admitted: Sequence[FileRow] | None = None,
) -> bool:
    """Render, store and record the project's pages and queue their TUF targets; signs nothing.

    ``render_pages`` then ``record_pages``; the publisher signs the queue later. True when the
    pages changed.

    ``admitted``: the admitted files by filename, when the caller has them (else read here).
    """
    rows = file_rows.admitted_files(conn, project_id) if admitted is None else admitted
    status = project_status.for_project(conn, project, project_id)
    return record_pages(conn, project, render_pages(blobs, project, rows, status), now)


def render_stale(engine: Engine, blobs: BlobStore, now: datetime) -> list[str]:
    """Render again the pages marked stale (``page_rows.mark_page_stale``); the projects done.

    Each in a write transaction of its own: a large page takes tenths of a second to render,
    and web requests' writers wait meanwhile. A page that fails (storage) stays stale for the
    next call.
    """
    with engine.connect() as conn:
        projects = page_rows.stale_pages(conn)
    done = []
    for project in projects:
        try:
            with writing(engine) as conn:
                row = project_rows.get_project(conn, project)
                if row is not None:
                    render_and_queue(conn, blobs, row.id, project, now)
        except MirrorError as exc:
            log.warning("page not rendered again", extra={"project": project, "error": str(exc)})
            continue
        done.append(project)
    return done


def queue_deferred_targets(engine: Engine) -> list[str]:
    """Queue the files' targets of the pages recorded without them (``record_page_row``);
    the projects done. Each in a write transaction of its own, as ``render_stale``.

    They are queued as of their first look, when what they sign was decided: so they are not
    news to the scheduler's watch (``follow_up``), which noticed that first look already.
    """
    with engine.connect() as conn:
        projects = page_rows.deferred_pages(conn)
    for project in projects:
        with writing(engine) as conn:
            page = page_rows.get_page(conn, project)
            row = project_rows.get_project(conn, project)
            if page is None or row is None or page.targets_deferred_since is None:
                continue  # rendered again meanwhile, which queued everything
            html, data = (page.html_sha256, page.html_size), (page.json_sha256, page.json_size)
            listed = file_rows.admitted_files(conn, row.id)
            records = record_rows.project_records(conn, project)
            page_targets = targets.page_targets(project, html, data)
            wanted = targets.wanted(project, listed, page_targets, records)
            targets.queue_project(conn, project, wanted, page.targets_deferred_since)
            page_rows.targets_queued(conn, project)
    return projects


def render_index(names: Sequence[str], as_json: bool) -> bytes:
    """The root ``/simple/`` page listing ``names`` (kept per commit by the web layer)."""
    if as_json:
        document = {"meta": {"api-version": API_VERSION}, "projects": [{"name": n} for n in names]}
        return _dumps(document).encode()
    anchors = "\n".join(f'<a href="{escape(n)}/">{escape(n)}</a><br>' for n in names)
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta name="pypi:repository-version" content="{API_VERSION}">\n'
        "<title>Simple index</title>\n</head>\n<body>\n"
        f"{anchors}\n</body>\n</html>\n"
    ).encode()
