"""Connections and migrations.

SQLite runs in WAL mode with a busy timeout so gunicorn workers, the scheduler and CLI commands
share one file.

Writers are serialised on both backends, because the services read and then write in one
transaction and rely on nobody writing in between: SQLite takes its write lock up front
(BEGIN IMMEDIATE), after the writer's turn (``write_turns``); PostgreSQL takes a
transaction-scoped advisory lock as the first statement, and READ COMMITTED then shows every
statement after it what earlier writers committed. Write transactions are short (no network
I/O inside), so one writer at a time costs little.
"""

import math
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine.url import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from mirror.config import Config
from mirror.db import write_turns
from mirror.errors import ConfigError, StorageError

_MIGRATIONS = Path(__file__).with_name("migrations")


# How long a SQLite writer waits for the write lock: its turn (``write_turns``), then SQLite's
# own busy timeout for a writer that takes no turn.
BUSY_TIMEOUT = 30.0

# pg_advisory_xact_lock keys (64-bit, any value, shared by every process on the database).
WRITE_LOCK = 0x6D6972726F720001  # "mirror" + 1: one write transaction at a time
MIGRATE_LOCK = 0x6D6972726F720002  # nodes starting together upgrade the schema one at a time


@dataclass(frozen=True)
class Timeouts:
    """How long a PostgreSQL client waits, in seconds: for a connection (to be made, or free in
    the pool) and for a statement (None: as long as it takes, for migrations and one-off
    commands). SQLite waits for its write lock ``busy_timeout`` instead."""

    connect: float = 10.0
    statement: float | None = None

    @classmethod
    def from_config(cls, config: Config) -> "Timeouts":
        return cls(
            config.database.connect_timeout.total_seconds(),
            config.database.statement_timeout.total_seconds(),
        )


def make_engine(url: str, timeouts: Timeouts = Timeouts()) -> Engine:
    """An engine for ``url``; creates the SQLite file's folder on the embedded default."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"invalid database.url: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return _postgresql_engine(url, timeouts)
    if backend != "sqlite":
        raise ConfigError(f"unsupported database.url {parsed.render_as_string()!r}")
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # The driver's own transaction handling is switched off so that writers can take the write
    # lock up front (BEGIN IMMEDIATE): a deferred transaction that reads and then writes can fail
    # with "database is locked" when another process committed in between.
    engine = create_engine(
        url, connect_args={"timeout": BUSY_TIMEOUT, "isolation_level": None}, future=True
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _postgresql_engine(url: str, timeouts: Timeouts) -> Engine:
    # Keepalives find a peer that vanished (a host gone, a connection cut) on an idle
    # connection; a server that runs but is stuck is found by the statement timeouts.
    connect_args: dict[str, Any] = {
        "connect_timeout": max(2, math.ceil(timeouts.connect)),  # libpq: whole seconds, 2 or more
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
    if timeouts.statement:
        connect_args["options"] = f"-c statement_timeout={math.ceil(timeouts.statement * 1000)}"
    # pre_ping: a node survives a database restart without serving one failed request.
    engine = create_engine(
        url, pool_pre_ping=True, pool_timeout=timeouts.connect, connect_args=connect_args
    )
    if timeouts.statement:
        from mirror.db import postgresql  # psycopg, loaded only by mirrors that use it

        # Past the server's own timeout, and the time a new connection may take after it.
        postgresql.bound_answers(engine, timeouts.statement + timeouts.connect)
    event.listen(engine, "begin", _postgresql_begin)
    return engine


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get("immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _postgresql_begin(connection: Connection) -> None:
    if connection.get_execution_options().get("immediate", False):
        # Released by COMMIT or ROLLBACK, also when the process dies with the connection.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction that holds the database's write lock from its start."""
    with (
        _write_turn(engine),
        engine.connect().execution_options(immediate=True) as connection,
        connection.begin(),
    ):
        yield connection


def _write_turn(engine: Engine) -> AbstractContextManager[None]:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return nullcontext()
    return write_turns.turn(database, BUSY_TIMEOUT)


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
    cursor.close()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``, the newest by default (idempotent; first start creates
    everything)."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(_MIGRATIONS))
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # DDL is transactional on PostgreSQL: the second node waits, then finds it done.
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATE_LOCK})")
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        raise StorageError(f"database {engine.url.render_as_string()} unusable: {exc}") from exc


def check_connection(engine: Engine) -> None:
    """Fail with one clear line when the database cannot be reached."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise StorageError(
            f"cannot reach database {engine.url.render_as_string()}: {_first_line(exc)}"
        ) from exc


def _first_line(exc: SQLAlchemyError) -> str:
    """The driver's own message ("connection refused", "database ... does not exist"), briefly."""
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else exc.__class__.__name__


DATABASE_UNAVAILABLE = "database unavailable"


def database_fault(exc: BaseException) -> str | None:
    """The reason to give a client when ``exc`` is the database failing rather than a bug:
    "disk full: ..." when SQLite found no space, "database unavailable" when the database is
    unreachable, gone away, too slow or locked past its timeout; else None."""
    if isinstance(exc, PoolTimeoutError):
        return DATABASE_UNAVAILABLE
    if not isinstance(exc, DBAPIError):
        return None
    if getattr(exc.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return "disk full: database or disk is full"
    if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
        return DATABASE_UNAVAILABLE
    return None
