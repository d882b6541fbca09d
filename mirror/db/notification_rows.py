"""The notifications and notification_deliveries tables: events for webhooks, and the queue
their deliveries are claimed from (docs/notifications.md).

Claiming is safe with several delivery workers on one database: the caller claims inside
``claiming``, which on PostgreSQL is a plain transaction whose ``SELECT ... FOR UPDATE SKIP
LOCKED`` hands each row to one worker, and on SQLite the single writer lock (BEGIN IMMEDIATE).
A claimed delivery carries a lease; a worker that dies mid-delivery lets it go when the lease
ends.
"""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, and_, insert, or_, select, update

from mirror.db.engine import writing
from mirror.db.schema import notification_deliveries as deliveries
from mirror.db.schema import notifications
from mirror.db.upsert import insert_new

QUEUED = "queued"
DELIVERED = "delivered"
FAILED = "failed"


def add_notification(conn: Connection, values: Mapping[str, Any]) -> bool:
    """Record an event; one carrying a ``dedupe_key`` already recorded is skipped (whether it
    was recorded)."""
    if values.get("dedupe_key") is None:
        conn.execute(insert(notifications), dict(values))
        return True
    return insert_new(conn, notifications, values, ["dedupe_key"])


@contextmanager
def claiming(engine: Engine) -> Iterator[Connection]:
    """A transaction to claim rows in: see the module's docstring."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            yield conn
    else:
        with writing(engine) as conn:
            yield conn


def claim_undispatched(conn: Connection, limit: int) -> list[Row[Any]]:
    """Events no worker has made deliveries of yet, locked for this transaction."""
    query = (
        select(notifications)
        .where(notifications.c.dispatched_at.is_(None))
        .order_by(notifications.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(conn.execute(query))


def mark_dispatched(conn: Connection, ids: Sequence[int], now: datetime) -> None:
    conn.execute(update(notifications).where(notifications.c.id.in_(ids)).values(dispatched_at=now))


def add_deliveries(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(insert(deliveries), list(rows))


def claim_due(
    conn: Connection, now: datetime, lease_until: datetime, claim: str
) -> Row[Any] | None:
    """The oldest queued delivery whose time has come and that no live lease holds, claimed
    until ``lease_until`` (its event's columns joined in), or None."""
    query = (
        select(deliveries.c.id)
        .where(
            deliveries.c.state == QUEUED,
            deliveries.c.next_attempt_at <= now,
            or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until <= now),
        )
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    delivery_id = conn.execute(query).scalar()
    if delivery_id is None:
        return None
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(lease_until=lease_until, claim=claim, attempts=deliveries.c.attempts + 1)
    )
    return _joined(conn, delivery_id)


def _with_event(*extra: Any) -> Select[Any]:
    """Deliveries joined with what their event says (and ``extra`` of its columns)."""
    return select(
        deliveries,
        notifications.c.kind,
        notifications.c.at.label("event_at"),
        notifications.c.project,
        notifications.c.summary,
        *extra,
    ).join(notifications, notifications.c.id == deliveries.c.notification_id)


def _joined(conn: Connection, delivery_id: int) -> Row[Any] | None:
    query = _with_event(notifications.c.details).where(deliveries.c.id == delivery_id)
    return conn.execute(query).first()


def finish_attempt(
    conn: Connection, delivery_id: int, claim: str, values: Mapping[str, Any]
) -> bool:
    """Record an attempt's outcome, if ``claim`` still holds the delivery (a worker whose lease
    ran out records nothing: another has it now); whether it was recorded."""
    result = conn.execute(
        update(deliveries)
        .where(and_(deliveries.c.id == delivery_id, deliveries.c.claim == claim))
        .values(**values, lease_until=None, claim=None)
    )
    return bool(result.rowcount)


def delivery_log(
    conn: Connection, *, state: str | None, before_id: int | None, limit: int
) -> list[Row[Any]]:
    """Deliveries with their events, newest first; ``before_id`` pages back."""
    query = _with_event().order_by(deliveries.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(deliveries.c.state == state)
    if before_id is not None:
        query = query.where(deliveries.c.id < before_id)
    return list(conn.execute(query))
