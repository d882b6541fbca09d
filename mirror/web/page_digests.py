"""Which blobs hold each project's pages, remembered per process until the database changes.

A warm page request should cost no database query (issue 7: under 1 ms of CPU per request).
SQLite answers "has anything been committed since I last asked?" for a few microseconds:
``PRAGMA data_version`` changes on a connection whenever any other connection, in any process,
commits. One read-only connection per process asks it before every lookup; any commit (a
publish, a status update by the scheduler) empties the cache, and the next request for each
project reads its row again. Rows cached under a version are never older than that version,
because the row is read after the version.

Other databases have no such cheap question, so with them every lookup reads the row.
"""

import sqlite3
import threading
import weakref
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, Row

from mirror.db import queries


class PageDigests:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._marker = _open_marker(engine)
        self._lock = threading.Lock()
        self._version: int | None = None
        self._rows: dict[str, Row[Any]] = {}

    def get(self, project: str) -> Row[Any] | None:
        """The project's ``pages`` row, or None when it has no published page."""
        if self._marker is None:
            return self._read(project)
        with self._lock:
            version = self._marker.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._rows.clear()
                self._version = version
            row = self._rows.get(project)
        if row is None:
            row = self._read(project)
            if row is not None:
                with self._lock:
                    if self._version == version:
                        self._rows[project] = row
        return row

    def _read(self, project: str) -> Row[Any] | None:
        with self._engine.connect() as conn:
            return queries.get_page(conn, project)


def _open_marker(engine: Engine) -> sqlite3.Connection | None:
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    try:
        # Shared by the threads of this process; every use holds PageDigests._lock.
        return sqlite3.connect(
            f"file:{quote(database)}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error:
        return None


_BY_ENGINE: "weakref.WeakKeyDictionary[Engine, PageDigests]" = weakref.WeakKeyDictionary()
_CREATING = threading.Lock()


def lookup(engine: Engine, project: str) -> Row[Any] | None:
    """The project's ``pages`` row through this process's cache for ``engine``."""
    digests = _BY_ENGINE.get(engine)
    if digests is None:
        with _CREATING:
            digests = _BY_ENGINE.setdefault(engine, PageDigests(engine))
    return digests.get(project)
