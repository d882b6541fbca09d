"""The query functions services use; nothing else in the mirror writes SQL."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Dialect,
    Row,
    Select,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from mirror.db.bulk import Prepared, insert_many, prepare, run
from mirror.db.records import FILE_COLUMNS, FileRecord
from mirror.db.schema import (
    advisories,
    advisory_ranges,
    blocks,
    downloads,
    events,
    files,
    pages,
    projects,
    status,
)


def get_project(conn: Connection, name: str) -> Row[Any] | None:
    return conn.execute(select(projects).where(projects.c.name == name)).first()


def create_project(conn: Connection, name: str, now: datetime) -> Row[Any]:
    conn.execute(
        insert(projects).values(name=name, display_name=name, created_at=now, upstream_gone=False)
    )
    row = get_project(conn, name)
    assert row is not None
    return row


def update_project(conn: Connection, project_id: int, **values: Any) -> None:
    conn.execute(update(projects).where(projects.c.id == project_id).values(**values))


def project_names(conn: Connection) -> list[str]:
    return list(conn.execute(select(projects.c.name).order_by(projects.c.name)).scalars())


def project_files(conn: Connection, project_id: int) -> list[FileRecord]:
    query = select(*FILE_COLUMNS).where(files.c.project_id == project_id)
    return _records(conn, query.order_by(files.c.filename))


def file_ids(conn: Connection, project_id: int) -> dict[str, int]:
    """The project's file ids by filename."""
    query = select(files.c.filename, files.c.id).where(files.c.project_id == project_id)
    return {filename: file_id for filename, file_id in conn.execute(query)}


def files_by_id(conn: Connection, ids: Sequence[int]) -> list[FileRecord]:
    return _records(conn, select(*FILE_COLUMNS).where(files.c.id.in_(ids)))


def admitted_files(conn: Connection, project_id: int) -> list[FileRecord]:
    query = select(*FILE_COLUMNS).where(
        and_(files.c.project_id == project_id, files.c.state == "admitted")
    )
    return _records(conn, query.order_by(files.c.filename))


def _records(conn: Connection, query: Select[Any]) -> list[FileRecord]:
    return [FileRecord._make(row) for row in conn.execute(query)]


def file_by_name(conn: Connection, project: str, filename: str) -> Row[Any] | None:
    query = (
        select(files, projects.c.name.label("project"))
        .join(projects, projects.c.id == files.c.project_id)
        .where(and_(projects.c.name == project, files.c.filename == filename))
    )
    return conn.execute(query).first()


# Row values go in as execute parameters, not .values(): the statement then compiles once and
# is cached, which makes a first sync of a project with thousands of files several times faster.


def insert_files(conn: Connection, project_id: int, records: Sequence[FileRecord]) -> None:
    """Many new files of a project in one executemany (a first look lists thousands); the
    records' own ids and project ids are not used (the database gives the ids)."""
    run(conn, prepare_files(conn.dialect, records), project_id=project_id)


def prepare_files(dialect: Dialect, records: Sequence[FileRecord]) -> Prepared:
    """``insert_files`` built ahead of its transaction; ``run`` it with the ``project_id``."""
    transposed = zip(*records, strict=True) if records else ([] for _ in FileRecord._fields)
    columns = dict(zip(FileRecord._fields, transposed, strict=True))
    columns.pop("id", None)
    columns.pop("project_id", None)
    return prepare(dialect, files, columns, constants=("project_id",))


def update_file(conn: Connection, file_id: int, **values: Any) -> None:
    conn.execute(update(files).where(files.c.id == file_id), values)


def set_files(conn: Connection, file_ids: Sequence[int], values: Mapping[str, Any]) -> None:
    """Give many files the same values: a first look admits thousands with one decision."""
    for start in range(0, len(file_ids), 500):  # stay under SQLite's bound-parameter limit
        chunk = file_ids[start : start + 500]
        conn.execute(update(files).where(files.c.id.in_(chunk)), dict(values))


def record_event(
    conn: Connection,
    *,
    at: datetime,
    project: str,
    filename: str | None,
    from_state: str | None,
    to_state: str | None,
    actor: str,
    reason: str,
) -> None:
    conn.execute(
        insert(events),
        {
            "at": at,
            "project": project,
            "filename": filename,
            "from_state": from_state,
            "to_state": to_state,
            "actor": actor,
            "reason": reason,
        },
    )


def record_events(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Many audit events in one statement (the columns of ``record_event``)."""
    insert_many(conn, events, rows)


def prepare_events(dialect: Dialect, columns: Mapping[str, Sequence[Any]]) -> Prepared:
    """``record_events`` of these columns (those of ``record_event``), built ahead."""
    return prepare(dialect, events, columns)


def project_events(conn: Connection, project: str, limit: int = 200) -> list[Row[Any]]:
    query = (
        select(events)
        .where(events.c.project == project)
        .order_by(events.c.at.desc(), events.c.id.desc())
        .limit(limit)
    )
    return list(conn.execute(query))


def files_by_state(conn: Connection, states: Sequence[str]) -> list[Row[Any]]:
    query = (
        select(files, projects.c.name.label("project"))
        .join(projects, projects.c.id == files.c.project_id)
        .where(files.c.state.in_(states))
        .order_by(files.c.first_seen_at.desc(), files.c.filename)
    )
    return list(conn.execute(query))


def stale_projects(conn: Connection, checked_before: datetime) -> list[str]:
    """Projects whose last upstream look is older than the freshness TTL."""
    query = (
        select(projects.c.name)
        .where((projects.c.checked_at.is_(None)) | (projects.c.checked_at < checked_before))
        .order_by(projects.c.name)
    )
    return list(conn.execute(query).scalars())


def ruled_releases(conn: Connection, rule_actor: str) -> list[Row[Any]]:
    """(project, version, blocked, reason) of every release with a file a configured rule
    could move: one not blocked (``blocked`` False, no reason), or blocked by ``rule_actor``
    (with the rule's reason); each distinct combination once."""
    blocked = and_(files.c.state == "blocked", files.c.decided_by == rule_actor)
    query = (
        select(
            projects.c.name.label("project"),
            files.c.version,
            blocked.label("blocked"),
            case((blocked, files.c.reason), else_=None).label("reason"),
        )
        .distinct()
        .join(files, files.c.project_id == projects.c.id)
        .where(or_(files.c.state != "blocked", blocked))
    )
    return list(conn.execute(query))


def released_projects(conn: Connection, now: datetime) -> list[str]:
    """Projects with a file whose quarantine has ended."""
    query = (
        select(projects.c.name)
        .distinct()
        .join(files, files.c.project_id == projects.c.id)
        .where(and_(files.c.state == "quarantined", files.c.hold_until <= now))
    )
    return sorted(conn.execute(query).scalars())


def get_page(conn: Connection, project: str) -> Row[Any] | None:
    return conn.execute(select(pages).where(pages.c.project == project)).first()


def put_page(conn: Connection, project: str, values: Mapping[str, Any]) -> None:
    _upsert(conn, pages, {"project": project}, values)


def mark_page_stale(conn: Connection, project: str, now: datetime) -> None:
    """Ask for the project's page to be rendered again (``stale_pages``)."""
    conn.execute(
        update(pages)
        .where(pages.c.project == project, pages.c.stale_since.is_(None))
        .values(stale_since=now)
    )


def stale_pages(conn: Connection) -> list[str]:
    """Projects whose page waits to be rendered again, longest waiting first."""
    query = select(pages.c.project).where(pages.c.stale_since.is_not(None))
    return list(conn.execute(query.order_by(pages.c.stale_since)).scalars())


def deferred_pages(conn: Connection) -> list[str]:
    """Projects whose files' targets wait to be queued, longest waiting first."""
    waiting = pages.c.targets_deferred_since
    query = select(pages.c.project).where(waiting.is_not(None)).order_by(waiting)
    return list(conn.execute(query).scalars())


def targets_queued(conn: Connection, project: str) -> None:
    """The project's files' targets are queued now (``deferred_pages`` no longer lists it)."""
    conn.execute(
        update(pages).where(pages.c.project == project).values(targets_deferred_since=None)
    )


def newest_page_change(conn: Connection) -> datetime | None:
    """When the most recent of the waiting pages became stale or was recorded with its files'
    targets deferred."""
    # One subquery per column, each with the condition of that column's partial index.
    newest = [
        select(func.max(column)).where(column.is_not(None)).scalar_subquery()
        for column in (pages.c.stale_since, pages.c.targets_deferred_since)
    ]
    return max((t for t in conn.execute(select(*newest)).one() if t is not None), default=None)


def served_projects(conn: Connection) -> list[str]:
    """Projects whose page lists at least one admitted file (the root index)."""
    query = select(pages.c.project).where(pages.c.files > 0).order_by(pages.c.project)
    return list(conn.execute(query).scalars())


def state_counts(conn: Connection) -> dict[str, int]:
    query = select(files.c.state, func.count()).group_by(files.c.state)
    return {state: count for state, count in conn.execute(query).all()}


def get_status(conn: Connection, key: str) -> Any:
    row = conn.execute(select(status.c.value).where(status.c.key == key)).first()
    return row[0] if row else None


def set_status(conn: Connection, key: str, value: Any, now: datetime) -> None:
    _upsert(conn, status, {"key": key}, {"value": value, "updated_at": now})


def _upsert(
    conn: Connection, table: Table, key: Mapping[str, Any], values: Mapping[str, Any]
) -> None:
    """Insert the row, or update it when ``key`` (the primary key) exists: one statement."""
    statement: postgresql.Insert | sqlite.Insert = (
        postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    )
    statement = statement.values(**key, **values)
    conn.execute(statement.on_conflict_do_update(index_elements=list(key), set_=dict(values)))


def active_blocks(conn: Connection, project: str | None = None) -> list[Row[Any]]:
    query = select(blocks).where(blocks.c.lifted_at.is_(None)).order_by(blocks.c.id)
    if project is not None:
        query = query.where(blocks.c.project == project)
    return list(conn.execute(query))


def add_blocks(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    conn.execute(insert(blocks), list(rows))


def lift_blocks(
    conn: Connection,
    project: str,
    specifier: str,
    *,
    at: datetime,
    by: str,
    reason: str,
    actor: str | None = None,
) -> int:
    """Lift active blocks on ``project`` + ``specifier`` (placed by ``actor`` when given)."""
    conditions = [
        blocks.c.project == project,
        blocks.c.specifier == specifier,
        blocks.c.lifted_at.is_(None),
    ]
    if actor is not None:
        conditions.append(blocks.c.actor == actor)
    statement = (
        update(blocks)
        .where(and_(*conditions))
        .values(lifted_at=at, lifted_by=by, lift_reason=reason)
    )
    return conn.execute(statement).rowcount


def release_files(conn: Connection, project: str, version: str) -> list[Row[Any]]:
    query = (
        select(files, projects.c.name.label("project"))
        .join(projects, projects.c.id == files.c.project_id)
        .where(and_(projects.c.name == project, files.c.version == version))
        .order_by(files.c.filename)
    )
    return list(conn.execute(query))


# --- review API and UI (issue-admin) ----------------------------------------------------------


def events_log(
    conn: Connection, *, project: str | None, before_id: int | None, limit: int
) -> list[Row[Any]]:
    """The audit trail, newest first; ``before_id`` pages back through it."""
    query = select(events).order_by(events.c.id.desc()).limit(limit)
    if project is not None:
        query = query.where(events.c.project == project)
    if before_id is not None:
        query = query.where(events.c.id < before_id)
    return list(conn.execute(query))


# --- advisories and download audit (issue 5) ---


def advisory_ranges_of(conn: Connection, advisory_id: int) -> list[Row[Any]]:
    query = select(advisory_ranges).where(advisory_ranges.c.advisory_id == advisory_id)
    return list(conn.execute(query.order_by(advisory_ranges.c.id)))


def advisory_versions(conn: Connection) -> dict[str, tuple[int, datetime]]:
    """Every stored advisory's id and ``modified`` time, by OSV id."""
    query = select(advisories.c.osv_id, advisories.c.id, advisories.c.modified)
    return {row.osv_id: (row.id, row.modified) for row in conn.execute(query)}


def add_advisories(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(insert(advisories), list(rows))


def update_advisory(conn: Connection, advisory_id: int, values: Mapping[str, Any]) -> None:
    """Replace an advisory's fields and drop its ranges (the caller adds the new ones)."""
    conn.execute(update(advisories).where(advisories.c.id == advisory_id), dict(values))
    conn.execute(delete(advisory_ranges).where(advisory_ranges.c.advisory_id == advisory_id))


def add_advisory_ranges(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(insert(advisory_ranges), list(rows))


def _advisories_naming(project: str) -> Any:
    return select(advisory_ranges.c.advisory_id).where(advisory_ranges.c.project == project)


def list_advisories(conn: Connection, project: str | None = None) -> list[Row[Any]]:
    """Advisories newest first; only those naming ``project`` when given."""
    query = select(advisories).order_by(advisories.c.modified.desc(), advisories.c.osv_id)
    if project is not None:
        query = query.where(advisories.c.id.in_(_advisories_naming(project)))
    return list(conn.execute(query))


def list_advisory_ranges(conn: Connection, project: str | None = None) -> list[Row[Any]]:
    """The affected ranges of the advisories ``list_advisories`` returns."""
    query = select(advisory_ranges).order_by(advisory_ranges.c.id)
    if project is not None:
        query = query.where(advisory_ranges.c.advisory_id.in_(_advisories_naming(project)))
    return list(conn.execute(query))


def add_downloads(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    conn.execute(insert(downloads), list(rows))


def last_download_at(conn: Connection) -> datetime | None:
    """When the most recently recorded download happened (rows are added in time order)."""
    query = select(downloads.c.at).order_by(downloads.c.id.desc()).limit(1)
    at: datetime | None = conn.execute(query).scalar()
    return at


def release_downloads(
    conn: Connection, project: str, version: str | None, limit: int | None
) -> list[Row[Any]]:
    query = select(downloads).where(downloads.c.project == project)
    if version is not None:
        query = query.where(downloads.c.version == version)
    query = query.order_by(downloads.c.at.desc(), downloads.c.id.desc()).limit(limit)
    return list(conn.execute(query))


def newest_with_metadata(conn: Connection, project: str) -> Row[Any] | None:
    """The project's most recently uploaded admitted file that has PEP 658 metadata, or is a
    wheel (whose METADATA is inside)."""
    query = (
        select(files, projects.c.name.label("project"))
        .join(projects, projects.c.id == files.c.project_id)
        .where(
            projects.c.name == project,
            files.c.state == "admitted",
            or_(files.c.metadata_sha256.is_not(None), files.c.filename.endswith(".whl")),
        )
        .order_by(files.c.upload_time.desc(), files.c.id.desc())
        .limit(1)
    )
    return conn.execute(query).first()
