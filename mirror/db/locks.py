"""The single-writer lock for TUF publishing (design/tuf.md, "Concurrency").

Two processes that signed at once would fork version numbers, so every write to the TUF
metadata happens inside ``publish_lock``. The lock is the database's, so it spans every node
that shares the database:

- PostgreSQL: a transaction-level advisory lock (``pg_advisory_xact_lock``, or
  ``pg_try_advisory_xact_lock`` when the caller would rather skip than wait). It is released
  when the transaction ends, also when the process dies.
- SQLite: ``BEGIN IMMEDIATE``, the database's write lock (one host, one file).

The caller gets the connection, inside the transaction that holds the lock, so the pending rows
it reads and marks are changed under the same lock as the metadata.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

# An arbitrary constant shared by every process of one deployment: "signed-mirror publish".
PUBLISH_LOCK_KEY = 0x5349474E4D525055


class LockBusy(Exception):
    """Another process holds the publish lock and the caller chose not to wait."""


@contextmanager
def publish_lock(engine: Engine, *, wait: bool = True) -> Iterator[Connection]:
    """Hold the publish lock for one transaction and yield its connection.

    Raises:
        LockBusy: ``wait`` is False and another process holds the lock.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn, conn.begin():
            _advisory_lock(conn, wait)
            yield conn
        return
    with _sqlite_immediate(engine, wait) as conn:
        yield conn


def _advisory_lock(conn: Connection, wait: bool) -> None:
    # Keys are signed 64-bit on the server side.
    key = PUBLISH_LOCK_KEY - (1 << 64) if PUBLISH_LOCK_KEY >= 1 << 63 else PUBLISH_LOCK_KEY
    if wait:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif not conn.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}).scalar():
        raise LockBusy("another process is publishing")


@contextmanager
def _sqlite_immediate(engine: Engine, wait: bool) -> Iterator[Connection]:
    with engine.connect().execution_options(immediate=True) as conn:
        raw: Any = conn.connection.driver_connection
        if not wait:
            raw.execute("PRAGMA busy_timeout=0")
        try:
            try:
                transaction = conn.begin()
            except OperationalError as exc:
                if "locked" in str(exc) and not wait:
                    raise LockBusy("another process is writing") from exc
                raise
            with transaction:
                yield conn
        finally:
            if not wait:
                raw.execute("PRAGMA busy_timeout=30000")
