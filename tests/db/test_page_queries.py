"""What the scheduler's watch and the metrics ask about pages, asked through indexes: they ask
every half second and on every scrape, of a table with a row per project."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from mirror.db import page_rows
from mirror.db.engine import make_engine, migrate, writing
from mirror.db.schema import pages
from tests.support.query_plans import query_plans

NOW = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def _page(n: int) -> dict[str, object]:
    digest = f"{n:064x}"
    return {
        "project": f"p{n:03d}",
        "html_sha256": digest,
        "html_size": 1,
        "json_sha256": digest,
        "json_size": 1,
        "files": 1,
        "rendered_at": NOW,
        "stale_since": None,
        "targets_deferred_since": None,
    }


def test_waiting_pages_are_found_through_their_indexes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    rows = [_page(n) for n in range(200)]
    rows[7] |= {"stale_since": NOW - timedelta(minutes=2)}
    rows[9] |= {"stale_since": NOW - timedelta(minutes=3)}
    rows[3] |= {"targets_deferred_since": NOW - timedelta(minutes=1)}
    rows[5] |= {"records_due_since": NOW - timedelta(minutes=4)}
    with writing(engine) as conn:
        conn.execute(insert(pages), rows)
    with query_plans(engine) as plans, engine.connect() as conn:
        assert page_rows.newest_page_change(conn) == NOW - timedelta(minutes=1)
        assert page_rows.stale_pages(conn) == ["p009", "p007"]
        assert page_rows.deferred_pages(conn) == ["p003"]
    newest, stale, deferred = plans
    assert "SEARCH pages USING COVERING INDEX ix_pages_stale" in newest
    assert "SEARCH pages USING COVERING INDEX ix_pages_deferred" in newest
    assert "SEARCH pages USING COVERING INDEX ix_pages_records_due" in newest
    assert stale.startswith("SEARCH pages USING INDEX ix_pages_stale")
    assert deferred.startswith("SEARCH pages USING INDEX ix_pages_deferred")
    assert not any("SCAN pages" in plan for plan in plans)
    engine.dispose()
