"""Admission through the fake upstream: what a project page shows, and when."""

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from mirror.db import event_rows, file_rows, page_rows, project_rows
from mirror.db.engine import writing
from mirror.db.records import UNSAVED, FileRecord
from mirror.db.schema import projects
from mirror.policy.admission import State
from mirror.scheduler import run_cycle
from mirror.services import evidence, fetching, pages, review, sync
from mirror.services.backends import Backends
from mirror.timeutil import Clock
from mirror.upstream import listing
from tests.support.fake_upstream import FakeUpstream

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
OLD = datetime.now(UTC) - timedelta(days=30)


def page(client: FlaskClient, project: str) -> dict:  # type: ignore[type-arg]
    response = client.get(f"/simple/{project}/", headers=JSON)
    assert response.status_code == 200, response.data
    return json.loads(response.data)


def filenames(client: FlaskClient, project: str) -> list[str]:
    return [f["filename"] for f in page(client, project)["files"]]


def file_row(backends: Backends, filename: str):  # type: ignore[no-untyped-def]
    with backends.engine.connect() as conn:
        return file_rows.file_by_name(conn, filename.split("-")[0], filename)


def test_first_request_shows_old_files_and_hides_young_ones(
    client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    fake_upstream.publish_release(
        "demo", "2.0", tmpdir=tmp_path, upload_time=datetime.now(UTC) - timedelta(hours=3)
    )
    document = page(client, "demo")
    assert [f["filename"] for f in document["files"]] == ["demo-1.0-py3-none-any.whl"]
    assert document["versions"] == ["1.0"]
    entry = document["files"][0]
    assert entry["url"] == "../../packages/demo/demo-1.0-py3-none-any.whl"
    assert entry["upload-time"].endswith("Z")
    metadata = fake_upstream.get_file("demo", "demo-1.0-py3-none-any.whl").metadata
    assert entry["core-metadata"] == {"sha256": hashlib.sha256(metadata).hexdigest()}
    response = client.get("/packages/demo/demo-2.0-py3-none-any.whl")
    assert response.status_code == 404
    assert b"held until " in response.data
    assert b" because younger than the quarantine of 7d" in response.data


def test_scheduler_admits_once_the_delay_has_passed(
    make_backends,
    fake_upstream: FakeUpstream,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from mirror.app import create_app

    # A long TTL: the cycle must admit without re-reading upstream.
    backends = make_backends(upstream={"ttl": "30d"})
    client = create_app(backends.config, backends).test_client()
    fake_upstream.publish_release(
        "demo", "1.0", tmpdir=tmp_path, upload_time=datetime.now(UTC) - timedelta(days=6)
    )
    assert filenames(client, "demo") == []
    backends.clock = Clock(timedelta(days=1, minutes=1))
    report = run_cycle(backends)
    assert (report.evaluated, report.refreshed) == (["demo"], [])
    assert filenames(client, "demo") == ["demo-1.0-py3-none-any.whl"]
    assert file_row(backends, "demo-1.0-py3-none-any.whl").decided_by == "policy"


def test_a_project_synced_ahead_of_its_first_client_is_warm_for_it(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    report = run_cycle(backends, ["demo"])  # `mirror sync demo` before a pipeline's first run
    assert report.failed == {} and report.tuf is not None and report.tuf.publish.published > 2
    assert filenames(client, "demo") == ["demo-1.0-py3-none-any.whl"]
    assert fake_upstream.hits("/simple/demo/") == 1  # the client's request read nothing


def test_the_same_upstream_bytes_are_not_parsed_again(
    backends: Backends,
    client: FlaskClient,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refresh_without_validators() -> None:
        with writing(backends.engine) as conn:
            # As if upstream sent no ETag or Last-Modified: a refresh gets the page in full.
            conn.execute(update(projects).values(etag=None, last_modified=None))
        assert run_cycle(backends, ["demo"]).failed == {}

    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    filenames(client, "demo")
    parsed: list[str] = []
    parse = fetching.parse_page
    monkeypatch.setattr(
        fetching, "parse_page", lambda name, *a: parsed.append(name) or parse(name, *a)
    )
    refresh_without_validators()
    assert fake_upstream.hits("/simple/demo/") == 2 and parsed == []
    fake_upstream.yank("demo", "demo-1.0-py3-none-any.whl")
    refresh_without_validators()
    assert parsed == ["demo"] and file_row(backends, "demo-1.0-py3-none-any.whl").yanked
    # A mirror whose parsing changed reads the same bytes again.
    monkeypatch.setattr(listing, "PARSER_VERSION", listing.PARSER_VERSION + 1)
    refresh_without_validators()
    assert parsed == ["demo", "demo"]


def test_age_is_judged_per_file_not_per_release(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    assert filenames(client, "demo") == ["demo-1.0-py3-none-any.whl"]
    sdist = tmp_path / "demo-1.0.tar.gz"
    sdist.write_bytes(b"fresh file added to an old release")
    fake_upstream.add_file("demo", sdist, upload_time="now")
    run_cycle(backends, ["demo"])
    assert filenames(client, "demo") == ["demo-1.0-py3-none-any.whl"]
    assert file_row(backends, "demo-1.0.tar.gz").state == State.QUARANTINED


def test_file_from_the_past_is_held_for_review(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    filenames(client, "demo")
    fake_upstream.publish_release(
        "demo", "0.9", tmpdir=tmp_path, upload_time=datetime.now(UTC) - timedelta(days=60)
    )
    run_cycle(backends, ["demo"])
    row = file_row(backends, "demo-0.9-py3-none-any.whl")
    assert (row.state, row.hold_until) == (State.QUARANTINED, None)
    assert "before the mirror's previous look" in row.reason
    assert filenames(client, "demo") == ["demo-1.0-py3-none-any.whl"]


def test_upload_time_rewritten_upstream_is_an_anomaly(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release(
        "demo", "1.0", tmpdir=tmp_path, upload_time=datetime.now(UTC) - timedelta(days=2)
    )
    filenames(client, "demo")
    fake_upstream.set_upload_time("demo", "demo-1.0-py3-none-any.whl", OLD)
    run_cycle(backends, ["demo"])
    row = file_row(backends, "demo-1.0-py3-none-any.whl")
    assert row.state == State.QUARANTINED and row.hold_until is None
    assert "upload time changed" in row.reason


@pytest.mark.parametrize("html_only", [False, True], ids=["json", "html"])
def test_relative_file_urls_resolve_against_the_page(
    make_backends, tmp_path: Path, html_only: bool
) -> None:
    with FakeUpstream(relative_urls=True, html_only=html_only) as upstream:
        upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
        backends = make_backends(upstream={"url": upstream.simple_url})
        sync.refresh(backends, "demo", force=True)
        row = file_row(backends, "demo-1.0-py3-none-any.whl")
        assert row.url == upstream.file_url("demo", "demo-1.0-py3-none-any.whl")


def test_missing_upload_time_fails_closed(
    client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path, backends: Backends
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time="absent")
    assert filenames(client, "demo") == []
    row = file_row(backends, "demo-1.0-py3-none-any.whl")
    assert "no upload time" in row.reason


def test_vanished_files_are_withdrawn_but_a_pulled_project_stays(
    backends: Backends,
    client: FlaskClient,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    fake_upstream.publish_release("demo", "1.1", tmpdir=tmp_path, upload_time=OLD)
    fake_upstream.publish_release("demo", "2.0", tmpdir=tmp_path, upload_time="now")
    assert len(filenames(client, "demo")) == 2
    assert client.get("/packages/demo/demo-1.0-py3-none-any.whl").status_code == 200
    fake_upstream.remove_file("demo", "demo-1.1-py3-none-any.whl")
    fake_upstream.remove_file("demo", "demo-2.0-py3-none-any.whl")
    run_cycle(backends, ["demo"])
    assert filenames(client, "demo") == ["demo-1.0-py3-none-any.whl"]
    admitted_before = file_row(backends, "demo-1.1-py3-none-any.whl")
    assert admitted_before.state == State.WITHDRAWN
    assert "pending review" in admitted_before.reason
    assert "vanished upstream" in caplog.text
    assert file_row(backends, "demo-2.0-py3-none-any.whl").reason == (
        "gone upstream before admission"
    )
    fake_upstream.remove_project("demo")
    run_cycle(backends, ["demo"])
    assert filenames(client, "demo") == ["demo-1.0-py3-none-any.whl"]
    # Files the mirror already holds stay installable with the project gone upstream.
    assert client.get("/packages/demo/demo-1.0-py3-none-any.whl").status_code == 200


def test_yanks_pass_through(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    assert page(client, "demo")["files"][0]["yanked"] is False
    fake_upstream.yank("demo", "demo-1.0-py3-none-any.whl", "broken <b>build</b>")
    run_cycle(backends, ["demo"])
    assert page(client, "demo")["files"][0]["yanked"] == "broken <b>build</b>"
    html = client.get("/simple/demo/").data.decode()
    assert 'data-yanked="broken &lt;b&gt;build&lt;/b&gt;"' in html


def test_conditional_requests_and_ttl(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    filenames(client, "demo")
    filenames(client, "demo")
    assert fake_upstream.hits("/simple/demo/") == 1
    sync.refresh(backends, "demo")
    assert fake_upstream.hits("/simple/demo/") == 1  # still fresh
    sync.refresh(backends, "demo", force=True)
    last = [r for r in fake_upstream.log if r.path == "/simple/demo/"][-1]
    assert last.headers.get("If-None-Match") or last.headers.get("If-Modified-Since")


def test_stale_if_error_keeps_serving_and_readyz_says_so(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    filenames(client, "demo")
    fake_upstream.fail(503)
    run_cycle(backends, ["demo"])
    assert filenames(client, "demo") == ["demo-1.0-py3-none-any.whl"]
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["degraded"] is True and "503" in ready.json["upstream"]["error"]
    assert client.get("/simple/other/").status_code == 502
    backends.clock = Clock(timedelta(hours=1))
    run_cycle(backends, ["demo"])  # still down: since its first failure
    assert client.get("/readyz").json["upstream"]["since"] == ready.json["upstream"]["since"]
    fake_upstream.clear_faults()
    run_cycle(backends, ["demo"])
    assert client.get("/readyz").json["degraded"] is False


@pytest.mark.parametrize("name", ["Demo", "DEMO", "demo_", "de.mo"])
def test_non_normalised_names_redirect(client: FlaskClient, name: str) -> None:
    response = client.get(f"/simple/{name}/?format=json")
    if name == "demo_":
        assert response.status_code == 404
        return
    assert response.status_code == 301
    assert response.headers["Location"].endswith(("/demo/?format=json", "/de-mo/?format=json"))


def test_internal_names_never_come_from_upstream(
    make_backends,
    fake_upstream: FakeUpstream,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    from mirror.app import create_app

    backends = make_backends(policy={"internal": ["acme-*"]})
    fake_upstream.publish_release("acme-secrets", "99.0", tmpdir=tmp_path, upload_time=OLD)
    client = create_app(backends.config, backends).test_client()
    assert client.get("/simple/acme-secrets/").status_code == 404
    assert fake_upstream.hits("/simple/acme-secrets/") == 0
    assert "refused project request" in caplog.text


def test_deny_rule_blocks_retroactively(
    make_backends,
    fake_upstream: FakeUpstream,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    from mirror.app import create_app

    fake_upstream.publish_release("litellm", "1.82.6", tmpdir=tmp_path, upload_time=OLD)
    fake_upstream.publish_release("litellm", "1.82.7", tmpdir=tmp_path, upload_time=OLD)
    backends = make_backends()
    client = create_app(backends.config, backends).test_client()
    assert len(filenames(client, "litellm")) == 2
    blocked = make_backends(policy={"deny": ["litellm>=1.82.7,<1.82.9"]})
    run_cycle(blocked, ["litellm"])
    client = create_app(blocked.config, blocked).test_client()
    assert filenames(client, "litellm") == ["litellm-1.82.6-py3-none-any.whl"]
    row = file_row(blocked, "litellm-1.82.7-py3-none-any.whl")
    assert (row.state, row.decided_by) == (State.BLOCKED, "rule")


def test_a_first_look_logs_one_summary_line_not_one_per_file(
    backends: Backends,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for version in ("1.0", "1.1", "1.2"):
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path, upload_time=OLD)
    fake_upstream.publish_release("demo", "2.0", tmpdir=tmp_path, upload_time="now")
    caplog.set_level("INFO", logger="mirror.services.state_changes")
    sync.refresh(backends, "demo", force=True)
    summary = next(r for r in caplog.records if hasattr(r, "moves"))
    assert sum(summary.moves.values()) == 4  # type: ignore[attr-defined]
    assert "demo-1.0-py3-none-any.whl" not in caplog.text
    caplog.clear()
    fake_upstream.remove_file("demo", "demo-1.2-py3-none-any.whl")
    sync.refresh(backends, "demo", force=True)
    # Leaving `admitted` is never routine: a line of its own, loud.
    assert "demo-1.2-py3-none-any.whl: admitted -> withdrawn" in caplog.text


def test_a_first_look_records_one_audit_event_for_what_it_admits(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    # Thousands of admissions at a first look buried people's decisions in the audit log: one
    # event with the count instead; what is held keeps an event per file for its reviewer.
    for version in ("1.0", "1.1", "1.2"):
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path, upload_time=OLD)
    fake_upstream.publish_release("demo", "2.0", tmpdir=tmp_path, upload_time="now")
    sync.refresh(backends, "demo", inspect=False)
    with backends.engine.connect() as conn:
        events = event_rows.project_events(conn, "demo")
    held, summary = events  # newest first: the file's own event leads
    assert (held.filename, held.to_state) == ("demo-2.0-py3-none-any.whl", State.QUARANTINED)
    assert (summary.filename, summary.to_state) == (None, State.ADMITTED)
    assert summary.reason.startswith("3 files admitted as history at the first look (listing ")


def test_evidence_starts_from_the_files_as_the_listing_left_them(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path, monkeypatch
) -> None:
    # Gathering evidence takes the reconciled files from the sync instead of reading them
    # back: they must be exactly what a read would return. A first look gathers before it
    # saves anything: from the listing's files, as they will be inserted.
    handed: list[tuple[list | None, list]] = []  # type: ignore[type-arg]
    gather = evidence.gather

    def spy(backends: Backends, project: str, *, inspect: bool, rows=None, now=None, private=None):  # type: ignore[no-untyped-def]
        with backends.engine.connect() as conn:
            project_row = project_rows.get_project(conn, project)
            stored = file_rows.project_files(conn, project_row.id) if project_row else []
        handed.append((rows, stored))
        return gather(backends, project, inspect=inspect, rows=rows, now=now, private=private)

    monkeypatch.setattr(evidence, "gather", spy)
    for version in ("1.0", "1.1", "2.0"):
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path, upload_time=OLD)
    sync.refresh(backends, "demo", inspect=False)
    first_look = handed.pop()
    with backends.engine.connect() as conn:
        saved = file_rows.project_files(conn, project_rows.get_project(conn, "demo").id)
    fake_upstream.yank("demo", "demo-1.0-py3-none-any.whl", "broken")
    fake_upstream.remove_file("demo", "demo-1.1-py3-none-any.whl")
    fake_upstream.set_upload_time("demo", "demo-2.0-py3-none-any.whl", "now")
    fake_upstream.publish_release("demo", "3.0", tmpdir=tmp_path, upload_time="now")
    sync.refresh(backends, "demo", force=True)
    [(rows, stored)] = handed
    assert rows == stored and len(stored) == 4
    listed, stored = first_look
    assert stored == [] and listed is not None and {r.id for r in listed} == {UNSAVED}
    # Saved as listed, but for what the database, the evidence and the decision add.
    added = ("id", "project_id", "provenance_sha256", "evidence")
    added += ("state", "reason", "decided_by", "state_at")
    assert sorted(_without(r, added) for r in saved) == sorted(_without(r, added) for r in listed)
    assert all(r.evidence.items() >= {"first_look": True}.items() for r in saved)
    assert {r.state for r in saved} == {"admitted"}


def _without(row: FileRecord, fields: tuple[str, ...]) -> tuple[object, ...]:
    return tuple(value for key, value in row._asdict().items() if key not in fields)


def once_before(
    monkeypatch: pytest.MonkeyPatch, owner: object, name: str, action: Callable[[], object]
) -> list[bool]:
    """Make ``owner.name`` run ``action`` before its first call (another host's or person's
    work landing in between); the list holds True once it has."""
    original = getattr(owner, name)
    done: list[bool] = []

    def first_action_then_original(*args: object, **kwargs: object) -> object:
        if not done:
            done.append(True)
            action()
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, first_action_then_original)
    return done


def test_a_first_look_another_host_finished_meanwhile_leaves_theirs(
    backends: Backends,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Single-flight holds per host only: another node may record the same first look while
    # this one gathers evidence. Its transaction then fails on the project's name, and stops.
    for version in ("1.0", "2.0"):
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path, upload_time=OLD)

    def other_host() -> None:
        sync.refresh(backends, "demo", inspect=False)

    once_before(monkeypatch, evidence, "gather", other_host)
    caplog.set_level("INFO", logger="mirror.services.first_look")
    sync.refresh(backends, "demo", inspect=False)
    assert "concurrent first look" in caplog.text
    with backends.engine.connect() as conn:
        project = project_rows.get_project(conn, "demo")
        assert project is not None
        assert len(file_rows.project_files(conn, project.id)) == 2
        # One event for the two files the first look admitted, with their count.
        (event,) = event_rows.project_events(conn, "demo")
        assert event.filename is None and event.reason.startswith("2 files admitted")
        assert page_rows.get_page(conn, "demo") is not None


def test_a_block_recorded_while_a_first_look_decides_holds(
    backends: Backends,
    client: FlaskClient,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A first look decides and renders before its write transaction. A block recorded in
    # between (a person, an advisory import) must hold all the same: the transaction finds
    # the project's blocks changed and decides again.
    for version in ("1.0", "2.0"):
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path, upload_time=OLD)
    blocked = once_before(
        monkeypatch,
        pages,
        "render_pages",
        lambda: review.block(backends, "demo", "==2.0", actor="alice", reason="stolen token"),
    )
    sync.refresh(backends, "demo", inspect=False)
    assert blocked and filenames(client, "demo") == ["demo-1.0-py3-none-any.whl"]
    row = file_row(backends, "demo-2.0-py3-none-any.whl")
    assert (row.state, row.decided_by) == (State.BLOCKED, "alice")
