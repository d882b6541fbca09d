"""The plans SQLite chose for the queries a block of code ran."""

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, event


@contextlib.contextmanager
def query_plans(engine: Engine) -> Iterator[list[str]]:
    """The ``EXPLAIN QUERY PLAN`` of each SELECT run on ``engine`` in the block, one line per
    query (its plan's rows joined), in the list yielded once the block ends."""
    statements: list[tuple[str, Any]] = []

    def record(*args: Any) -> None:  # conn, cursor, statement, parameters, ...
        if args[2].startswith("SELECT"):
            statements.append(args[2:4])

    plans: list[str] = []
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield plans
    finally:
        event.remove(engine, "before_cursor_execute", record)
    with engine.connect() as conn:
        plans += [
            " ".join(row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
            for sql, params in statements
        ]
