"""The files table: every distribution file upstream listed, its state and evidence.

A project's history (docs/admission.md, "History") is one record (``history_rows``) until a
file of it gets a row of its own: the lookups here answer with both, a file's own row standing
for it once it has one, and the writes give a history file its row first.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    Dialect,
    Row,
    Select,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)

from mirror.db import history_rows
from mirror.db.bulk import Prepared, prepare, run
from mirror.db.records import FILE_COLUMNS, UNSAVED, FileRecord, FileRow, NamedFile, NamedRow
from mirror.db.schema import files, projects

# Before every upload time, for files upstream gave none.
_NEVER = datetime.min.replace(tzinfo=UTC)
# A chunk of values in one IN (...): under SQLite's bound-parameter limit.
_CHUNK = 500


def project_files(conn: Connection, project_id: int) -> list[FileRecord]:
    """All the project's files, by filename."""
    query = select(*FILE_COLUMNS).where(files.c.project_id == project_id)
    rows = _records(conn, query.order_by(files.c.filename))
    return history_rows.sorted_union(rows, history_rows.history_files(conn, project_id))


@dataclass(frozen=True)
class FileIndex:
    """A project's files, each one's record built only when asked for: its own rows, read, and
    its history listing's files (a check of one file reads a few of thousands)."""

    rows: dict[str, FileRecord]
    history: history_rows.Entries | None

    def versions(self) -> dict[str, str]:
        """Every file's version by filename."""
        listed = self.history.versions() if self.history is not None else {}
        return listed | {filename: r.version for filename, r in self.rows.items()}

    def file(self, filename: str) -> FileRecord | None:
        """The file's own row, else its history record (``project_files`` has the same)."""
        own = self.rows.get(filename)
        if own is not None or self.history is None:
            return own
        return self.history.record(filename)


def file_index(conn: Connection, project_id: int) -> FileIndex:
    query = select(*FILE_COLUMNS).where(files.c.project_id == project_id)
    rows = {r.filename: r for r in _records(conn, query)}
    return FileIndex(rows, history_rows.history_listing(conn, project_id))


def file_ids(conn: Connection, project_id: int) -> dict[str, int]:
    """The project's file ids by filename."""
    query = select(files.c.filename, files.c.id).where(files.c.project_id == project_id)
    return {filename: file_id for filename, file_id in conn.execute(query)}


def files_by_id(conn: Connection, ids: Sequence[int]) -> list[FileRecord]:
    return _records(conn, select(*FILE_COLUMNS).where(files.c.id.in_(ids)))


def admitted_files(conn: Connection, project_id: int) -> list[FileRecord]:
    return [r for r in project_files(conn, project_id) if r.state == "admitted"]


def _records(conn: Connection, query: Select[Any]) -> list[FileRecord]:
    return [FileRecord._make(row) for row in conn.execute(query)]


def state_reasons(conn: Connection, project_id: int) -> set[tuple[str, str]]:
    """The distinct (state, reason) pairs of a project's files."""
    query = select(files.c.state, files.c.reason).distinct().where(files.c.project_id == project_id)
    pairs = {(row.state, row.reason) for row in conn.execute(query)}
    return pairs | {(r.state, r.reason) for r in _unsaved(conn, project_id)}


# Built once, as the statements below: a client's first download runs it five times, and
# building it cost five times running it.
_FILE_BY_NAME = (
    select(files, projects.c.name.label("project"))
    .join(projects, projects.c.id == files.c.project_id)
    .where(and_(projects.c.name == bindparam("project"), files.c.filename == bindparam("name")))
)


def file_by_name(conn: Connection, project: str, filename: str) -> NamedRow | None:
    row = conn.execute(_FILE_BY_NAME, {"project": project, "name": filename}).first()
    if row is not None:
        return row
    found = history_rows.history_file(conn, project, filename)
    return None if found is None else NamedFile(project, found)


# Row values go in as execute parameters, not .values(): the statement then compiles once and
# is cached, which makes a first sync of a project with thousands of files several times faster.


def insert_files(conn: Connection, project_id: int, records: Sequence[FileRecord]) -> None:
    """Many new files of a project in one executemany (a first look lists thousands); the
    records' own ids and project ids are not used (the database gives the ids)."""
    run(conn, prepare_files(conn.dialect, records), project_id=project_id)


def prepare_files(dialect: Dialect, records: Sequence[FileRecord]) -> Prepared:
    """``insert_files`` built ahead of its transaction; ``run`` it with the ``project_id``."""
    transposed = zip(*records, strict=True) if records else ([] for _ in FileRecord._fields)
    columns = dict(zip(FileRecord._fields, transposed, strict=True))
    columns.pop("id", None)
    columns.pop("project_id", None)
    return prepare(dialect, files, columns, constants=("project_id",))


def update_file(conn: Connection, row: FileRow, **values: Any) -> int:
    """Change one file (a history file gets its row first); its row id."""
    file_id = row_ids(conn, [row])[row.filename]
    conn.execute(_UPDATE_FILE, {**values, "file_id": file_id})
    return file_id


# The columns set are the parameters' (as in an insert), the row the one ``file_id`` names.
_UPDATE_FILE = update(files).where(files.c.id == bindparam("file_id"))


def set_files(conn: Connection, rows: Sequence[FileRow], values: Mapping[str, Any]) -> None:
    """Give many files the same values (a block of a large release moves hundreds)."""
    ids = list(row_ids(conn, rows).values())
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        conn.execute(update(files).where(files.c.id.in_(chunk)), dict(values))


def row_ids(conn: Connection, rows: Iterable[FileRow]) -> dict[str, int]:
    """The row ids of ``rows`` by filename, inserting the rows of history files that have
    none yet (another transaction may have given them one since they were read)."""
    ids: dict[str, int] = {}
    history: dict[int, list[FileRecord]] = defaultdict(list)
    for row in rows:
        if row.id != UNSAVED:
            ids[row.filename] = row.id
        else:
            history[row.project_id].append(_record(row))
    for project_id, records in history.items():
        ids |= _materialized(conn, project_id, records)
    return ids


def _record(row: FileRow) -> FileRecord:
    if isinstance(row, NamedFile):
        return row.record
    if isinstance(row, FileRecord):
        return row
    return FileRecord(*(getattr(row, name) for name in FileRecord._fields))


def _materialized(conn: Connection, project_id: int, records: list[FileRecord]) -> dict[str, int]:
    names = [r.filename for r in records]
    existing = _ids_by_name(conn, names)
    new = [r for r in records if r.filename not in existing]
    if new:
        insert_files(conn, project_id, new)
        history_rows.count_materialized(conn, project_id, len(new))
    return existing | _ids_by_name(conn, [r.filename for r in new])


def _ids_by_name(conn: Connection, names: Sequence[str]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for start in range(0, len(names), _CHUNK):
        chunk = {"names": names[start : start + _CHUNK]}
        ids.update((name, file_id) for name, file_id in conn.execute(_IDS_BY_NAME, chunk))
    return ids


_IDS_BY_NAME = select(files.c.filename, files.c.id).where(
    files.c.filename.in_(bindparam("names", expanding=True))
)


def files_by_state(conn: Connection, states: Sequence[str]) -> list[NamedRow]:
    query = (
        select(files, projects.c.name.label("project"))
        .join(projects, projects.c.id == files.c.project_id)
        .where(files.c.state.in_(states))
        .order_by(files.c.first_seen_at.desc(), files.c.filename)
    )
    rows: list[NamedRow] = list(conn.execute(query))
    if "admitted" in states:
        # Every history file is admitted: as many as the projects' listings hold.
        rows += _history_without_rows(conn)
        rows.sort(key=lambda r: (-r.first_seen_at.timestamp(), r.filename))
    return rows


def _history_without_rows(conn: Connection) -> list[NamedFile]:
    return [r for project in history_rows.project_names(conn) for r in _history_of(conn, project)]


class _Ruled(NamedTuple):
    project: str
    version: str
    blocked: bool
    reason: str | None


def ruled_releases(conn: Connection, rule_actor: str) -> list[Row[Any] | _Ruled]:
    """(project, version, blocked, reason) of every release with a file a configured rule
    could move: one not blocked (``blocked`` False, no reason), or blocked by ``rule_actor``
    (with the rule's reason); each distinct combination once."""
    blocked = and_(files.c.state == "blocked", files.c.decided_by == rule_actor)
    query = (
        select(
            projects.c.name.label("project"),
            files.c.version,
            blocked.label("blocked"),
            case((blocked, files.c.reason), else_=None).label("reason"),
        )
        .distinct()
        .join(files, files.c.project_id == projects.c.id)
        .where(or_(files.c.state != "blocked", blocked))
    )
    rows: list[Row[Any] | _Ruled] = list(conn.execute(query))
    # History files are admitted (a blocked one has its own row, read above).
    listed = set(history_rows.listed_versions(conn)) - {(r.project, r.version) for r in rows}
    return rows + [_Ruled(project, version, False, None) for project, version in sorted(listed)]


def release_files(conn: Connection, project: str, version: str) -> list[NamedRow]:
    query = (
        select(files, projects.c.name.label("project"))
        .join(projects, projects.c.id == files.c.project_id)
        .where(and_(projects.c.name == project, files.c.version == version))
        .order_by(files.c.filename)
    )
    rows: list[NamedRow] = list(conn.execute(query))
    listed: list[NamedRow] = [r for r in _history_of(conn, project) if r.version == version]
    return sorted(rows + listed, key=lambda r: r.filename) if listed else rows


def state_counts(conn: Connection) -> dict[str, int]:
    query = select(files.c.state, func.count()).group_by(files.c.state)
    counts = {state: count for state, count in conn.execute(query).all()}
    history = history_rows.unmaterialized_count(conn)
    if history:
        counts["admitted"] = counts.get("admitted", 0) + history
    return counts


def newest_with_metadata(conn: Connection, project: str) -> NamedRow | None:
    """The project's most recently uploaded admitted file that has PEP 658 metadata, or is a
    wheel (whose METADATA is inside)."""
    query = (
        select(files, projects.c.name.label("project"))
        .join(projects, projects.c.id == files.c.project_id)
        .where(
            projects.c.name == project,
            files.c.state == "admitted",
            or_(files.c.metadata_sha256.is_not(None), files.c.filename.endswith(".whl")),
        )
        .order_by(files.c.upload_time.desc(), files.c.id.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    listed = (
        r for r in _history_of(conn, project) if r.metadata_sha256 or r.filename.endswith(".whl")
    )
    newest = max(listed, key=lambda r: r.upload_time or _NEVER, default=None)
    if newest is None or (row is not None and (row.upload_time or _NEVER) >= newest.upload_time):
        return row
    return newest


def _history_of(conn: Connection, project: str) -> list[NamedFile]:
    """The project's history files that have no row of their own."""
    project_id = conn.execute(select(projects.c.id).where(projects.c.name == project)).scalar()
    if project_id is None:
        return []
    return [NamedFile(project, r) for r in _unsaved(conn, project_id)]


def _unsaved(conn: Connection, project_id: int) -> list[FileRecord]:
    history = history_rows.history_files(conn, project_id)
    if not history:
        return []
    own = file_ids(conn, project_id)
    return [r for name, r in history.items() if name not in own]


def project_versions(conn: Connection, project: str) -> list[str]:
    """The versions of the files the mirror knows of ``project``."""
    query = (
        select(files.c.version)
        .distinct()
        .join(projects, projects.c.id == files.c.project_id)
        .where(projects.c.name == project)
    )
    versions = set(conn.execute(query).scalars())
    return sorted(versions | {r.version for r in _history_of(conn, project)})
