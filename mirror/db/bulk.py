"""Insert many rows at once, converting each distinct value once per column.

A project's first look inserts thousands of files, audit events and queued TUF targets. Given a
list of dicts, SQLAlchemy builds the parameters of every row anew and runs every value through
its column type (a datetime costs microseconds), which made these inserts most of a first
look's CPU. Here the statement is compiled once, each column's values go through the type's
bind processor once per distinct value (a batch shares its timestamps, states and reasons), and
the driver gets plain tuples or dicts in one executemany. Values that cannot be hashed (JSON
documents) are converted once per object. The values the driver sees are the
ones SQLAlchemy would have passed: the same processors make them.

A first look builds its inserts (``prepare``) before its write transaction, which only runs
them (``run``): SQLite has one write lock, and concurrent first looks wait for it in turn.

Not done here: column defaults. Every row names every column it fills, the same ones.
"""

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Table, insert
from sqlalchemy.types import TypeEngine


@dataclass(frozen=True)
class Prepared:
    """An INSERT compiled for one dialect, with its rows as the driver takes them: built before
    the write transaction that runs it (``run``), which then only executes.

    ``constants``: columns whose one value for every row is known only inside the transaction
    (a new project's id), by name and, for positional drivers, their places in a row.
    """

    statement: str
    rows: list[Any]
    positional: bool
    constants: tuple[tuple[int, str], ...] = ()


def insert_many(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys, all columns of ``table``) in one statement.

    Raises:
        ValueError: a row's keys differ from the first row's.
    """
    run(conn, prepare_rows(conn.dialect, table, rows))


def prepare_rows(dialect: Dialect, table: Table, rows: Sequence[Mapping[str, Any]]) -> Prepared:
    """``insert_many`` built ahead of its transaction (``run``).

    Raises:
        ValueError: a row's keys differ from the first row's.
    """
    if not rows:
        return Prepared("", [], positional=True)  # ``run`` executes nothing
    return prepare(dialect, table, _columns(table, list(rows[0]), rows))


def prepare(
    dialect: Dialect,
    table: Table,
    values: Mapping[str, Sequence[Any]],
    constants: Sequence[str] = (),
) -> Prepared:
    """The insert of the rows ``values`` gives column by column, ``constants`` left to ``run``."""
    statement, order = _compiled(dialect, table, (*constants, *values))
    columns = {key: _converted(table.c[key].type, dialect, values[key]) for key in values}
    if order is None:
        transposed = zip(*columns.values(), strict=True)
        named = [dict(zip(columns, row, strict=True)) for row in transposed]
        return Prepared(statement, named, False, tuple((0, name) for name in constants))
    places = tuple((order.index(name), name) for name in constants)
    rows = list(zip(*(columns[name] for name in order if name not in constants), strict=True))
    return Prepared(statement, rows, True, tuple(sorted(places)))


# A first look inserts into the same few tables with the same columns every time, and
# compiling an insert of a wide table costs a quarter of a millisecond: each is compiled once
# per engine's dialect (a handful of tables, a few column sets each).
@functools.lru_cache(maxsize=64)
def _compiled(
    dialect: Dialect, table: Table, keys: tuple[str, ...]
) -> tuple[str, tuple[str, ...] | None]:
    """The insert of ``keys`` into ``table`` as ``dialect`` writes it, and the order of its
    parameters for a positional driver (None for a driver that takes them by name)."""
    compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
    if not compiled.positional:
        return compiled.string, None
    return compiled.string, tuple(compiled.positiontup or ())


def run(conn: Connection, prepared: Prepared, **constants: Any) -> None:
    """Execute ``prepared`` in one executemany, with the values of its constant columns."""
    expected = sorted(name for _, name in prepared.constants)
    if sorted(constants) != expected:
        raise ValueError(f"constant columns: {expected} expected, {sorted(constants)} given")
    rows = prepared.rows
    if constants and prepared.positional:
        for place, name in prepared.constants:
            value = (constants[name],)
            rows = [row[:place] + value + row[place:] for row in rows]
    elif constants:
        rows = [row | constants for row in rows]
    if rows:
        conn.exec_driver_sql(prepared.statement, rows)


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


def _converted(type_: TypeEngine[Any], dialect: Dialect, values: Sequence[Any]) -> Sequence[Any]:
    """``values`` as the driver takes them: through the type's bind processor, if it has one."""
    # The dialect's own variant of the type: PostgreSQL's JSON, for one, processes differently.
    impl = type_.dialect_impl(dialect)
    process: Callable[[Any], Any] | None = impl.bind_processor(dialect)
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
