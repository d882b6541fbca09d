"""What a project contributes to the TUF targets, and queueing the difference.

A project's targets (docs/tuf.md, "What is signed") are its two pages and, for each admitted
file, the file, its PEP 658 ``.metadata`` companion, the mirror's copy of its verified PEP
740 ``.provenance`` (what a pipeline records as a file's Trusted Publisher is then signed too)
and its ``.admission`` record, while that record describes the file's current decision.
``queue_project`` runs inside the transaction that changed what is served
(``pages.render_and_queue``): it compares what should be signed with what the signed metadata
lists plus what is already queued, and queues the rest. So a block, a withdrawal or an admission
reaches the TUF targets in the same commit as the state change, and the publisher only has to
sign the queue. The one exception is a first look, which queues its pages' targets and leaves
its files' to the next full batch (``pages.queue_deferred_targets``): thousands of queue rows
in the transaction every first look waits for, for targets no client waits for.
"""

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect

from mirror.db import targets as db
from mirror.db.bulk import Prepared
from mirror.db.record_rows import StoredRecord, describes
from mirror.db.records import UNSAVED, FileRow
from mirror.policy.admission import State
from tuf_repo.bins import (
    ADMISSION_SUFFIX,
    METADATA_SUFFIX,
    PROVENANCE_SUFFIX,
    file_path,
    index_html_path,
    index_json_path,
    package_prefix,
)

log = logging.getLogger(__name__)

# path -> (sha256, length); length None until the bytes are stored and their length learnt.
Wanted = dict[str, tuple[str, int | None]]


def page_targets(project: str, html: tuple[str, int], data: tuple[str, int]) -> Wanted:
    """The targets of the project's two pages, each given as (sha256, length)."""
    return {index_html_path(project): html, index_json_path(project): data}


def wanted(
    project: str,
    rows: Sequence[FileRow],
    pages: Wanted,
    records: Mapping[str, StoredRecord],
) -> Wanted:
    """Every target the project should have: its ``pages`` (``page_targets``) and what its
    admitted ``rows`` make, with their admission ``records`` (by filename) that describe
    their current decisions: a record of an earlier decision leaves the signed targets in the
    transaction that decided again, before its successor is written.

    A companion's length is the one recorded when the mirror stored its bytes (a ``.metadata``'s
    ``metadata_size``), else left unknown: asking the blob store for thousands of sizes (one
    request each on S3) would make queueing a large project's targets slow. It is learnt when
    the bytes are stored (``db.learn_length``), or by the scheduler, which fetches them. Wheels
    of one release for several platforms mostly share one METADATA: the length recorded for one
    serves them all. A history file without a row of its own has a ``.metadata`` target only
    once those bytes are stored (``queue_stored_metadata``, or a sibling's): the scheduler would
    otherwise fetch the metadata of every file a first look lists, to learn its length.
    """
    result = dict(pages)
    stored = {r.metadata_sha256: r.metadata_size for r in rows if r.metadata_size is not None}
    prefix = package_prefix(project)  # checked once, not once per file (as ``pages`` was)
    for row in rows:
        try:
            path = file_path(prefix, row.filename)
        except ValueError as exc:
            # Served at its file URL, but not a name TUF clients can look up.
            log.warning("file not signed", extra={"project": project, "error": str(exc)})
            continue
        result[path] = (row.sha256, row.size)
        if row.metadata_sha256:
            length = stored.get(row.metadata_sha256)
            if length is not None or row.id != UNSAVED:
                result[path + METADATA_SUFFIX] = (row.metadata_sha256, length)
        if row.provenance_sha256:
            result[path + PROVENANCE_SUFFIX] = (row.provenance_sha256, None)
        record = records.get(row.filename)
        if record is not None and describes(record, row):
            result[path + ADMISSION_SUFFIX] = (record.sha256, record.size)
    return result


def prepare_first(dialect: Dialect, project: str, target: Wanted, now: datetime) -> Prepared:
    """What ``queue_project`` queues for a project with nothing signed or queued (its first
    look), built ahead of the transaction that runs it."""
    return db.prepare_queue(dialect, _changes(project, target, {}, now))


def queued_state(conn: Connection, project: str) -> dict[str, str]:
    """path -> sha256 once everything queued is published."""
    state = {path: sha for path, (sha, _) in db.published(conn, project).items()}
    for change in db.pending(conn, project):
        if change.op == "add":
            state[change.path] = change.sha256
        else:
            state.pop(change.path, None)
    return state


def earlier_state(conn: Connection, project: str) -> dict[str, str]:
    """``queued_state`` of a project new to the mirror (at its first look): empty but for
    targets left by an earlier life of the project, which one statement rules out."""
    return queued_state(conn, project) if db.any_for_project(conn, project) else {}


def queue_project(conn: Connection, project: str, target: Wanted, now: datetime) -> int:
    """Queue the changes that make the project's signed targets match ``target`` (``wanted``);
    returns how many."""
    changes = _changes(project, target, queued_state(conn, project), now)
    db.queue(conn, changes)
    return len(changes)


def queue_stored_metadata(conn: Connection, row: FileRow, project: str, now: datetime) -> None:
    """Queue the ``.metadata`` of ``row`` (read in this transaction, after its metadata was
    stored and its length recorded), unless it is queued or signed already or the file is no
    longer admitted: a history file's is wanted only from then on (``wanted``)."""
    if row.state != State.ADMITTED or not row.metadata_sha256 or row.metadata_size is None:
        return
    path = file_path(package_prefix(project), row.filename) + METADATA_SUFFIX
    signed = db.published_target(conn, path)
    if db.queued(conn, [path]) or (signed is not None and signed.sha256 == row.metadata_sha256):
        return
    queue_additions(conn, project, {path: (row.metadata_sha256, row.metadata_size)}, now)


def queue_additions(conn: Connection, project: str, additions: Wanted, now: datetime) -> None:
    """Queue ``additions`` to the project's targets, the caller having checked, in this
    transaction, that they are wanted (``wanted``)."""
    db.queue(conn, _changes(project, additions, {}, now))


def _changes(
    project: str, target: Wanted, current: Mapping[str, str], now: datetime
) -> list[dict[str, Any]]:
    """The queue rows that take the project's targets from ``current`` (path -> sha256) to
    ``target``."""
    base = {"project": project, "queued_at": now}
    changes = [
        {**base, "op": "add", "path": path, "length": length, "sha256": sha256}
        for path, (sha256, length) in sorted(target.items())
        if current.get(path) != sha256
    ]
    changes += [
        {**base, "op": "remove", "path": path, "length": None, "sha256": None}
        for path in sorted(set(current) - set(target))
    ]
    return changes
