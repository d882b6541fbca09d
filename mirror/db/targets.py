"""Queries for TUF publishing: the queue of pending target changes and the published set."""

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    Row,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from mirror.db.bulk import Prepared, insert_many, prepare_rows
from mirror.db.schema import tuf_pending, tuf_targets
from tuf_repo.bins import PAGES_PREFIX


class QueuedTarget(NamedTuple):
    """A queued change as a batch signs it: the ``tuf_pending`` columns it needs.

    A batch reads thousands; a named tuple answers attributes about ten times faster than a
    ``Row`` (mirror/db/records.py), and leaving out the timestamps saves converting two
    datetimes per row.
    """

    id: int
    project: str
    op: str
    path: str
    length: int | None
    sha256: str | None


# Selected in the record's field order; a field that is no column fails here, at import.
_QUEUED_COLUMNS: list[ColumnElement[Any]] = [tuf_pending.c[name] for name in QueuedTarget._fields]
# What a published target copies from its latest queued change (with the batch's time).
_PUBLISHED_COLUMNS = ("path", "project", "sha256", "length")


def published(conn: Connection, project: str) -> dict[str, tuple[str, int]]:
    """The project's targets as the current signed metadata lists them: path -> (sha256, length)."""
    query = select(tuf_targets.c.path, tuf_targets.c.sha256, tuf_targets.c.length).where(
        tuf_targets.c.project == project
    )
    return {path: (sha, length) for path, sha, length in conn.execute(query)}


# Built once: asked at every first look, under the write lock.
_ANY_FOR_PROJECT = select(
    or_(
        exists().where(tuf_targets.c.project == bindparam("project")),
        exists().where(
            tuf_pending.c.project == bindparam("project"), tuf_pending.c.published_at.is_(None)
        ),
    )
)


def any_for_project(conn: Connection, project: str) -> bool:
    """Whether the project has signed targets or unpublished queued changes: one statement,
    where ``published`` and ``pending`` are two."""
    return bool(conn.execute(_ANY_FOR_PROJECT, {"project": project}).scalar_one())


# Built once: a project's first request reads its two pages' targets three times.
_PUBLISHED_TARGET = select(tuf_targets).where(tuf_targets.c.path == bindparam("path"))


def published_target(conn: Connection, path: str) -> Row[Any] | None:
    return conn.execute(_PUBLISHED_TARGET, {"path": path}).first()


def pending(conn: Connection, project: str | None = None) -> list[Row[Any]]:
    """Unpublished changes in the order they were queued (later ones supersede earlier ones)."""
    query = select(tuf_pending).where(tuf_pending.c.published_at.is_(None))
    if project is not None:
        query = query.where(tuf_pending.c.project == project)
    return list(conn.execute(query.order_by(tuf_pending.c.id)))


def ready(conn: Connection, *, pages_only: bool = False) -> list[QueuedTarget]:
    """The unpublished changes a batch can sign, in queue order: every change to a path,
    unless the path's latest change adds bytes of unknown length (then all of them wait).
    ``pages_only``: only changes to project pages, every project's."""
    open_: ColumnElement[bool] = tuf_pending.c.published_at.is_(None)
    if pages_only:
        open_ = and_(_queued_by_path(conn.dialect.name), _is_page(conn.dialect.name))
    result = conn.execute(select(*_QUEUED_COLUMNS).where(open_).order_by(tuf_pending.c.id))
    # Copied a slice at a time: a batch's thousands of Rows are never all alive at once.
    queued = [QueuedTarget._make(row) for rows in result.partitions(1000) for row in rows]
    # Here rather than in SQL: grouping the queue by path cost SQLite more than these loops.
    unknown = {c.path for c in queued if c.length is None and c.op == "add"}
    if not unknown:
        return queued
    latest = {c.path: c for c in queued if c.path in unknown}
    waiting = {path for path, c in latest.items() if c.length is None and c.op == "add"}
    return [c for c in queued if c.path not in waiting]


def unknown_lengths(conn: Connection) -> list[Row[Any]]:
    """Queued additions whose length waits for their bytes, oldest first:
    (project, path, sha256)."""
    query = select(tuf_pending.c.project, tuf_pending.c.path, tuf_pending.c.sha256).where(
        tuf_pending.c.published_at.is_(None),
        tuf_pending.c.op == "add",
        tuf_pending.c.length.is_(None),
    )
    return list(conn.execute(query.order_by(tuf_pending.c.id)))


def learn_length(conn: Connection, project: str, sha256: str, length: int) -> None:
    """The bytes of ``sha256`` are stored: the project's queued additions of them can be signed
    now."""
    conn.execute(_LEARN_LENGTH, {"in_project": project, "of_sha256": sha256, "known": length})


# By project: the index finds its rows, where the digest alone would scan the whole queue (tens
# of thousands of rows after a cold install's first looks) under the write lock. Built once: a
# client's first download or `.metadata` runs it under that lock.
_LEARN_LENGTH = (
    update(tuf_pending)
    .where(
        tuf_pending.c.project == bindparam("in_project"),
        tuf_pending.c.published_at.is_(None),
        tuf_pending.c.sha256 == bindparam("of_sha256"),
        tuf_pending.c.length.is_(None),
    )
    .values(length=bindparam("known"))
)


def queued(conn: Connection, paths: Sequence[str]) -> bool:
    """Whether a change to one of ``paths`` waits to be published."""
    statement = _queued_among(conn.dialect.name)
    return conn.execute(statement, {"paths": list(paths)}).first() is not None


@functools.lru_cache(maxsize=8)
def _queued_among(dialect: str) -> Select[tuple[int]]:
    """``queued``'s statement, built once per dialect: a client's `.metadata` runs it under
    the write lock."""
    among = tuf_pending.c.path.in_(bindparam("paths", expanding=True))
    return select(tuf_pending.c.id).where(_queued_by_path(dialect), among).limit(1)


def _queued_by_path(dialect: str) -> ColumnElement[bool]:
    """The change is queued, put so that the database finds a few paths among thousands
    queued through the index of queued paths (``ix_tuf_pending_queued_path``).

    SQLite without statistics would read every queued row through the index of the queue;
    ``likely()``, which changes no result, tells its planner that most rows are queued, so it
    seeks by path, and still matches the partial index's condition.
    """
    queued = tuf_pending.c.published_at.is_(None)
    return func.likely(queued) if dialect == "sqlite" else queued


def _is_page(dialect: str) -> ColumnElement[bool]:
    """The path is a project page's: a range of the index in SQLite, which compares text byte
    by byte; LIKE elsewhere, where a collation may order text otherwise."""
    path = tuf_pending.c.path
    if dialect == "sqlite":
        # Every path that starts with "simple/" sorts before "simple0" ("0" follows "/").
        return and_(path >= PAGES_PREFIX, path < PAGES_PREFIX[:-1] + "0")
    return path.startswith(PAGES_PREFIX)


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


def prepare_queue(dialect: Dialect, changes: Sequence[Mapping[str, Any]]) -> Prepared:
    """``queue`` built ahead of its transaction."""
    return prepare_rows(dialect, tuf_pending, changes)


def mark_published(
    conn: Connection, changes: Sequence[QueuedTarget], now: datetime, snapshot_version: int
) -> None:
    """Stamp ``changes`` published and make the published set follow them, in queue order.

    A batch's rows come in runs of consecutive ids (each first look or decision queues its
    targets in one statement), so each statement here runs once per run of ids, not once per
    row, and the published set is copied from the queue rows inside the database: each path
    gets its latest change's values, which are those the batch signed (a queued row changes
    only by this stamp, and by learning a length it lacked, which no signed change lacks).
    """
    runs = _runs(c.id for c in changes)
    if not runs:
        return
    in_run = tuf_pending.c.id.between(bindparam("first"), bindparam("last"))
    changed_paths = select(tuf_pending.c.path).where(in_run)
    conn.execute(delete(tuf_targets).where(tuf_targets.c.path.in_(changed_paths)), runs)
    latest = {c.path: c for c in changes}.values()
    added = _runs(c.id for c in latest if c.op == "add")
    if added:
        published_at = literal(now, tuf_targets.c.published_at.type)
        columns = [tuf_pending.c[name] for name in _PUBLISHED_COLUMNS] + [published_at]
        rows = select(*columns).where(in_run)
        conn.execute(
            insert(tuf_targets).from_select([*_PUBLISHED_COLUMNS, "published_at"], rows), added
        )
    stamp = update(tuf_pending).where(in_run)
    conn.execute(stamp.values(published_at=now, snapshot_version=snapshot_version), runs)


def _runs(ids: Iterable[int]) -> list[dict[str, int]]:
    """Distinct ``ids`` as runs of consecutive ids, ``first`` to ``last``, in order."""
    runs: list[dict[str, int]] = []
    for id_ in sorted(ids):
        if runs and runs[-1]["last"] == id_ - 1:
            runs[-1]["last"] = id_
        else:
            runs.append({"first": id_, "last": id_})
    return runs


def forget_published(conn: Connection, before: datetime) -> int:
    """Drop queue rows published before ``before``; the signed metadata is the record."""
    statement = delete(tuf_pending).where(
        and_(tuf_pending.c.published_at.is_not(None), tuf_pending.c.published_at < before)
    )
    return conn.execute(statement).rowcount
