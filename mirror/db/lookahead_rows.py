"""The read-ahead queue (``mirror.services.prefetch``): entries web requests and the read-ahead
itself leave for the scheduler's process, each once.

Bounded so that nothing grows it without end: a mirror whose scheduler does not run (a
deployment without one, a scheduler that is down) or a flood of first requests keeps at most
``MAX_ENTRIES`` rows, and an entry no consumer took within ``MAX_AGE`` is dropped by the next
that queues: by then its client has asked for itself.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, delete, select

from mirror.db.schema import lookahead
from mirror.db.upsert import insert_missing

# Read a project the mirror has no page for (a first look), then ahead from it.
PROJECT = "project"
# Read the projects a stored file's PEP 658 metadata requires.
REQUIRES = "requires"
# Download a file its client is about to ask for.
DOWNLOAD = "download"
KINDS = (PROJECT, REQUIRES, DOWNLOAD)

MAX_ENTRIES = 1000
MAX_AGE = timedelta(minutes=5)


@dataclass(frozen=True)
class Entry:
    """One thing to do ahead of a client: ``filename`` is "" for a project's entry; ``depth``
    counts the levels below a client's own request."""

    kind: str
    project: str
    filename: str
    depth: int


def queue(conn: Connection, entries: Sequence[Entry], now: datetime) -> None:
    """Queue the entries not queued yet; drop those older than ``MAX_AGE``, then the oldest
    beyond ``MAX_ENTRIES`` (the newest are what clients ask for next)."""
    conn.execute(_DROP_OLD, {"before": now - MAX_AGE})
    rows = [
        {
            "kind": e.kind,
            "project": e.project,
            "filename": e.filename,
            "depth": e.depth,
            "queued_at": now,
        }
        for e in dict.fromkeys(entries)
    ]
    insert_missing(conn, lookahead, ["kind", "project", "filename"], rows)
    conn.execute(_DROP_BEYOND)


# Built once: a client's first request of a project or `.metadata` queues entries.
_DROP_OLD = delete(lookahead).where(lookahead.c.queued_at < bindparam("before"))
_NEWEST_KEPT = (
    select(lookahead.c.id).order_by(lookahead.c.id.desc()).offset(MAX_ENTRIES - 1).limit(1)
)
_DROP_BEYOND = delete(lookahead).where(lookahead.c.id < _NEWEST_KEPT.scalar_subquery())


def queued_kinds(conn: Connection) -> frozenset[str]:
    """The kinds of the entries queued."""
    return frozenset(conn.execute(select(lookahead.c.kind).distinct()).scalars())


def take(conn: Connection, kinds: Sequence[str], limit: int) -> list[Entry]:
    """Remove and return ``limit`` entries of ``kinds``, the nearest to a client's request
    first, and of those the newest: a client asks next for what its latest request named (pip
    reads one project after another). Each goes to one taker (another's concurrent take
    returns only what it removed)."""
    nearest = (
        select(lookahead.c.id)
        .where(lookahead.c.kind.in_(kinds))
        .order_by(lookahead.c.depth, lookahead.c.id.desc())
        .limit(limit)
    )
    taken = conn.execute(
        delete(lookahead).where(lookahead.c.id.in_(nearest)).returning(*_ENTRY_COLUMNS)
    ).all()
    return sorted((Entry(*row) for row in taken), key=lambda entry: entry.depth)


def entries(conn: Connection) -> list[Entry]:
    """Every queued entry, oldest first."""
    rows = conn.execute(select(*_ENTRY_COLUMNS).order_by(lookahead.c.id))
    return [Entry(*row) for row in rows]


_ENTRY_COLUMNS = (lookahead.c.kind, lookahead.c.project, lookahead.c.filename, lookahead.c.depth)
