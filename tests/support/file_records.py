"""A file record built in memory, as a first look hands out a file it has not saved: admitted,
with plain upstream fields that a test overrides where it matters."""

from datetime import UTC, datetime, timedelta

from mirror.db.records import UNSAVED, FileRecord

SEEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def file_record(filename: str, **fields: object) -> FileRecord:
    """An admitted, unsaved record of ``filename`` (version from ``fields`` or "1.0")."""
    base = FileRecord(
        id=UNSAVED,
        project_id=UNSAVED,
        filename=filename,
        version="1.0",
        url=f"https://files.test/{filename}",
        sha256="0123456789abcdef" * 4,
        size=1234,
        upload_time=SEEN - timedelta(days=30),
        requires_python=None,
        yanked=False,
        yanked_reason=None,
        upstream_metadata_sha256=None,
        metadata_sha256=None,
        metadata_size=None,
        provenance_url=None,
        provenance_sha256=None,
        first_seen_at=SEEN,
        present_upstream=True,
        state="admitted",
        reason="quarantine of 7d passed",
        decided_by="policy",
        state_at=SEEN,
        hold_until=None,
        cached=False,
        evidence={},
    )
    return base._replace(**fields)
