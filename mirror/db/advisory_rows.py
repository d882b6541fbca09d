"""The advisories and advisory_ranges tables: stored OSV advisories and the versions they name."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from mirror.db.schema import advisories, advisory_ranges


def advisory_ranges_of(conn: Connection, advisory_id: int) -> list[Row[Any]]:
    query = select(advisory_ranges).where(advisory_ranges.c.advisory_id == advisory_id)
    return list(conn.execute(query.order_by(advisory_ranges.c.id)))


def advisory_versions(conn: Connection) -> dict[str, tuple[int, datetime]]:
    """Every stored advisory's id and ``modified`` time, by OSV id."""
    query = select(advisories.c.osv_id, advisories.c.id, advisories.c.modified)
    return {row.osv_id: (row.id, row.modified) for row in conn.execute(query)}


def add_advisories(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(insert(advisories), list(rows))


def update_advisory(conn: Connection, advisory_id: int, values: Mapping[str, Any]) -> None:
    """Replace an advisory's fields and drop its ranges (the caller adds the new ones)."""
    conn.execute(update(advisories).where(advisories.c.id == advisory_id), dict(values))
    conn.execute(delete(advisory_ranges).where(advisory_ranges.c.advisory_id == advisory_id))


def add_advisory_ranges(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(insert(advisory_ranges), list(rows))


def _advisories_naming(project: str) -> Any:
    return select(advisory_ranges.c.advisory_id).where(advisory_ranges.c.project == project)


def list_advisories(conn: Connection, project: str | None = None) -> list[Row[Any]]:
    """Advisories newest first; only those naming ``project`` when given."""
    query = select(advisories).order_by(advisories.c.modified.desc(), advisories.c.osv_id)
    if project is not None:
        query = query.where(advisories.c.id.in_(_advisories_naming(project)))
    return list(conn.execute(query))


def list_advisory_ranges(conn: Connection, project: str | None = None) -> list[Row[Any]]:
    """The affected ranges of the advisories ``list_advisories`` returns."""
    query = select(advisory_ranges).order_by(advisory_ranges.c.id)
    if project is not None:
        query = query.where(advisory_ranges.c.advisory_id.in_(_advisories_naming(project)))
    return list(conn.execute(query))
