"""The downloads table: the download audit, one row per file served."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select

from mirror.db.schema import downloads


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


def pulls_of(conn: Connection, project: str, filenames: Sequence[str]) -> list[Row[Any]]:
    """The downloads of ``project``'s ``filenames`` folded per file, token and address:
    ``filename``, ``version``, ``token_id``, ``remote_addr``, ``first``, ``last`` and how many
    (``pulls``)."""
    if not filenames:
        return []
    query = (
        select(
            downloads.c.filename,
            downloads.c.version,
            downloads.c.token_id,
            downloads.c.remote_addr,
            func.min(downloads.c.at).label("first"),
            func.max(downloads.c.at).label("last"),
            func.count().label("pulls"),
        )
        .where(downloads.c.project == project, downloads.c.filename.in_(list(filenames)))
        .group_by(
            downloads.c.filename,
            downloads.c.version,
            downloads.c.token_id,
            downloads.c.remote_addr,
        )
    )
    return list(conn.execute(query))
