"""Connections and migrations.

SQLite runs in WAL mode with a busy timeout so gunicorn workers, the scheduler and CLI commands
share one file; PostgreSQL needs nothing special.
"""

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import SQLAlchemyError

from mirror.errors import StorageError

_MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; creates the SQLite file's folder on the embedded default."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, future=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # The driver's own transaction handling is switched off so that writers can take the write
    # lock up front (BEGIN IMMEDIATE): a deferred transaction that reads and then writes can fail
    # with "database is locked" when another process committed in between.
    engine = create_engine(url, connect_args={"timeout": 30, "isolation_level": None}, future=True)
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get("immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction that holds the database's write lock from its start on SQLite."""
    with engine.connect().execution_options(immediate=True) as connection, connection.begin():
        yield connection


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; first start creates everything)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            # "heads": feature migrations may branch from a common parent; all of them apply.
            command.upgrade(config, "heads")
    except SQLAlchemyError as exc:
        raise StorageError(f"database {engine.url.render_as_string()} unusable: {exc}") from exc


def check_connection(engine: Engine) -> None:
    """Fail with one clear line when the database cannot be reached."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise StorageError(
            f"cannot reach database {engine.url.render_as_string()}: {exc.__class__.__name__}"
        ) from exc
