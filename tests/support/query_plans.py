"""The SELECTs a block of code ran, and the plans SQLite chose for them."""

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, event


@contextlib.contextmanager
def selects(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Each SELECT run on ``engine`` in the block, with its parameters, appended as it runs."""
    statements: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:  # conn, cursor, statement, parameters, ...
        if args[2].startswith("SELECT"):
            statements.append(args[2:4])

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextlib.contextmanager
def query_plans(engine: Engine) -> Iterator[list[str]]:
    """The ``EXPLAIN QUERY PLAN`` of each SELECT run on ``engine`` in the block, one line per
    query (its plan's rows joined), in the list yielded once the block ends."""
    plans: list[str] = []
    with selects(engine) as statements:
        yield plans
    with engine.connect() as conn:
        plans += [
            " ".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
            for sql, params in statements
        ]
