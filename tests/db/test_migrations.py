"""The Alembic migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from datetime import UTC, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import column, table

from mirror.db import record_rows, targets
from mirror.db.engine import make_engine, migrate
from mirror.db.record_rows import StoredRecord
from mirror.db.schema import files, metadata, projects, tuf_targets


def test_migrations_match_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    migrate(engine)  # idempotent: a second start changes nothing
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_provenance_copies_of_files_already_signed_are_queued(database_url: str) -> None:
    """0009: a pipeline fetches a listed provenance through TUF, also for files signed
    before provenance copies became targets."""
    engine = make_engine(database_url)
    migrate(engine, "0008_queued_path")
    now = datetime(2026, 11, 26, tzinfo=UTC)
    with engine.begin() as conn:
        # Rows as that revision's tables take them: today's queries read newer columns.
        project = projects.insert().values(name="demo", display_name="demo", created_at=now)
        project_id = conn.execute(project).inserted_primary_key[0]
        for filename, state, provenance in [
            ("demo-1.0.tar.gz", "admitted", "a" * 64),  # signed: its copy gets queued
            ("demo-1.1.tar.gz", "admitted", "b" * 64),  # queued: so is its copy
            ("demo-1.2.tar.gz", "admitted", None),  # no verified provenance
            ("demo-2.0.tar.gz", "quarantined", "c" * 64),  # not served
        ]:
            conn.execute(
                files.insert(),
                {
                    "project_id": project_id,
                    "filename": filename,
                    "version": filename.split("-")[1].removesuffix(".tar.gz"),
                    "url": f"https://files.example/{filename}",
                    "sha256": "f" * 64,
                    "provenance_sha256": provenance,
                    "first_seen_at": now,
                    "state": state,
                    "state_at": now,
                },
            )
        conn.execute(
            tuf_targets.insert(),
            {
                "path": "packages/demo/demo-1.0.tar.gz",
                "project": "demo",
                "sha256": "f" * 64,
                "length": 10,
                "published_at": now,
            },
        )
        targets.queue(
            conn,
            [
                {
                    "project": "demo",
                    "op": "add",
                    "path": f"packages/demo/demo-{version}.tar.gz",
                    "length": 10,
                    "sha256": "f" * 64,
                    "queued_at": now,
                }
                for version in ("1.1", "1.2")
            ],
        )
    migrate(engine)
    with engine.connect() as conn:
        queued = {(c.path, c.sha256, c.length) for c in targets.pending(conn, "demo")}
    assert queued - {
        ("packages/demo/demo-1.1.tar.gz", "f" * 64, 10),
        ("packages/demo/demo-1.2.tar.gz", "f" * 64, 10),
    } == {
        ("packages/demo/demo-1.0.tar.gz.provenance", "a" * 64, None),
        ("packages/demo/demo-1.1.tar.gz.provenance", "b" * 64, None),
    }
    engine.dispose()


def test_admission_records_keyed_by_name_keep_the_records_written_before(
    database_url: str,
) -> None:
    """0018: records are found by project and filename, so a file without a files row of its
    own gets one; the records written while they were keyed by the row stay valid."""
    engine = make_engine(database_url)
    migrate(engine, "0017_admission_records")
    now = datetime(2026, 12, 1, tzinfo=UTC)
    keyed_by_row = table(
        "admission_records",
        *(column(name) for name in ("file_id", "project", "filename", "decided_at")),
        *(column(name) for name in ("sha256", "size", "created_at")),
    )
    with engine.begin() as conn:
        project = projects.insert().values(name="demo", display_name="demo", created_at=now)
        project_id = conn.execute(project).inserted_primary_key[0]
        for version in ("1.0", "1.1"):
            filename = f"demo-{version}.tar.gz"
            row = {
                "project_id": project_id,
                "filename": filename,
                "version": version,
                "url": f"https://files.example/{filename}",
                "sha256": "f" * 64,
                "first_seen_at": now,
                "state": "admitted",
                "state_at": now,
            }
            file_id = conn.execute(files.insert(), row).inserted_primary_key[0]
            conn.execute(
                keyed_by_row.insert(),
                {
                    "file_id": file_id,
                    "project": "demo",
                    "filename": filename,
                    "decided_at": now,
                    "sha256": version[-1] * 64,
                    "size": 100,
                    "created_at": now,
                },
            )
    migrate(engine)
    with engine.connect() as conn:
        found = record_rows.file_record(conn, "demo", "demo-1.1.tar.gz")
        kept = record_rows.project_records(conn, "demo")
    assert found == StoredRecord("demo-1.1.tar.gz", now, "1" * 64, 100)
    assert kept == {
        "demo-1.0.tar.gz": StoredRecord("demo-1.0.tar.gz", now, "0" * 64, 100),
        "demo-1.1.tar.gz": found,
    }
    engine.dispose()
