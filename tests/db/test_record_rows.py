"""The admission records table: a batch of records stored in one statement."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from mirror.db import record_rows
from mirror.db.engine import writing
from mirror.db.record_rows import StoredRecord

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def record(filename: str, digit: str, decided_at: datetime = NOW) -> StoredRecord:
    return StoredRecord(filename, decided_at, digit * 64, 100)


def test_a_batch_of_records_adds_new_files_and_replaces_earlier_records(engine: Engine) -> None:
    earlier = record("demo-1.0.tar.gz", "a", NOW - timedelta(days=1))
    with writing(engine) as conn:
        record_rows.put_records(conn, "demo", [earlier], NOW - timedelta(days=1))
        record_rows.put_records(conn, "demo", [], NOW)  # nothing to store
    batch = [record("demo-1.0.tar.gz", "b"), record("demo-1.0-py3-none-any.whl", "c")]
    with writing(engine) as conn:
        record_rows.put_records(conn, "demo", batch, NOW)
    with engine.connect() as conn:
        stored = record_rows.project_records(conn, "demo")
    assert stored == {r.filename: r for r in batch}
