"""The blocks table: the releases reviewers and rules blocked, and their lifting."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, insert, select, update

from mirror.db.schema import blocks

_ACTIVE = select(blocks).where(blocks.c.lifted_at.is_(None)).order_by(blocks.c.id)
# Built once: read twice by every first look (and by every decision about a project).
_ACTIVE_ON_PROJECT = _ACTIVE.where(blocks.c.project == bindparam("project"))


def active_blocks(conn: Connection, project: str | None = None) -> list[Row[Any]]:
    if project is None:
        return list(conn.execute(_ACTIVE))
    return list(conn.execute(_ACTIVE_ON_PROJECT, {"project": project}))


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
