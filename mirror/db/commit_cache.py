"""Values loaded from the database, remembered per process until the database changes: which
blobs hold each project's signed pages, and the rendered root index
(``mirror.services.signed_pages``).

A warm page request should cost no database query (docs/performance.md, the serving path).
SQLite answers "has anything been committed since I last asked?" for a few microseconds:
``PRAGMA data_version`` changes on a connection whenever any other connection, in any process,
commits. One read-only connection per process asks it before every lookup; any commit (a
publish, a status update by the scheduler, a download recorded) empties the cache, and the next
request for each project loads its digests again. A value cached under a version is never older
than that version, because it is loaded after the version was read.

Other databases have no such cheap question, so with them every lookup loads.
"""

import sqlite3
import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar
from urllib.parse import quote

from sqlalchemy import Engine

V = TypeVar("V")
# Called with the engine the cache belongs to, so one module-level loader serves every app.
Loader = Callable[[Engine, str], V | None]


class CommitCache(Generic[V]):
    """``load(project)`` results, cached until the next commit to ``engine``'s database."""

    def __init__(self, engine: Engine, load: Loader[V]) -> None:
        self._engine = engine
        self._load = load
        self._marker = _open_marker(engine)
        self._lock = threading.Lock()
        self._version: int | None = None
        self._values: dict[str, V] = {}

    def get(self, project: str) -> V | None:
        """The project's value, or None (not cached: the next call asks again)."""
        if self._marker is None:
            return self._load(self._engine, project)
        with self._lock:
            version = self._marker.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._values.clear()
                self._version = version
            value = self._values.get(project)
        if value is None:
            value = self._load(self._engine, project)
            if value is not None:
                with self._lock:
                    if self._version == version:
                        self._values[project] = value
        return value


def _open_marker(engine: Engine) -> sqlite3.Connection | None:
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    try:
        # Shared by the threads of this process; every use holds CommitCache._lock.
        return sqlite3.connect(
            f"file:{quote(database)}?mode=ro",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error:
        return None


_CACHES: "weakref.WeakKeyDictionary[Engine, dict[Loader[object], CommitCache[object]]]" = (
    weakref.WeakKeyDictionary()
)
_CREATING = threading.Lock()


def lookup(engine: Engine, project: str, load: Loader[V]) -> V | None:
    """``load(project)`` through this process's cache for ``engine`` and ``load``."""
    cache = _CACHES.get(engine, {}).get(load)  # type: ignore[arg-type]
    if cache is None:
        with _CREATING:
            by_loader = _CACHES.setdefault(engine, {})
            cache = by_loader.setdefault(load, CommitCache(engine, load))  # type: ignore[arg-type]
    return cache.get(project)  # type: ignore[return-value]
