"""Insert-or-update of one row, in the dialect's own statement."""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def upsert(
    conn: Connection, table: Table, key: Mapping[str, Any], values: Mapping[str, Any]
) -> None:
    """Insert the row, or update it when ``key`` (the primary key) exists: one statement."""
    statement: postgresql.Insert | sqlite.Insert = (
        postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    )
    statement = statement.values(**key, **values)
    conn.execute(statement.on_conflict_do_update(index_elements=list(key), set_=dict(values)))


def upsert_many(
    conn: Connection, table: Table, key: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """``upsert`` of many rows, each with the same columns, ``key`` among them: one statement
    run for all, instead of one built and compiled per row."""
    if not rows:
        return
    statement: postgresql.Insert | sqlite.Insert = (
        postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    )
    updated = {name: statement.excluded[name] for name in rows[0] if name not in key}
    conn.execute(statement.on_conflict_do_update(index_elements=list(key), set_=updated), rows)


def insert_new(
    conn: Connection, table: Table, values: Mapping[str, Any], unique: list[str]
) -> bool:
    """Insert the row unless one with the same ``unique`` columns exists; whether it was."""
    statement: postgresql.Insert | sqlite.Insert = (
        postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    )
    statement = statement.values(**values).on_conflict_do_nothing(index_elements=unique)
    # rowcount is not to be had once RETURNING is added (as SQLAlchemy does for the key): a
    # row comes back only when one was inserted.
    returning = statement.returning(*(table.c[name] for name in unique))
    return conn.execute(returning).first() is not None
