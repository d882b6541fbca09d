"""The single-publisher lock for TUF publishing (docs/tuf.md, "How changes are published").

Two processes that signed at once would fork version numbers, so every write to the TUF
metadata happens inside ``publish_lock``. It spans every process that shares the database and
is released when its holder dies:

- PostgreSQL: a session-level advisory lock (``pg_advisory_lock``, or ``pg_try_advisory_lock``
  when the caller would rather skip than wait) on a connection kept for the purpose.
- SQLite: an exclusive ``flock`` on a file beside the database (SQLite is one host).

It is not the database's write lock: signing a batch takes tenths of a second, and writers
(first looks, decisions, downloads) go on meanwhile, queueing changes that the next batch takes
all at once. The publisher reads the queue, signs, then marks the batch in a short write
transaction of its own.
"""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from mirror.errors import StorageError

# An arbitrary constant shared by every process of one deployment: "signed-mirror publish".
PUBLISH_LOCK_KEY = 0x5349474E4D525055


class LockBusyError(Exception):
    """Another process holds the publish lock and the caller chose not to wait."""


@contextmanager
def publish_lock(engine: Engine, *, wait: bool = True) -> Iterator[None]:
    """Hold the publish lock for the duration of the block.

    Raises:
        LockBusyError: ``wait`` is False and another process holds the lock.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            _advisory_lock(conn, wait)
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _signed_key()})
                conn.commit()
        return
    with _file_lock(_lock_path(engine), wait):
        yield


def _signed_key() -> int:
    # Keys are signed 64-bit on the server side.
    return PUBLISH_LOCK_KEY - (1 << 64) if PUBLISH_LOCK_KEY >= 1 << 63 else PUBLISH_LOCK_KEY


def _advisory_lock(conn: Connection, wait: bool) -> None:
    key = _signed_key()
    if wait:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
    elif not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
        conn.rollback()
        raise LockBusyError("another process is publishing")
    # The lock belongs to the session, not to this transaction: end it, keep the lock.
    conn.commit()


def _lock_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise StorageError("TUF publishing needs a database shared by its processes, not :memory:")
    return Path(database).with_name(Path(database).name + ".publish-lock")


@contextmanager
def _file_lock(path: Path, wait: bool) -> Iterator[None]:
    # One open file description per holder: flock excludes threads of one process too.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise LockBusyError("another process is publishing") from exc
        yield
    finally:
        os.close(fd)
