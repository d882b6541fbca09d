"""The bytes of a rendered project page are a contract: TUF signs them, clients and caches
compare them, so a page rendered twice from the same files is the same page (docs/tuf.md,
"What is signed").

``data/pages/`` holds the pages the renderer made for the projects below before it was made
faster; any change to them has to be a deliberate change of the page format.
"""

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mirror.db.records import UNSAVED, FileRecord
from mirror.services import pages
from mirror.simple_api import ACTIVE, ProjectStatus, Status

GOLDEN = Path(__file__).parent / "data" / "pages"
SEEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOSTILE_TEXT = "<script>&amp;\"quoted\" 'single' \\back\x01 caf\u00e9 \U0001f600</script>"


def record(filename: str, version: str, **fields: object) -> FileRecord:
    base = FileRecord(
        id=UNSAVED,
        project_id=UNSAVED,
        filename=filename,
        version=version,
        url=f"https://files.test/{filename}",
        sha256="0123456789abcdef" * 4,
        size=1234,
        upload_time=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
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
        reason="test",
        decided_by="test",
        state_at=SEEN,
        hold_until=None,
        cached=False,
        evidence={},
    )
    return base._replace(**fields)


def varied_files() -> list[FileRecord]:
    """Files that take every branch of an entry: yanked with and without a reason, every
    kind of requires-python, metadata, provenance, sizes and upload times present or not."""
    return [
        record("demo_pkg-0.9.tar.gz", "0.9", size=None, upload_time=None),
        record(
            "demo_pkg-1.0-py3-none-any.whl",
            "1.0",
            requires_python='>=3.8,<4,!=3.9.*;"&"',
            metadata_sha256="fedcba9876543210" * 4,
            provenance_sha256="1" * 64,
            upload_time=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        ),
        record("demo_pkg-1.0.tar.gz", "1.0", yanked=True, yanked_reason=None, size=0),
        record(
            "demo_pkg-1.1rc1-cp312-cp312-manylinux_2_17_x86_64.whl",
            "1.1rc1",
            yanked=True,
            yanked_reason=HOSTILE_TEXT,
            requires_python="",
            metadata_sha256="",
            upload_time=datetime(2024, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
        ),
        record("demo_pkg-1.1rc1.zip", "1.1rc1", yanked=True, yanked_reason=""),
        record("demo_pkg-10.0+local.tar.gz", "10.0+local", requires_python=HOSTILE_TEXT),
        record("demo_pkg-2!1.0.tar.gz", "2!1.0", provenance_sha256="2" * 64, size=2**40),
        record(f"demo_pkg-3.0-{HOSTILE_TEXT}.tar.gz", "not a version"),
    ]


CASES: dict[str, tuple[str, list[FileRecord], ProjectStatus]] = {
    "varied-active": ("demo-pkg", varied_files(), ACTIVE),
    "varied-deprecated": (
        "demo-pkg",
        varied_files(),
        ProjectStatus(Status.DEPRECATED, HOSTILE_TEXT),
    ),
    "empty-quarantined": ("demo-pkg", [], ProjectStatus(Status.QUARANTINED)),
    "one-archived": (
        "demo-pkg",
        varied_files()[1:2],
        ProjectStatus(Status.ARCHIVED, "moved"),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_pages_are_the_golden_bytes(case: str) -> None:
    project, files, status = CASES[case]
    html, data = pages.render(project, files, status)
    assert html == (GOLDEN / f"{case}.html").read_bytes()
    assert data == (GOLDEN / f"{case}.json").read_bytes()
