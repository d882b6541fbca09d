"""The status table: small documents the processes share (upstream health, the scheduler's
cycles, the rules in force)."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from mirror.db.schema import status
from mirror.db.upsert import upsert


def get_status(conn: Connection, key: str) -> Any:
    row = conn.execute(select(status.c.value).where(status.c.key == key)).first()
    return row[0] if row else None


def set_status(conn: Connection, key: str, value: Any, now: datetime) -> None:
    upsert(conn, status, {"key": key}, {"value": value, "updated_at": now})
