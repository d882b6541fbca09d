"""Insert many rows at once, converting each distinct value once per column.

A project's first look inserts thousands of files, audit events and queued TUF targets. Given a
list of dicts, SQLAlchemy builds the parameters of every row anew and runs every value through
its column type (a datetime costs microseconds), which made these inserts most of a first
look's CPU. Here the statement is compiled once, each column's values go through the type's
bind processor once per distinct value (a batch shares its timestamps, states and reasons), and
the driver gets plain tuples or dicts in one executemany. Values that cannot be hashed (JSON
documents) are converted once per object. The values the driver sees are the
ones SQLAlchemy would have passed: the same processors make them.

Not done here: column defaults. Every row names every column it fills, the same ones.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.types import TypeEngine


def insert_many(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys, all columns of ``table``) in one statement.

    Raises:
        ValueError: a row's keys differ from the first row's.
    """
    if rows:
        insert_columns(conn, table, _columns(table, list(rows[0]), rows))


def insert_columns(conn: Connection, table: Table, values: Mapping[str, Sequence[Any]]) -> None:
    """Insert the rows that ``values`` gives column by column (all of the same length)."""
    keys = list(values)
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=keys)
    columns = {key: _converted(table.c[key].type, conn, values[key]) for key in keys}
    parameters: list[Any]
    if compiled.positional:
        order = compiled.positiontup or []
        parameters = list(zip(*(columns[name] for name in order), strict=True))
    else:
        parameters = [
            dict(zip(keys, row, strict=True)) for row in zip(*columns.values(), strict=True)
        ]
    conn.exec_driver_sql(compiled.string, parameters)


def _columns(
    table: Table, keys: list[str], rows: Sequence[Mapping[str, Any]]
) -> dict[str, list[Any]]:
    """Each key's values, in row order; a row of as many keys that lacks one names others."""
    if any(len(row) != len(keys) for row in rows):
        raise ValueError(f"insert into {table.name}: rows name different columns")
    try:
        return {key: [row[key] for row in rows] for key in keys}
    except KeyError as exc:
        raise ValueError(f"insert into {table.name}: rows name different columns") from exc


def _converted(type_: TypeEngine[Any], conn: Connection, values: Sequence[Any]) -> Sequence[Any]:
    """``values`` as the driver takes them: through the type's bind processor, if it has one."""
    # The dialect's own variant of the type: PostgreSQL's JSON, for one, processes differently.
    impl = type_.dialect_impl(conn.dialect)
    process: Callable[[Any], Any] | None = impl.bind_processor(conn.dialect)
    if process is None:
        return values
    if not impl.hashable:
        # JSON documents: rows that share one object (the same evidence, say) share its text.
        by_object = {id(value): value for value in values}
        texts = {key: process(value) for key, value in by_object.items()}
        return [texts[id(value)] for value in values]
    # Equal values are stored alike with this schema's types (UTCDateTime stores the instant,
    # not the zone it was given in), so one conversion serves them all.
    once = {value: process(value) for value in set(values)}
    return [once[value] for value in values]
