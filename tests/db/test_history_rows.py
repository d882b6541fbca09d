"""History listings on both backends: what a listing stores reads back as the records it was
made of, whatever upstream put in their fields, and a listing's files get rows one by one."""

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete

from mirror.codings import unpacked
from mirror.db import file_rows, history_rows, project_rows
from mirror.db.engine import make_engine, migrate, writing
from mirror.db.records import UNSAVED, FileRecord
from mirror.db.schema import files, histories, history_entries, projects
from tests.support.file_records import file_record

NOW = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
EVIDENCE = {"first_look": True}

_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
_hex = st.text("0123456789abcdef", min_size=64, max_size=64)


def history_record(index: int, **upstream: object) -> FileRecord:
    """A history file as a first look decides it, with what upstream said in ``upstream``."""
    plain: dict[str, object] = {
        "filename": f"demo-{index}-py3-none-any.whl",
        "version": "1",
        "sha256": f"{index:064x}",
        "size": 10,
        "upload_time": NOW - timedelta(days=30),
    }
    fields = plain | upstream
    return file_record(
        upstream_metadata_sha256=fields.get("metadata_sha256"),
        first_seen_at=NOW,
        state_at=NOW,
        evidence=EVIDENCE,
        **fields,  # type: ignore[arg-type]
    )


@st.composite
def hostile_record(draw: st.DrawFn, index: int) -> FileRecord:
    """A history file whose upstream fields hold whatever a hostile page may put there."""
    yanked = draw(st.booleans())
    seconds = draw(st.integers(0, 10**9))
    return history_record(
        index,
        filename=f"demo-{index}.{draw(_text)}-py3-none-any.whl",
        version=draw(_text),
        url=draw(_text),
        sha256=draw(_hex),
        size=draw(st.none() | st.integers(0, 2**62)),
        upload_time=datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=7),
        requires_python=draw(st.none() | _text),
        yanked=yanked,
        yanked_reason=draw(st.none() | _text) if yanked else None,
        metadata_sha256=draw(st.none() | _hex),
        provenance_url=draw(st.none() | _text),
    )


@st.composite
def history(draw: st.DrawFn) -> list[FileRecord]:
    count = draw(st.integers(1, 12))
    return [draw(hostile_record(index)) for index in range(count)]


def _recorded(engine: Engine, records: list[FileRecord]) -> int:
    with writing(engine) as conn:
        conn.execute(delete(files))
        conn.execute(delete(history_entries))
        conn.execute(delete(histories))
        conn.execute(delete(projects))
        project_id = project_rows.create_project(conn, "demo", NOW).id
        decided = records[0].reason, records[0].decided_by
        listing = history_rows.Listing.of(records, *decided, NOW)
        history_rows.record_listing(conn, project_id, listing)
    return int(project_id)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=history())
def test_a_listing_reads_back_as_the_records_it_was_made_of(
    engine: Engine, records: list[FileRecord]
) -> None:
    project_id = _recorded(engine, records)
    with engine.connect() as conn:
        read = file_rows.project_files(conn, project_id)
    expected = sorted(
        (r._replace(project_id=project_id) for r in records), key=lambda r: r.filename
    )
    assert read == expected


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=history(), first=st.integers(0, 11))
def test_one_file_of_a_listing_reads_as_in_all_of_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, records: list[FileRecord], first: int
) -> None:
    """A lookup builds the one record asked for: the same as the listing's records give,
    before they were all built (a download's lookup in a new process) and after."""
    project_id = _recorded(engine, records)
    monkeypatch.setattr(history_rows, "_CACHE", history_rows._Decoded(100))
    asked = records[first % len(records)].filename
    with engine.connect() as conn:
        alone = history_rows.history_file(conn, "demo", asked)
        assert history_rows.history_file(conn, "demo", "demo-none.whl") is None
        every = history_rows.history_files(conn, project_id)
        assert alone == every[asked]
        for filename, record in every.items():
            assert history_rows.history_file(conn, "demo", filename) == record
        assert history_rows.history_file(conn, "demo", "demo-none.whl") is None


def test_a_history_file_gets_its_own_row_once_and_it_stands_for_it(engine: Engine) -> None:
    records = [history_record(i) for i in range(3)]
    project_id = _recorded(engine, records)
    with writing(engine) as conn:
        first = file_rows.project_files(conn, project_id)[0]
        file_id = file_rows.update_file(conn, first, cached=True)
        # Read before that row existed, changed again: the same row.
        assert file_rows.update_file(conn, first, yanked=True) == file_id
    with engine.connect() as conn:
        read = file_rows.project_files(conn, project_id)
        assert [r.id for r in read] == [file_id, UNSAVED, UNSAVED]
        assert read[0].cached and read[0].yanked and read[0].state == "admitted"
        assert read[0].state_at == NOW  # its decision, and its admission record, stand
        assert file_rows.state_counts(conn) == {"admitted": 3}
        assert [r.filename for r in file_rows.release_files(conn, "demo", "1")] == [
            r.filename for r in read
        ]


def _bytes_read() -> int:
    """Bytes this process has read through system calls (SQLite reads its pages so)."""
    io = Path("/proc/self/io").read_text()
    return int(next(line for line in io.splitlines() if line.startswith("rchar:")).split()[1])


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/self/io")
def test_counts_versions_and_new_rows_leave_a_listings_entries_unread(tmp_path: Path) -> None:
    """A listing's thousands of entries are read only to decode it: counting history files
    (/metrics), listing their versions (rules) and giving one file its row (a download) read
    the listing's head, whatever the size of the project."""
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    migrate(make_engine(url))
    digests = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(3000)]
    records = [history_record(i, sha256=digest) for i, digest in enumerate(digests)]
    project_id = _recorded(make_engine(url), records)
    listing = len(history_rows.Listing.of(records, "aged", "policy", NOW).values["entries"])
    record = records[0]._replace(project_id=project_id)
    for name, work in [
        ("state_counts", lambda conn: file_rows.state_counts(conn)),
        ("listed_versions", lambda conn: history_rows.listed_versions(conn)),
        ("update_file", lambda conn: file_rows.update_file(conn, record, cached=True)),
    ]:
        engine = make_engine(url)  # a new connection: nothing in SQLite's page cache
        with writing(engine) as conn:
            before = _bytes_read()
            work(conn)
            read = _bytes_read() - before
        engine.dispose()
        assert read < listing / 4, f"{name} read {read} bytes; the listing has {listing}"


def varied_history() -> list[FileRecord]:
    """History files that take every kind of field: hostile text, no size, microseconds."""
    hostile = "<b>&\"q\" 'x' \\ caf\u00e9 \U0001f600 \x01"
    return [
        history_record(0),
        history_record(1, size=None, requires_python=">=3.8", metadata_sha256="ab" * 32),
        history_record(2, yanked=True, yanked_reason=hostile, version=hostile),
        history_record(
            3,
            filename=f"demo-3.{hostile}-py3-none-any.whl",
            url=hostile,
            provenance_url=hostile,
            upload_time=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        ),
    ]


def general_body(records: list[FileRecord]) -> bytes:
    """A listing's canonical JSON, as ``json.dumps`` writes its columns."""
    columns = {name: [getattr(r, name) for r in records] for name in history_rows._COLUMNS}
    columns["upload_time"] = [r.upload_time.isoformat() for r in records]  # type: ignore[union-attr]
    return json.dumps(columns, separators=(",", ":"), ensure_ascii=False).encode()


def test_a_listing_is_named_by_the_digest_it_always_had() -> None:
    """Its sha256 is in the audit log: the same files make the same listing."""
    listing = history_rows.Listing.of(varied_history(), "old enough", "policy", NOW)
    assert listing.values["sha256"] == (
        "f09315677a1c8bde1933f68dfbcd34cca603926c686ae2c33f22fa9b88415fb6"
    )
    assert unpacked(listing.values["entries"]) == general_body(varied_history())


@settings(max_examples=200, deadline=None)
@given(records=history())
def test_a_listing_holds_the_columns_json_writes(records: list[FileRecord]) -> None:
    listing = history_rows.Listing.of(records, "old enough", "policy", NOW)
    body = general_body(records)
    assert unpacked(listing.values["entries"]) == body
    assert listing.values["sha256"] == hashlib.sha256(body).hexdigest()


# Mostly text the encoder leaves as it is, at times a quote, a backslash or a control.
_column_text = st.text(
    st.characters(max_codepoint=0x7F) | st.sampled_from("\u00e9\u2028\U0001f600")
)


@settings(max_examples=500)
@given(values=st.lists(_column_text) | st.lists(st.none() | _column_text | st.integers()))
def test_a_column_is_written_as_json_dumps_writes_it(values: list[object]) -> None:
    expected = json.dumps(values, separators=(",", ":"), ensure_ascii=False)
    assert history_rows._column(values) == expected
