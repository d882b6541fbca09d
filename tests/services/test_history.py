"""A project's history as one record (docs/admission.md, "History"): the files a first look
admits because they are already older than the quarantine are one listing, not a row each;
a file gets its own row when something happens to it, and everything that decides or shows
files sees history files exactly as it sees the others."""

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from mirror.codings import unpacked
from mirror.db import event_rows, file_rows, project_rows
from mirror.db.records import FileRecord
from mirror.db.schema import files, histories, history_entries
from mirror.db.targets import published_target
from mirror.policy.admission import POLICY, RULE, Decision, State
from mirror.policy.verdicts import FIRST_LOOK, HISTORY_EVIDENCE
from mirror.services import advisories, first_look, publish, refusal, review, state_changes, sync
from mirror.services.backends import Backends
from mirror.services.files import core_metadata
from tests.support.fake_upstream import FakeUpstream
from tests.support.file_records import file_record
from tests.support.lookahead import run_lookahead
from tests.support.osv import malicious, write_json

OLD = datetime.now(UTC) - timedelta(days=30)
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
OLD_FILES = [f"demo-{v}-py3-none-any.whl" for v in ("1.0", "1.1", "1.2")]


def publish_history(fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    for days, version in enumerate(("1.2", "1.1", "1.0")):
        uploaded = OLD - timedelta(days=days)
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path, upload_time=uploaded)
    fake_upstream.publish_release("demo", "2.0", tmpdir=tmp_path, upload_time="now")


def own_rows(backends: Backends) -> dict[str, str]:
    """The files that have a row of their own, with their states."""
    with backends.engine.connect() as conn:
        return dict(conn.execute(select(files.c.filename, files.c.state)).all())


def project_files(backends: Backends) -> dict[str, tuple[str, str]]:
    with backends.engine.connect() as conn:
        row = project_rows.get_project(conn, "demo")
        assert row is not None
        return {r.filename: (r.state, r.reason) for r in file_rows.project_files(conn, row.id)}


def served(client: FlaskClient) -> list[str]:
    """The project's page after the next publish (pages show what is signed)."""
    publish.publish_now(client.application.extensions["mirror"])
    response = client.get("/simple/demo/", headers=JSON)
    assert response.status_code == 200, response.data
    return sorted(f["filename"] for f in json.loads(response.data)["files"])


def test_a_first_look_records_history_as_one_listing_and_one_event(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    publish_history(fake_upstream, tmp_path)
    sync.refresh(backends, "demo", inspect=False)
    # Only the young file, held, has a row; the three old ones are the listing.
    assert own_rows(backends) == {"demo-2.0-py3-none-any.whl": State.QUARANTINED}
    with backends.engine.connect() as conn:
        listing = conn.execute(select(histories)).one()
        entries = conn.execute(select(history_entries.c.entries)).scalar_one()
        events = event_rows.project_events(conn, "demo")
    assert listing.count == 3 and listing.materialized == 0
    assert hashlib.sha256(unpacked(entries)).hexdigest() == listing.sha256
    assert listing.versions == ["1.0", "1.1", "1.2"]
    decided = project_files(backends)
    assert sorted(decided) == [*OLD_FILES, "demo-2.0-py3-none-any.whl"]
    assert {decided[name] for name in OLD_FILES} == {(State.ADMITTED, "quarantine of 7d passed")}
    history_event = events[-1]
    assert (history_event.filename, history_event.to_state) == (None, State.ADMITTED)
    assert history_event.reason == (
        f"3 files admitted as history at the first look (listing sha256 {listing.sha256}): "
        "quarantine of 7d passed"
    )
    assert len(events) == 2  # and the young file's hold


def test_history_files_are_served_and_a_download_gives_one_its_row(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    publish_history(fake_upstream, tmp_path)
    assert served(client) == OLD_FILES
    assert run_lookahead(backends)  # the scheduler's process reads ahead from the first look
    response = client.get(f"/packages/demo/{OLD_FILES[0]}")
    assert response.status_code == 200
    assert response.data == fake_upstream.get_file("demo", OLD_FILES[0]).content
    rows = own_rows(backends)
    assert rows[OLD_FILES[0]] == State.ADMITTED and OLD_FILES[1] not in rows
    # And the newest release, whose metadata the read-ahead stored (docs/performance.md).
    assert rows[OLD_FILES[2]] == State.ADMITTED
    with backends.engine.connect() as conn:
        assert conn.execute(select(histories.c.materialized)).scalar_one() == 2
        assert file_rows.state_counts(conn)[State.ADMITTED] == 3
    # The row stands for the file from now on; the page is the same.
    assert served(client) == OLD_FILES
    assert project_files(backends)[OLD_FILES[0]][0] == State.ADMITTED


def test_a_block_moves_history_files_and_lifting_it_admits_them_again(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    publish_history(fake_upstream, tmp_path)
    assert served(client) == OLD_FILES
    review.block(backends, "demo", "==1.1", actor="alice", reason="stole credentials")
    assert served(client) == [OLD_FILES[0], OLD_FILES[2]]
    assert client.get(f"/packages/demo/{OLD_FILES[1]}").status_code == 404
    assert own_rows(backends)[OLD_FILES[1]] == State.BLOCKED
    assert OLD_FILES[0] not in own_rows(backends)
    with backends.engine.connect() as conn:
        release = file_rows.release_files(conn, "demo", "1.1")
        assert [(r.filename, r.state) for r in release] == [(OLD_FILES[1], State.BLOCKED)]
        assert [r.project for r in file_rows.release_files(conn, "demo", "1.0")] == ["demo"]
    review.unblock(backends, "demo", "==1.1", actor="alice", reason="a false alarm")
    assert served(client) == OLD_FILES


def test_a_deny_rule_reaches_history_files(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    publish_history(fake_upstream, tmp_path)
    sync.refresh(make_backends(), "demo", inspect=False)
    backends = make_backends(policy={"deny": ["demo==1.0"]})
    with backends.engine.connect() as conn:
        releases = {(r.project, r.version, r.blocked) for r in file_rows.ruled_releases(conn, RULE)}
    assert {("demo", v, False) for v in ("1.0", "1.1", "1.2")} <= releases
    assert refusal.apply_rules(backends) == ["demo"]
    decided = project_files(backends)
    assert decided[OLD_FILES[0]][0] == State.BLOCKED
    assert decided[OLD_FILES[1]][0] == State.ADMITTED
    with backends.engine.connect() as conn:
        assert file_rows.project_versions(conn, "demo") == ["1.0", "1.1", "1.2", "2.0"]


def test_an_advisory_blocks_a_history_release(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    publish_history(fake_upstream, tmp_path)
    assert served(client) == OLD_FILES
    path = write_json(
        tmp_path / "MAL-2026-9.json", malicious("MAL-2026-9", "demo", versions=["1.2"])
    )
    report = advisories.import_path(backends, path)
    assert report.changed_files == [OLD_FILES[2]]
    assert served(client) == OLD_FILES[:2]
    assert client.get(f"/packages/demo/{OLD_FILES[2]}").status_code == 404


def test_upstream_changes_to_history_files_are_seen(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    publish_history(fake_upstream, tmp_path)
    sync.refresh(backends, "demo", inspect=False)
    fake_upstream.remove_file("demo", OLD_FILES[1])
    fake_upstream.yank("demo", OLD_FILES[2], "broken")
    sync.refresh(backends, "demo", force=True)
    decided = project_files(backends)
    assert decided[OLD_FILES[1]][0] == State.WITHDRAWN
    assert decided[OLD_FILES[0]] == (State.ADMITTED, "quarantine of 7d passed")
    rows = own_rows(backends)
    assert rows[OLD_FILES[1]] == State.WITHDRAWN and rows[OLD_FILES[2]] == State.ADMITTED
    assert OLD_FILES[0] not in rows
    with backends.engine.connect() as conn:
        row = file_rows.file_by_name(conn, "demo", OLD_FILES[2])
        assert row is not None and row.yanked and row.yanked_reason == "broken"


def test_a_history_files_metadata_is_signed_once_stored_never_fetched_to_sign_it(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    """Signing a `.metadata` needs its length, which only its bytes give: fetching the
    metadata of every history file to sign it would give each a row and cost an upstream
    request per file (docs/tuf.md, "What is signed")."""
    publish_history(fake_upstream, tmp_path)
    sync.refresh(backends, "demo", inspect=False)
    publish.publish_pending(backends)  # the scheduler's batch, which fetches what it signs
    metadata_of = {name: f"packages/demo/{name}.metadata" for name in OLD_FILES}
    assert not [path for path in fake_upstream.requests if path.endswith(".metadata")]
    assert own_rows(backends) == {"demo-2.0-py3-none-any.whl": State.QUARANTINED}
    with backends.engine.connect() as conn:
        assert all(published_target(conn, path) is None for path in metadata_of.values())
    # A client's fetch stores the bytes: the next batch signs them, with their length.
    stored = core_metadata(backends, refusal.servable_file(backends, "demo", OLD_FILES[0]))
    publish.publish_pending(backends)
    with backends.engine.connect() as conn:
        signed = published_target(conn, metadata_of[OLD_FILES[0]])
        assert signed is not None and (signed.sha256, signed.length) == (stored.sha256, stored.size)
        assert published_target(conn, metadata_of[OLD_FILES[1]]) is None


NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SPLIT_DECISIONS = [
    Decision(State.ADMITTED, "quarantine of 7d passed", POLICY),
    Decision(State.ADMITTED, "quarantine of 7d passed", POLICY),  # equal, not the same object
    Decision(State.ADMITTED, "quarantine of 7d passed (first sight)", POLICY),
    Decision(State.ADMITTED, "approved", "admin:a"),
    Decision(State.QUARANTINED, "younger than the quarantine of 7d", POLICY, NOW + timedelta(1)),
    Decision(State.BLOCKED, "blocked: incident", "admin:a"),
]
# Plain history, or one fact a listing does not keep.
SPLIT_RECORDS = st.sampled_from(
    [
        {},
        {"evidence": {FIRST_LOOK: True, "provenance": {"status": "absent"}}},
        {"upload_time": None},
        {"metadata_sha256": "ab" * 32},
        {"provenance_sha256": "cd" * 32},
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    facts=st.lists(SPLIT_RECORDS, max_size=10),
    decisions=st.lists(st.one_of(st.none(), st.sampled_from(SPLIT_DECISIONS)), max_size=10),
)
def test_a_first_looks_split_into_history_and_rows_is_the_one_by_filename(
    facts: list[dict[str, Any]], decisions: list[Decision | None]
) -> None:
    """The history, the other files' moves and their records, made from the moves in one
    pass, are those picked file by file by name (files without a move included)."""
    new = [
        file_record(
            f"demo-{index}.tar.gz", state=State.PENDING, evidence=HISTORY_EVIDENCE
        )._replace(**fields)
        for index, fields in enumerate(facts)
    ]
    moves = [(row, d) for row, d in zip(new, decisions, strict=False) if d is not None]
    moved = {row.filename: d for row, d in moves}
    groups: dict[tuple[str, str], list[FileRecord]] = {}
    for row in new:
        d = moved.get(row.filename)
        if d is None:
            continue
        if d.state == State.ADMITTED and d.decided_by == POLICY and first_look._plain(row):
            groups.setdefault((d.reason, d.decided_by), []).append(row)
    kept = max(groups.values(), key=len) if groups else []
    listed = {row.filename for row in kept}
    settled = [
        row._replace(**state_changes.decided(moved[row.filename], NOW))
        if row.filename in moved
        else row
        for row in new
        if row.filename not in listed
    ]
    history, own, records = first_look._split(new, moves, NOW)
    assert (history.files if history is not None else []) == kept
    if history is not None:
        assert history.decision == moved[kept[0].filename]
    assert own == [move for move in moves if move[0].filename not in listed]
    assert records == settled
