"""Queries for TUF publishing: the queue of pending target changes and the published set."""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Connection, Row, and_, delete, func, insert, select, update

from mirror.db.bulk import insert_many
from mirror.db.schema import tuf_pending, tuf_targets


class QueuedChange(Protocol):
    """A ``tuf_pending`` row, or the publisher's copy of one with its length filled in."""

    @property
    def id(self) -> int: ...
    @property
    def project(self) -> str: ...
    @property
    def op(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def length(self) -> int | None: ...
    @property
    def sha256(self) -> str | None: ...


def published(conn: Connection, project: str) -> dict[str, tuple[str, int]]:
    """The project's targets as the current signed metadata lists them: path -> (sha256, length)."""
    query = select(tuf_targets.c.path, tuf_targets.c.sha256, tuf_targets.c.length).where(
        tuf_targets.c.project == project
    )
    return {path: (sha, length) for path, sha, length in conn.execute(query)}


def published_target(conn: Connection, path: str) -> Row[Any] | None:
    return conn.execute(select(tuf_targets).where(tuf_targets.c.path == path)).first()


def pending(conn: Connection, project: str | None = None) -> list[Row[Any]]:
    """Unpublished changes in the order they were queued (later ones supersede earlier ones)."""
    query = select(tuf_pending).where(tuf_pending.c.published_at.is_(None))
    if project is not None:
        query = query.where(tuf_pending.c.project == project)
    return list(conn.execute(query.order_by(tuf_pending.c.id)))


def ready(conn: Connection, paths: Sequence[str] | None = None) -> list[Row[Any]]:
    """The unpublished changes a batch can sign, in queue order: every change to a path,
    unless the path's latest change adds bytes of unknown length (then all of them wait).
    ``paths``: only changes to these."""
    open_: ColumnElement[bool] = tuf_pending.c.published_at.is_(None)
    if paths is not None:
        open_ = and_(open_, tuf_pending.c.path.in_(paths))
    latest = select(func.max(tuf_pending.c.id)).where(open_).group_by(tuf_pending.c.path)
    waiting = select(tuf_pending.c.path).where(
        tuf_pending.c.id.in_(latest), tuf_pending.c.op == "add", tuf_pending.c.length.is_(None)
    )
    query = select(tuf_pending).where(open_, tuf_pending.c.path.not_in(waiting))
    return list(conn.execute(query.order_by(tuf_pending.c.id)))


def unknown_lengths(conn: Connection) -> list[Row[Any]]:
    """Queued additions whose length waits for their bytes, oldest first:
    (project, path, sha256)."""
    query = select(tuf_pending.c.project, tuf_pending.c.path, tuf_pending.c.sha256).where(
        tuf_pending.c.published_at.is_(None),
        tuf_pending.c.op == "add",
        tuf_pending.c.length.is_(None),
    )
    return list(conn.execute(query.order_by(tuf_pending.c.id)))


def learn_length(conn: Connection, sha256: str, length: int) -> None:
    """The bytes of ``sha256`` are stored: queued additions of them can be signed now."""
    conn.execute(
        update(tuf_pending)
        .where(
            tuf_pending.c.published_at.is_(None),
            tuf_pending.c.sha256 == sha256,
            tuf_pending.c.length.is_(None),
        )
        .values(length=length)
    )


def queued(conn: Connection, paths: Sequence[str]) -> bool:
    """Whether a change to one of ``paths`` waits to be published."""
    query = select(tuf_pending.c.id).where(
        tuf_pending.c.published_at.is_(None), tuf_pending.c.path.in_(paths)
    )
    return conn.execute(query.limit(1)).first() is not None


def newest_queued(conn: Connection) -> datetime | None:
    """When the newest unpublished change was queued; None when nothing waits."""
    query = select(func.max(tuf_pending.c.queued_at)).where(tuf_pending.c.published_at.is_(None))
    newest: datetime | None = conn.execute(query).scalar_one()
    return newest


def pending_count(conn: Connection) -> int:
    query = select(func.count()).where(tuf_pending.c.published_at.is_(None))
    return int(conn.execute(query).scalar_one())


def queue(conn: Connection, changes: Sequence[Mapping[str, Any]]) -> None:
    """Queue target changes (project, op, path, length, sha256, queued_at) in one statement."""
    insert_many(conn, tuf_pending, changes)


def mark_published(
    conn: Connection, changes: Sequence[QueuedChange], now: datetime, snapshot_version: int
) -> None:
    """Stamp ``changes`` published and make the published set follow them, in queue order."""
    ids = [c.id for c in changes]
    for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
        conn.execute(
            update(tuf_pending)
            .where(tuf_pending.c.id.in_(ids[start : start + 500]))
            .values(published_at=now, snapshot_version=snapshot_version)
        )
    _apply(conn, changes, now)


def _apply(conn: Connection, changes: Iterable[QueuedChange], now: datetime) -> None:
    last = {c.path: c for c in changes}
    paths = list(last)
    for start in range(0, len(paths), 500):  # stay under SQLite's bound-parameter limit
        conn.execute(delete(tuf_targets).where(tuf_targets.c.path.in_(paths[start : start + 500])))
    added = [
        {
            "path": path,
            "project": change.project,
            "sha256": change.sha256,
            "length": change.length,
            "published_at": now,
        }
        for path, change in last.items()
        if change.op == "add"
    ]
    if added:
        conn.execute(insert(tuf_targets), added)


def forget_published(conn: Connection, before: datetime) -> int:
    """Drop queue rows published before ``before``; the signed metadata is the record."""
    statement = delete(tuf_pending).where(
        and_(tuf_pending.c.published_at.is_not(None), tuf_pending.c.published_at < before)
    )
    return conn.execute(statement).rowcount
