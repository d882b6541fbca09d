"""The status table: small documents the processes share (upstream health, the scheduler's
cycles, the rules in force)."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from mirror.db.schema import status
from mirror.db.upsert import upsert

# Built once: read after every look upstream (``fetching.record_upstream``).
_VALUE = select(status.c.value).where(status.c.key == bindparam("key"))


def get_status(conn: Connection, key: str) -> Any:
    row = conn.execute(_VALUE, {"key": key}).first()
    return row[0] if row else None


def set_status(conn: Connection, key: str, value: Any, now: datetime) -> None:
    upsert(conn, status, {"key": key}, {"value": value, "updated_at": now})
