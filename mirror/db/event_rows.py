"""The events table: the audit trail of every state change, and who made it."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect, Row, Select, insert, not_, or_, select

from mirror.db.bulk import Prepared, insert_many, prepare
from mirror.db.schema import events


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


@dataclass(frozen=True)
class EventFilter:
    """Who made the change (``people`` True: anyone but the ``automatic`` actors; False:
    only them; an entry ending in ":" is a prefix), an actor text, a time range."""

    automatic: tuple[str, ...] = ()
    people: bool | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def applied(self, query: Select[Any]) -> Select[Any]:
        automatic = or_(
            events.c.actor.in_([a for a in self.automatic if not a.endswith(":")]),
            *[events.c.actor.startswith(a) for a in self.automatic if a.endswith(":")],
        )
        if self.people is not None:
            query = query.where(not_(automatic) if self.people else automatic)
        if self.actor:
            query = query.where(events.c.actor.contains(self.actor, autoescape=True))
        if self.since is not None:
            query = query.where(events.c.at >= self.since)
        if self.until is not None:
            query = query.where(events.c.at < self.until)
        return query


def events_log(
    conn: Connection,
    *,
    project: str | None,
    before_id: int | None,
    limit: int,
    only: EventFilter | None = None,
) -> list[Row[Any]]:
    """The audit trail, newest first; ``before_id`` pages back through it."""
    query = select(events).order_by(events.c.id.desc()).limit(limit)
    if project is not None:
        query = query.where(events.c.project == project)
    if before_id is not None:
        query = query.where(events.c.id < before_id)
    return list(conn.execute(only.applied(query) if only else query))
