"""Inserts that may meet an existing row, which they update or skip, in the dialect's own
statement, built once per dialect, table and columns."""

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def upsert(
    conn: Connection, table: Table, key: Mapping[str, Any], values: Mapping[str, Any]
) -> None:
    """Insert the row, or update it when ``key`` (the primary key) exists: one statement."""
    conn.execute(_statement(conn.dialect.name, table, tuple(key), tuple(values)), {**key, **values})


def upsert_many(
    conn: Connection, table: Table, key: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """``upsert`` of many rows, each with the same columns, ``key`` among them: one statement
    run for all, instead of one built and compiled per row."""
    if not rows:
        return
    updated = tuple(name for name in rows[0] if name not in key)
    conn.execute(_statement(conn.dialect.name, table, tuple(key), updated), rows)


# Built once per dialect, table and columns: building one costs several times running it
# (the values are parameters, and the update takes the row's own: ``excluded``).
@functools.lru_cache(maxsize=64)
def _statement(
    dialect: str, table: Table, key: tuple[str, ...], updated: tuple[str, ...]
) -> postgresql.Insert | sqlite.Insert:
    """The insert into ``table`` that updates the ``updated`` columns of the row with the same
    ``key`` instead, when there is one."""
    statement = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return statement.on_conflict_do_update(
        index_elements=list(key), set_={name: statement.excluded[name] for name in updated}
    )


def insert_new(
    conn: Connection, table: Table, values: Mapping[str, Any], unique: list[str]
) -> bool:
    """Insert the row unless one with the same ``unique`` columns exists; whether it was."""
    statement = _missing(conn.dialect.name, table, tuple(unique)).values(**values)
    # rowcount is not to be had once RETURNING is added (as SQLAlchemy does for the key): a
    # row comes back only when one was inserted.
    returning = statement.returning(*(table.c[name] for name in unique))
    return conn.execute(returning).first() is not None


def insert_missing(
    conn: Connection, table: Table, unique: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert each of ``rows`` unless one with the same ``unique`` columns exists: one statement
    run for all, built once (``_missing``), where one with the rows in it compiles each time."""
    if rows:
        conn.execute(_missing(conn.dialect.name, table, tuple(unique)), list(rows))


@functools.lru_cache(maxsize=64)
def _missing(
    dialect: str, table: Table, unique: tuple[str, ...]
) -> postgresql.Insert | sqlite.Insert:
    """The insert into ``table`` that skips a row whose ``unique`` columns are taken."""
    statement = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return statement.on_conflict_do_nothing(index_elements=list(unique))
