"""The bytes of a rendered project page are a contract: TUF signs them, clients and caches
compare them, so a page rendered twice from the same files is the same page (docs/tuf.md,
"What is signed").

``data/pages/`` holds the pages the renderer made for the projects below before it was made
faster; any change to them has to be a deliberate change of the page format.
"""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from html import escape
from html.parser import HTMLParser
from json.encoder import encode_basestring_ascii
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, literal, select

from mirror.db.records import FileRecord
from mirror.services import pages
from mirror.simple_api import ACTIVE, ProjectStatus, Status
from tests.support.file_records import file_record

GOLDEN = Path(__file__).parent / "data" / "pages"
SEEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOSTILE_TEXT = "<script>&amp;\"quoted\" 'single' \\back\x01 caf\u00e9 \U0001f600</script>"


def record(filename: str, version: str, **fields: object) -> FileRecord:
    defaults = {"upload_time": datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)}
    fixed = {"reason": "test", "decided_by": "test", "first_seen_at": SEEN, "state_at": SEEN}
    return file_record(filename, version=version, **(defaults | fixed | fields))


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


def test_rows_of_a_query_render_as_records_do() -> None:
    """Callers pass records or the Rows of a query with the same columns: the same page."""
    with create_engine("sqlite://").connect() as conn:
        rows = [
            conn.execute(
                select(*(literal(v).label(n) for n, v in f._asdict().items() if n != "evidence"))
            ).one()
            for f in varied_files()
        ]
    records = [FileRecord(**row._mapping, evidence={}) for row in rows]
    assert pages.render("demo-pkg", rows) == pages.render("demo-pkg", records)


# -- any text a file carries: escaped for each format, read back as it was -------------------

# Lone surrogates are left out: no UTF-8 page can carry them.
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
DIGEST = st.text("0123456789abcdef", min_size=64, max_size=64)


class _Anchors(HTMLParser):
    """The page's anchors as (attributes, text), as a client's HTML parser reads them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append((dict(attrs), ""))
            self._inside = True

    def handle_data(self, data: str) -> None:
        if self._inside:
            attrs, text = self.anchors[-1]
            self.anchors[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        self._inside = self._inside and tag != "a"


def expected_anchor(row: FileRecord) -> dict[str, str | None]:
    url = f"../../packages/demo/{row.filename}"
    attrs: dict[str, str | None] = {"href": f"{url}#sha256={row.sha256}"}
    if row.requires_python:
        attrs["data-requires-python"] = row.requires_python
    if row.yanked:
        attrs["data-yanked"] = row.yanked_reason or ""
    if row.metadata_sha256:
        attrs["data-core-metadata"] = f"sha256={row.metadata_sha256}"
        attrs["data-dist-info-metadata"] = f"sha256={row.metadata_sha256}"
    if row.provenance_sha256:
        attrs["data-provenance"] = f"{url}.provenance"
    return attrs


def expected_entry(row: FileRecord) -> dict[str, object]:
    url = f"../../packages/demo/{row.filename}"
    metadata = {"sha256": row.metadata_sha256} if row.metadata_sha256 else False
    entry: dict[str, object] = {
        "filename": row.filename,
        "url": url,
        "hashes": {"sha256": row.sha256},
        "requires-python": row.requires_python,
        "yanked": (row.yanked_reason or True) if row.yanked else False,
        "core-metadata": metadata,
        "data-dist-info-metadata": metadata,
        "provenance": f"{url}.provenance" if row.provenance_sha256 else None,
    }
    if row.size is not None:
        entry["size"] = row.size
    if row.upload_time is not None:
        entry["upload-time"] = row.upload_time.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return entry


@settings(max_examples=300, deadline=None)
@given(
    filename=TEXT.filter(bool),
    requires_python=st.none() | TEXT,
    yanked=st.booleans(),
    yanked_reason=st.none() | TEXT,
    metadata_sha256=st.none() | st.just("") | DIGEST,
    provenance_sha256=st.none() | DIGEST,
    size=st.none() | st.integers(min_value=0, max_value=2**63),
    upload_time=st.none() | st.datetimes(timezones=st.timezones()),
    status_reason=st.none() | TEXT,
)
def test_any_text_a_file_carries_reads_back_as_it_was(
    filename: str,
    requires_python: str | None,
    yanked: bool,
    yanked_reason: str | None,
    metadata_sha256: str | None,
    provenance_sha256: str | None,
    size: int | None,
    upload_time: datetime | None,
    status_reason: str | None,
) -> None:
    row = record(filename, "1.0")._replace(
        requires_python=requires_python,
        yanked=yanked,
        yanked_reason=yanked_reason,
        metadata_sha256=metadata_sha256,
        provenance_sha256=provenance_sha256,
        size=size,
        upload_time=upload_time,
    )
    status = ProjectStatus(Status.DEPRECATED, status_reason)
    html, data = pages.render("demo", [row, row._replace(filename=f"{filename}2")], status)

    document = json.loads(data)
    # The bytes are json.dumps' canonical form of what they say: as when it wrote them.
    assert data == json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    assert document["files"] == [
        expected_entry(row),
        expected_entry(row._replace(filename=f"{filename}2")),
    ]
    assert document["project-status"] == (
        {"status": "deprecated", "reason": status_reason}
        if status_reason
        else {"status": "deprecated"}
    )

    parser = _Anchors()
    parser.feed(html.decode())
    parser.close()
    assert parser.anchors == [
        (expected_anchor(row), filename),
        (expected_anchor(row._replace(filename=f"{filename}2")), f"{filename}2"),
    ]


# ASCII: often nothing to escape, at times a quote, "&", "<", ">", a backslash or a control.
ASCII_TEXT = st.text(st.characters(max_codepoint=0x7F), min_size=1)


@settings(max_examples=1000)
@given(text=ASCII_TEXT | st.text())
def test_text_needs_no_escaping_exactly_when_neither_format_escapes_it(text: str) -> None:
    unchanged = escape(text) == text and encode_basestring_ascii(text) == f'"{text}"'
    assert pages._needs_no_escaping(text) == unchanged


@settings(max_examples=300, deadline=None)
@given(
    files=st.lists(
        st.tuples(ASCII_TEXT | TEXT.filter(bool), DIGEST | ASCII_TEXT, st.none() | DIGEST),
        max_size=4,
        unique_by=lambda f: f[0],
    )
)
def test_a_page_with_nothing_to_escape_is_written_as_escaped_per_file(
    files: list[tuple[str, str, str | None]],
) -> None:
    """Filenames and digests are written as they are when no file's needs escaping: the
    same bytes as when each is escaped."""
    rows = [
        record(name, "1.0", sha256=digest, metadata_sha256=metadata)
        for name, digest, metadata in files
    ]
    plain = pages.render("demo", rows)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pages, "_escape_nothing", lambda shown: False)
        assert plain == pages.render("demo", rows)


def test_a_page_is_the_same_bytes_in_every_process() -> None:
    """Versions that are equal as versions ("1.0", "1.0.0") keep one order, whatever order the
    strings hash in: so every process renders the same page, and TUF signs it once."""
    script = (
        "import hashlib\n"
        "from mirror.services import pages\n"
        "from tests.support.file_records import file_record\n"
        "versions = ['1', '1.0', '1.0.0', '1.0.0.0', '1.0.0.0.0', '1.0.0.0.0.0']\n"
        "rows = [file_record(f'demo-{v}.tar.gz', version=v) for v in versions]\n"
        "print(hashlib.sha256(b''.join(pages.render('demo', rows))).hexdigest())\n"
    )
    root = Path(__file__).parents[2]
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(4)
    }
    assert len(digests) == 1
