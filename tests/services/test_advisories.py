"""Advisory import against the mirror's state: blocking (also retroactively), idempotence,
evidence-only advisories, and hostile input that leaves nothing behind."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mirror.advisories.osv import AdvisoryError
from mirror.db import file_rows
from mirror.db.schema import advisories as advisories_table
from mirror.db.schema import blocks, events
from mirror.policy.admission import State
from mirror.services import advisories, publish, review
from mirror.services.backends import Backends
from tests.support.fake_upstream import FakeUpstream
from tests.support.osv import malicious, npm_malicious, vulnerability, write_json, write_zip

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
OLD = datetime.now(UTC) - timedelta(days=30)


def listed(client: FlaskClient, project: str) -> list[str]:
    """The project's page after the next publish (pages show what is signed)."""
    publish.publish_now(client.application.extensions["mirror"])
    response = client.get(f"/simple/{project}/", headers=JSON)
    assert response.status_code == 200, response.data
    return [f["filename"] for f in json.loads(response.data)["files"]]


def file_row(backends: Backends, project: str, filename: str):  # type: ignore[no-untyped-def]
    with backends.engine.connect() as conn:
        return file_rows.file_by_name(conn, project, filename)


def count(backends: Backends, table) -> int:  # type: ignore[no-untyped-def]
    with backends.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def demo(client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path) -> FlaskClient:
    """demo 1.0 and 2.0, both admitted and listed."""
    for version in ("1.0", "2.0"):
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path / "b", upload_time=OLD)
    assert listed(client, "demo") == ["demo-1.0-py3-none-any.whl", "demo-2.0-py3-none-any.whl"]
    return client


def test_malicious_advisory_blocks_an_admitted_release_at_once(
    backends: Backends, demo: FlaskClient, tmp_path: Path
) -> None:
    wheel = "demo-2.0-py3-none-any.whl"
    assert demo.get(f"/packages/demo/{wheel}").status_code == 200
    path = write_json(
        tmp_path / "MAL-2026-7.json", malicious("MAL-2026-7", "Demo", versions=["2.0"])
    )
    report = advisories.import_path(backends, path)
    assert report.added == ["MAL-2026-7"] and report.changed_files == [wheel]
    assert listed(demo, "demo") == ["demo-1.0-py3-none-any.whl"]
    row = file_row(backends, "demo", wheel)
    assert (row.state, row.decided_by) == (State.BLOCKED, "advisory:MAL-2026-7")
    assert row.reason == "blocked: Malicious code in Demo (PyPI)"
    response = demo.get(f"/packages/demo/{wheel}")
    assert response.status_code == 404 and b"Malicious code in Demo" in response.data
    _, history = review.release(backends, "demo", "2.0")
    assert any(e.actor == "advisory:MAL-2026-7" and e.to_state == "blocked" for e in history)


def test_reimport_is_idempotent_and_newer_versions_replace(
    backends: Backends, demo: FlaskClient, tmp_path: Path
) -> None:
    path = write_json(tmp_path / "a.json", malicious("MAL-2026-8", "demo", versions=["2.0"]))
    advisories.import_path(backends, path)
    before = (count(backends, events), count(backends, blocks), count(backends, advisories_table))
    again = advisories.import_path(backends, path)
    assert (again.added, again.updated, again.unchanged) == ([], [], ["MAL-2026-8"])
    assert again.changed_files == []
    after = (count(backends, events), count(backends, blocks), count(backends, advisories_table))
    assert after == before
    newer = malicious("MAL-2026-8", "demo", versions=["1.0"], modified="2026-03-25T00:00:00Z")
    update = advisories.import_path(backends, write_json(path, newer))
    assert update.updated == ["MAL-2026-8"]
    assert sorted(update.changed_files) == [
        "demo-1.0-py3-none-any.whl",
        "demo-2.0-py3-none-any.whl",
    ]
    assert listed(demo, "demo") == ["demo-2.0-py3-none-any.whl"]
    withdrawn = dict(newer, modified="2026-03-26T00:00:00Z", withdrawn="2026-03-26T00:00:00Z")
    advisories.import_path(backends, write_json(path, withdrawn))
    assert listed(demo, "demo") == ["demo-1.0-py3-none-any.whl", "demo-2.0-py3-none-any.whl"]
    assert advisories.advisories_for(backends, "demo", "1.0") == []


def test_unrelated_and_non_malicious_advisories_do_not_block(
    backends: Backends, demo: FlaskClient, tmp_path: Path
) -> None:
    feed = tmp_path / "feed"
    write_json(
        feed / "PYSEC-2026-1.json",
        vulnerability("PYSEC-2026-1", "demo", introduced="1.5", fixed="3"),
    )
    write_json(feed / "MAL-2026-9.json", malicious("MAL-2026-9", "dem0", versions=["2.0"]))
    write_json(feed / "npm/MAL-2026-10.json", npm_malicious("MAL-2026-10", "demo"))
    report = advisories.import_path(backends, feed)
    assert sorted(report.added) == ["MAL-2026-9", "PYSEC-2026-1"] and report.ignored == 1
    assert report.changed_files == []
    assert listed(demo, "demo") == ["demo-1.0-py3-none-any.whl", "demo-2.0-py3-none-any.whl"]
    evidence = advisories.advisories_for(backends, "Demo", "2.0")
    assert [(a.osv_id, a.malicious) for a in evidence] == [("PYSEC-2026-1", False)]
    assert advisories.advisories_for(backends, "demo", "1.0") == []
    assert [a.osv_id for a in advisories.list_advisories(backends, "demo")] == ["PYSEC-2026-1"]
    assert len(advisories.list_advisories(backends)) == 2


def test_release_appearing_later_is_blocked_on_first_sight(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    archive = write_zip(
        tmp_path / "feed.zip",
        {
            "osv/malicious/pypi/evil/MAL-2026-11.json": malicious(
                "MAL-2026-11",
                "evil",
                ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            )
        },
    )
    report = advisories.import_path(backends, archive)
    assert report.added == ["MAL-2026-11"] and report.changed_files == []
    fake_upstream.publish_release("evil", "1.0", tmpdir=tmp_path / "b", upload_time=OLD)
    assert listed(client, "evil") == []
    row = file_row(backends, "evil", "evil-1.0-py3-none-any.whl")
    assert (row.state, row.decided_by) == (State.BLOCKED, "advisory:MAL-2026-11")


def test_a_person_can_lift_an_advisory_block(
    backends: Backends, demo: FlaskClient, tmp_path: Path
) -> None:
    path = write_json(tmp_path / "a.json", malicious("MAL-2026-12", "demo", versions=["2.0"]))
    advisories.import_path(backends, path)
    review.unblock(backends, "demo", "==2.0", actor="cli:alice", reason="false positive")
    assert "demo-2.0-py3-none-any.whl" in listed(demo, "demo")
    advisories.import_path(backends, path)  # unchanged advisory: the person's decision stands
    assert "demo-2.0-py3-none-any.whl" in listed(demo, "demo")


def test_withdrawal_keeps_a_persons_block_on_the_same_versions(
    backends: Backends, demo: FlaskClient, tmp_path: Path
) -> None:
    review.block(backends, "demo", "", actor="cli:alice", reason="under investigation")
    doc = malicious("MAL-2026-13", "demo")
    path = write_json(tmp_path / "a.json", doc)
    advisories.import_path(backends, path)
    withdrawn = dict(doc, modified="2026-04-01T00:00:00Z", withdrawn="2026-04-01T00:00:00Z")
    advisories.import_path(backends, write_json(path, withdrawn))
    assert listed(demo, "demo") == []
    row = file_row(backends, "demo", "demo-1.0-py3-none-any.whl")
    assert row.decided_by == "cli:alice"


@pytest.mark.parametrize("hostile", ["bad-json", "wrong-type", "traversal-zip"])
def test_bad_input_names_the_file_and_imports_nothing(
    backends: Backends, demo: FlaskClient, tmp_path: Path, hostile: str
) -> None:
    good = malicious("MAL-2026-14", "demo", versions=["1.0", "2.0"])
    if hostile == "traversal-zip":
        path = write_zip(tmp_path / "feed.zip", {"a/MAL-2026-14.json": good, "../../x.json": good})
        expected = "feed.zip: unsafe member name"
    else:
        path = tmp_path / "feed"
        write_json(path / "a/MAL-2026-14.json", good)
        broken = path / "b/MAL-2026-15.json"
        broken.parent.mkdir(parents=True)
        if hostile == "bad-json":
            broken.write_text("{ not json")
            expected = f"{broken}: not valid JSON"
        else:
            write_json(broken, dict(good, id="MAL-2026-15", affected={"oops": 1}))
            expected = f"{broken}: MAL-2026-15: advisory.affected must be a list"
    with pytest.raises(AdvisoryError) as caught:
        advisories.import_path(backends, path)
    assert expected in str(caught.value)
    assert count(backends, advisories_table) == 0 and count(backends, blocks) == 0
    assert len(listed(demo, "demo")) == 2


def test_the_newest_copy_in_one_import_wins(
    backends: Backends, demo: FlaskClient, tmp_path: Path
) -> None:
    old = malicious("MAL-2026-16", "demo", versions=["1.0"], modified="2026-03-01T00:00:00Z")
    new = malicious("MAL-2026-16", "demo", versions=["2.0"], modified="2026-03-02T00:00:00Z")
    write_json(tmp_path / "feed/b/copy.json", old)
    write_json(tmp_path / "feed/a/copy.json", new)
    report = advisories.import_path(backends, tmp_path / "feed")
    assert report.added == ["MAL-2026-16"]
    assert listed(demo, "demo") == ["demo-1.0-py3-none-any.whl"]
    (stored,) = advisories.list_advisories(backends)
    assert stored.modified == datetime(2026, 3, 2, tzinfo=UTC)
    assert stored.source == str(tmp_path / "feed/a/copy.json")
