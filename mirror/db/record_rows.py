"""The admission records table, and the pages whose files' records are due."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, select, update

from mirror.db.records import UNSAVED
from mirror.db.schema import admission_records, pages
from mirror.db.upsert import upsert_many


class StoredRecord(NamedTuple):
    """An admission record as stored: valid while its file's ``state_at`` is ``decided_at``."""

    filename: str
    decided_at: datetime
    sha256: str
    size: int


def describes(record: StoredRecord | None, row: Any) -> bool:
    """Whether ``record`` is the record of ``row``'s (a files row's) current decision."""
    return record is not None and row is not None and record.decided_at == row.state_at


def record_due(record: StoredRecord | None, row: Any) -> bool:
    """Whether ``row``, an admitted file, waits for a record of its current decision. A history
    file without a row of its own gets none until it gets one (docs/tuf.md, "Admission
    records"): most are never installed, and a record is a blob and a target each."""
    return row.id != UNSAVED and not describes(record, row)


def project_records(conn: Connection, project: str) -> dict[str, StoredRecord]:
    """The project's records by filename, current or not."""
    columns = [admission_records.c[name] for name in StoredRecord._fields]
    query = select(*columns).where(admission_records.c.project == project)
    return {row.filename: StoredRecord._make(row) for row in conn.execute(query)}


def file_record(conn: Connection, project: str, filename: str) -> StoredRecord | None:
    """The file's record, current or not; by name, as a file admitted as history has no row."""
    row = conn.execute(_FILE_RECORD, {"project": project, "name": filename}).first()
    return None if row is None else StoredRecord._make(row)


# Built once, as ``_MARK_DUE``: a client's first download runs both under the write lock.
_FILE_RECORD = select(*(admission_records.c[name] for name in StoredRecord._fields)).where(
    admission_records.c.project == bindparam("project"),
    admission_records.c.filename == bindparam("name"),
)


def put_records(
    conn: Connection, project: str, records: Sequence[StoredRecord], now: datetime
) -> None:
    """Store the project's ``records``, each replacing the file's earlier one; one statement."""
    rows = [
        {
            "filename": record.filename,
            "project": project,
            "decided_at": record.decided_at,
            "sha256": record.sha256,
            "size": record.size,
            "created_at": now,
        }
        for record in records
    ]
    upsert_many(conn, admission_records, ["filename"], rows)


def forget_records(conn: Connection, filenames: Sequence[str]) -> None:
    """Drop the records of files whose decision moved on (blocked, withdrawn, decided again)."""
    if filenames:
        conn.execute(delete(admission_records).where(admission_records.c.filename.in_(filenames)))


def mark_due(conn: Connection, project: str, now: datetime) -> None:
    """Some of the project's admitted files lack a record of their current decision. Always
    moved to ``now``: a batch writing the earlier ones then leaves the project due."""
    conn.execute(_MARK_DUE, {"of_project": project, "now": now})


_MARK_DUE = (
    update(pages)
    .where(pages.c.project == bindparam("of_project"))
    .values(records_due_since=bindparam("now"))
)


def due_projects(conn: Connection) -> list[tuple[str, datetime]]:
    """Projects whose files' records may be due, and since when, the most recent first: a
    person's approval is then recorded before a backlog of history."""
    due = pages.c.records_due_since
    query = select(pages.c.project, due).where(due.is_not(None)).order_by(due.desc())
    return [(project, since) for project, since in conn.execute(query)]


def records_done(conn: Connection, project: str, since: datetime) -> None:
    """The project's records are written as of ``since``; a later page change keeps it due."""
    conn.execute(
        update(pages)
        .where(pages.c.project == project, pages.c.records_due_since == since)
        .values(records_due_since=None)
    )
