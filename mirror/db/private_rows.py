"""Private projects and their uploads (docs/private-packages.md): which names are uploaded
rather than proxied, and who uploaded each file."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, insert, select

from mirror.db.schema import private_projects, uploads

# Built once: asked before every look upstream, and by every decision about a project.
_IS_PRIVATE = select(private_projects.c.name).where(private_projects.c.name == bindparam("name"))


def is_private(conn: Connection, project: str) -> bool:
    return conn.execute(_IS_PRIVATE, {"name": project}).first() is not None


def mark_private(conn: Connection, project: str, *, at: datetime, by: str) -> None:
    conn.execute(insert(private_projects).values(name=project, created_at=at, created_by=by))


def private_names(conn: Connection) -> set[str]:
    return set(conn.execute(select(private_projects.c.name)).scalars())


def record_upload(conn: Connection, values: Mapping[str, Any]) -> None:
    conn.execute(insert(uploads).values(**values))


def upload_of(conn: Connection, filename: str) -> Row[Any] | None:
    return conn.execute(select(uploads).where(uploads.c.filename == filename)).first()
