"""The query functions services use; nothing else in the mirror writes SQL."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, and_, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from mirror.db.schema import blocks, events, files, pages, projects, status


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


def project_files(conn: Connection, project_id: int) -> list[Row[Any]]:
    query = select(files).where(files.c.project_id == project_id).order_by(files.c.filename)
    return list(conn.execute(query))


def admitted_files(conn: Connection, project_id: int) -> list[Row[Any]]:
    query = (
        select(files)
        .where(and_(files.c.project_id == project_id, files.c.state == "admitted"))
        .order_by(files.c.filename)
    )
    return list(conn.execute(query))


def file_by_name(conn: Connection, project: str, filename: str) -> Row[Any] | None:
    query = (
        select(files, projects.c.name.label("project"))
        .join(projects, projects.c.id == files.c.project_id)
        .where(and_(projects.c.name == project, files.c.filename == filename))
    )
    return conn.execute(query).first()


def insert_file(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(files).values(**values))


def update_file(conn: Connection, file_id: int, **values: Any) -> None:
    conn.execute(update(files).where(files.c.id == file_id).values(**values))


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
        insert(events).values(
            at=at,
            project=project,
            filename=filename,
            from_state=from_state,
            to_state=to_state,
            actor=actor,
            reason=reason,
        )
    )


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


def add_block(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(blocks).values(**values))


def lift_blocks(
    conn: Connection, project: str, specifier: str, *, at: datetime, by: str, reason: str
) -> int:
    statement = (
        update(blocks)
        .where(
            and_(
                blocks.c.project == project,
                blocks.c.specifier == specifier,
                blocks.c.lifted_at.is_(None),
            )
        )
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
