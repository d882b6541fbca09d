"""The files table: every distribution file upstream listed, its state and evidence."""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, Row, Select, and_, case, func, or_, select, update

from mirror.db.bulk import Prepared, prepare, run
from mirror.db.records import FILE_COLUMNS, FileRecord
from mirror.db.schema import files, projects


def project_files(conn: Connection, project_id: int) -> list[FileRecord]:
    query = select(*FILE_COLUMNS).where(files.c.project_id == project_id)
    return _records(conn, query.order_by(files.c.filename))


def file_ids(conn: Connection, project_id: int) -> dict[str, int]:
    """The project's file ids by filename."""
    query = select(files.c.filename, files.c.id).where(files.c.project_id == project_id)
    return {filename: file_id for filename, file_id in conn.execute(query)}


def files_by_id(conn: Connection, ids: Sequence[int]) -> list[FileRecord]:
    return _records(conn, select(*FILE_COLUMNS).where(files.c.id.in_(ids)))


def admitted_files(conn: Connection, project_id: int) -> list[FileRecord]:
    query = select(*FILE_COLUMNS).where(
        and_(files.c.project_id == project_id, files.c.state == "admitted")
    )
    return _records(conn, query.order_by(files.c.filename))


def _records(conn: Connection, query: Select[Any]) -> list[FileRecord]:
    return [FileRecord._make(row) for row in conn.execute(query)]


def state_reasons(conn: Connection, project_id: int) -> set[tuple[str, str]]:
    """The distinct (state, reason) pairs of a project's files."""
    query = select(files.c.state, files.c.reason).distinct().where(files.c.project_id == project_id)
    return {(row.state, row.reason) for row in conn.execute(query)}


def file_by_name(conn: Connection, project: str, filename: str) -> Row[Any] | None:
    query = (
        select(files, projects.c.name.label("project"))
        .join(projects, projects.c.id == files.c.project_id)
        .where(and_(projects.c.name == project, files.c.filename == filename))
    )
    return conn.execute(query).first()


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


def update_file(conn: Connection, file_id: int, **values: Any) -> None:
    conn.execute(update(files).where(files.c.id == file_id), values)


def set_files(conn: Connection, file_ids: Sequence[int], values: Mapping[str, Any]) -> None:
    """Give many files the same values: a first look admits thousands with one decision."""
    for start in range(0, len(file_ids), 500):  # stay under SQLite's bound-parameter limit
        chunk = file_ids[start : start + 500]
        conn.execute(update(files).where(files.c.id.in_(chunk)), dict(values))


def files_by_state(conn: Connection, states: Sequence[str]) -> list[Row[Any]]:
    query = (
        select(files, projects.c.name.label("project"))
        .join(projects, projects.c.id == files.c.project_id)
        .where(files.c.state.in_(states))
        .order_by(files.c.first_seen_at.desc(), files.c.filename)
    )
    return list(conn.execute(query))


def ruled_releases(conn: Connection, rule_actor: str) -> list[Row[Any]]:
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
    return list(conn.execute(query))


def release_files(conn: Connection, project: str, version: str) -> list[Row[Any]]:
    query = (
        select(files, projects.c.name.label("project"))
        .join(projects, projects.c.id == files.c.project_id)
        .where(and_(projects.c.name == project, files.c.version == version))
        .order_by(files.c.filename)
    )
    return list(conn.execute(query))


def state_counts(conn: Connection) -> dict[str, int]:
    query = select(files.c.state, func.count()).group_by(files.c.state)
    return {state: count for state, count in conn.execute(query).all()}


def newest_with_metadata(conn: Connection, project: str) -> Row[Any] | None:
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
    return conn.execute(query).first()


def project_versions(conn: Connection, project: str) -> list[str]:
    """The versions of the files the mirror knows of ``project``."""
    query = (
        select(files.c.version)
        .distinct()
        .join(projects, projects.c.id == files.c.project_id)
        .where(projects.c.name == project)
    )
    return sorted(conn.execute(query).scalars())
