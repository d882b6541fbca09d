"""Bulk inserts store exactly what SQLAlchemy's own executemany stores, on both backends."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Dialect, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from mirror.db.bulk import insert_many, prepare, run
from mirror.db.engine import make_engine, migrate, writing
from mirror.db.schema import files, projects

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _file(filename: str, **values: object) -> dict[str, object]:
    row: dict[str, object] = {
        "project_id": 1,
        "filename": filename,
        "version": "1.0",
        "url": f"https://files.example/{filename}",
        "sha256": "a" * 64,
        "size": 12,
        "upload_time": NOW - timedelta(days=3),
        "requires_python": ">=3.9",
        "yanked": False,
        "yanked_reason": None,
        "upstream_metadata_sha256": None,
        "metadata_sha256": "b" * 64,
        "provenance_url": None,
        "first_seen_at": NOW,
        "present_upstream": True,
        "state": "pending",
        "reason": "new upstream file",
        "decided_by": "upstream",
        "state_at": NOW,
        "hold_until": None,
        "cached": False,
        "evidence": {"first_look": True},
    }
    return row | values


def test_rows_read_back_as_sqlalchemy_inserted_them(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    other_zone = timezone(timedelta(hours=-5))
    variants = [
        {},
        {"upload_time": None, "size": None, "evidence": {}},
        {"yanked": True, "yanked_reason": "broken", "hold_until": NOW.astimezone(other_zone)},
        {"evidence": {"provenance": {"status": "absent", "attestations": []}}},
    ]
    with writing(engine) as conn:
        conn.execute(insert(projects).values(name="demo", display_name="demo", created_at=NOW))
        conn.execute(
            insert(files), [_file(f"core-{i}.tar.gz", **v) for i, v in enumerate(variants)]
        )
        insert_many(conn, files, [_file(f"bulk-{i}.tar.gz", **v) for i, v in enumerate(variants)])
    with engine.connect() as conn:
        stored = {row.filename: row._asdict() for row in conn.execute(select(files))}
    for i in range(len(variants)):
        core, bulk = stored[f"core-{i}.tar.gz"], stored[f"bulk-{i}.tar.gz"]
        differing = {key for key in core if core[key] != bulk[key]}
        assert differing == {"id", "filename", "url"}


def _renamed(row: dict[str, object], old: str, new: str) -> dict[str, object]:
    return {new if key == old else key: value for key, value in row.items()}


@pytest.mark.parametrize(
    "second",
    [
        _file("a-2.tar.gz") | {"extra": 1},  # one key more
        _renamed(_file("a-2.tar.gz"), "cached", "extra"),  # as many keys, one of them another
    ],
)
def test_rows_must_name_the_same_columns(database_url: str, second: dict[str, object]) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    with writing(engine) as conn, pytest.raises(ValueError, match="different columns"):
        insert_many(conn, files, [_file("a-1.tar.gz"), second])


def test_nothing_to_insert_is_no_statement(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    with writing(engine) as conn:
        insert_many(conn, files, [])


def test_an_insert_built_ahead_takes_its_constant_columns_when_it_runs(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    rows = [_file(f"c-{i}.tar.gz") for i in range(3)]
    columns = {key: [row[key] for row in rows] for key in rows[0] if key != "project_id"}
    prepared = prepare(engine.dialect, files, columns, constants=("project_id",))
    with writing(engine) as conn:
        project = conn.execute(
            insert(projects).values(name="c", display_name="c", created_at=NOW)
        ).inserted_primary_key[0]
        with pytest.raises(ValueError, match="constant columns"):
            run(conn, prepared)  # the project id is not known yet
        run(conn, prepared, project_id=project)
        stored = conn.execute(select(files.c.filename, files.c.project_id)).all()
    assert sorted(stored) == [(f"c-{i}.tar.gz", project) for i in range(3)]


@pytest.mark.parametrize(
    "dialect", [sqlite.dialect(), postgresql.dialect()], ids=["qmark", "pyformat"]
)
def test_an_insert_built_again_is_the_statement_sqlalchemy_compiles(dialect: Dialect) -> None:
    """The statement is compiled once per dialect, table and columns: every later insert of
    the same columns, in any order, has its values in the order its statement names them."""
    rows = [_file("a.tar.gz"), _file("b.tar.gz", size=None)]
    names = [name for name in rows[0] if name != "project_id"]
    for keys in (names, names[::-1], names):
        values = {key: [row[key] for row in rows] for key in keys}
        built = prepare(dialect, files, values, constants=("project_id",))
        compiled = insert(files).compile(dialect=dialect, column_keys=["project_id", *keys])
        assert built.statement == compiled.string
        if compiled.positional:
            order = list(compiled.positiontup or [])
            assert built.constants == ((order.index("project_id"), "project_id"),)
            filename = [name for name in order if name != "project_id"].index("filename")
            assert [row[filename] for row in built.rows] == ["a.tar.gz", "b.tar.gz"]
        else:
            assert [row["filename"] for row in built.rows] == ["a.tar.gz", "b.tar.gz"]
