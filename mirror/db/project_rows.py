"""The projects table: which projects the mirror knows, and when it last looked upstream."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, insert, select, update

from mirror.db.schema import files, private_projects, projects
from mirror.simple_api import ACTIVE, STATUSES, ProjectStatus

# Built once: read by every refresh, refusal and decision about a project.
_PROJECT = select(projects).where(projects.c.name == bindparam("name"))


def get_project(conn: Connection, name: str) -> Row[Any] | None:
    return conn.execute(_PROJECT, {"name": name}).first()


def create_project(conn: Connection, name: str, now: datetime) -> Row[Any]:
    insert_project(conn, name, now)
    row = get_project(conn, name)
    assert row is not None
    return row


def insert_project(conn: Connection, name: str, now: datetime, **values: Any) -> int:
    """Create project ``name`` with ``values`` (columns) set too, and return its id: one
    statement, where creating it, reading it back and updating it are three.

    Raises:
        sqlalchemy.exc.IntegrityError: the project exists.
    """
    new = {"name": name, "display_name": name, "created_at": now, "upstream_gone": False}
    return int(conn.execute(_INSERT_PROJECT, {**new, **values}).scalar_one())


# Built once (its columns are the parameters'): building it per call cost five times running it.
_INSERT_PROJECT = insert(projects).returning(projects.c.id)


def upstream_status(conn: Connection, name: str) -> ProjectStatus:
    """The status marker upstream last gave ``name`` (``active`` when none, or not known)."""
    row = get_project(conn, name)
    return status_of(row) if row is not None else ACTIVE


def status_of(row: Row[Any]) -> ProjectStatus:
    """The upstream status marker recorded on a projects row."""
    marker = STATUSES.get(row.upstream_status or "")
    return ProjectStatus(marker, row.upstream_status_reason) if marker else ACTIVE


def status_values(status: ProjectStatus) -> dict[str, Any]:
    """The projects columns that record ``status`` as upstream's marker."""
    return {"upstream_status": status.status.value, "upstream_status_reason": status.reason}


def update_project(conn: Connection, project_id: int, **values: Any) -> None:
    conn.execute(update(projects).where(projects.c.id == project_id).values(**values))


def project_names(conn: Connection) -> list[str]:
    return list(conn.execute(select(projects.c.name).order_by(projects.c.name)).scalars())


def stale_projects(conn: Connection, checked_before: datetime) -> list[str]:
    """Proxied projects whose last upstream look is older than the freshness TTL."""
    query = (
        select(projects.c.name)
        .where((projects.c.checked_at.is_(None)) | (projects.c.checked_at < checked_before))
        .where(projects.c.name.not_in(select(private_projects.c.name)))
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
