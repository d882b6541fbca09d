"""The pages table: each project's rendered pages, and which wait to be rendered again or
to have their files' targets queued."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select, update

from mirror.db.schema import pages
from mirror.db.upsert import upsert

# Built once: asked by every first request of a project, and by every `.metadata` read ahead.
_PAGE = select(pages).where(pages.c.project == bindparam("project"))


def get_page(conn: Connection, project: str) -> Row[Any] | None:
    return conn.execute(_PAGE, {"project": project}).first()


def put_page(conn: Connection, project: str, values: Mapping[str, Any]) -> None:
    upsert(conn, pages, {"project": project}, values)


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
    """When the most recent of the waiting pages became stale, was recorded with its files'
    targets deferred, or had its files' admission records fall due (a history file's first
    download gives it a row, and so a record to write)."""
    # One subquery per column, each with the condition of that column's partial index.
    waiting = (pages.c.stale_since, pages.c.targets_deferred_since, pages.c.records_due_since)
    newest = [
        select(func.max(column)).where(column.is_not(None)).scalar_subquery() for column in waiting
    ]
    return max((t for t in conn.execute(select(*newest)).one() if t is not None), default=None)


def served_projects(conn: Connection) -> list[str]:
    """Projects whose page lists at least one admitted file (the root index)."""
    query = select(pages.c.project).where(pages.c.files > 0).order_by(pages.c.project)
    return list(conn.execute(query).scalars())
