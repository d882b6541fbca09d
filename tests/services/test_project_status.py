"""Project status markers (PEP 792) read from upstream and served (docs/admission.md,
"Project status"): upstream's quarantine holds every file for review, those admitted before
included; archived and deprecated are evidence; our pages say API 1.4 and carry a marker."""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask.testing import FlaskClient

from mirror.db import file_rows
from mirror.policy.admission import State
from mirror.scheduler import run_cycle
from mirror.services import publish, review, review_view
from mirror.services.backends import Backends
from tests.support.fake_upstream import FakeUpstream

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
OLD = datetime.now(UTC) - timedelta(days=30)
WHEEL = "demo-1.0-py3-none-any.whl"


def json_page(client: FlaskClient) -> dict:  # type: ignore[type-arg]
    response = client.get("/simple/demo/", headers=JSON)
    assert response.status_code == 200, response.data
    return json.loads(response.data)


def html_page(client: FlaskClient) -> str:
    response = client.get("/simple/demo/", headers={"Accept": "text/html"})
    assert response.status_code == 200, response.data
    return response.data.decode()


def admitted_demo(client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    assert [f["filename"] for f in json_page(client)["files"]] == [WHEEL]
    assert client.get(f"/packages/demo/{WHEEL}").status_code == 200


def test_our_pages_say_api_1_4_and_active(
    client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    admitted_demo(client, fake_upstream, tmp_path)
    document = json_page(client)
    assert document["meta"] == {"api-version": "1.4"}
    assert document["project-status"] == {"status": "active"}
    html = html_page(client)
    assert '<meta name="pypi:repository-version" content="1.4">' in html
    assert '<meta name="pypi:project-status" content="active">' in html
    assert "pypi:project-status-reason" not in html
    root = json.loads(client.get("/simple/", headers=JSON).data)
    assert root["meta"] == {"api-version": "1.4"}


def test_upstream_quarantine_holds_admitted_files_for_review(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    admitted_demo(client, fake_upstream, tmp_path)
    fake_upstream.set_status("demo", "quarantined", 'malware <script>"x"</script>')
    run_cycle(backends, ["demo"])

    with backends.engine.connect() as conn:
        row = file_rows.file_by_name(conn, "demo", WHEEL)
    assert row is not None
    assert (row.state, row.hold_until) == (State.QUARANTINED, None)  # held for review
    assert row.reason.startswith("quarantined upstream: malware")
    assert row.reason.endswith("held for review")
    document = json_page(client)
    assert document["files"] == []
    assert document["project-status"] == {
        "status": "quarantined",
        "reason": 'quarantined upstream: malware <script>"x"</script>',
    }
    html = html_page(client)
    assert '<meta name="pypi:project-status" content="quarantined">' in html
    assert "<script>" not in html
    response = client.get(f"/packages/demo/{WHEEL}")
    assert response.status_code == 404
    assert b"quarantined upstream" in response.data

    # A person's approval does not override upstream's quarantine: the next look holds again.
    review.approve(backends, "demo", "1.0", actor="alice", reason="looks fine")
    run_cycle(backends, ["demo"])
    assert client.get(f"/packages/demo/{WHEEL}").status_code == 404

    # Lifted upstream: the files stay held until a person approves them.
    fake_upstream.set_status("demo", None)
    run_cycle(backends, ["demo"])
    with backends.engine.connect() as conn:
        row = file_rows.file_by_name(conn, "demo", WHEEL)
    assert row is not None and (row.state, row.hold_until) == (State.QUARANTINED, None)
    assert json_page(client)["project-status"] == {"status": "active"}
    review.approve(backends, "demo", "1.0", actor="alice", reason="lifted upstream")
    publish.publish_now(backends)
    assert client.get(f"/packages/demo/{WHEEL}").status_code == 200


def test_a_project_quarantined_at_its_first_look_serves_nothing(
    client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    fake_upstream.set_status("demo", "quarantined")
    document = json_page(client)
    assert document["files"] == []
    assert document["project-status"] == {"status": "quarantined", "reason": "quarantined upstream"}


def test_archived_and_deprecated_are_served_and_shown_in_review(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    admitted_demo(client, fake_upstream, tmp_path)
    for marker in ("archived", "deprecated"):
        fake_upstream.set_status("demo", marker, f"{marker} by its owners")
        run_cycle(backends, ["demo"])
        document = json_page(client)
        assert [f["filename"] for f in document["files"]] == [WHEEL]
        assert document["project-status"] == {"status": marker, "reason": f"{marker} by its owners"}
        html = html_page(client)
        assert f'<meta name="pypi:project-status" content="{marker}">' in html
        assert f'<meta name="pypi:project-status-reason" content="{marker} by its owners">' in html
        assert client.get(f"/packages/demo/{WHEEL}").status_code == 200
    # The release report is what the API and the review UI show.
    report = review_view.report(backends, "demo", "1.0")
    assert (report.upstream_status.status, report.upstream_status.reason) == (
        "deprecated",
        "deprecated by its owners",
    )


def test_a_project_whose_every_release_is_blocked_is_quarantined(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    admitted_demo(client, fake_upstream, tmp_path)
    review.block(backends, "demo", "", actor="alice", reason="credential stealer")
    publish.publish_now(backends)
    document = json_page(client)
    assert document["files"] == []
    assert document["project-status"]["status"] == "quarantined"
    assert re.fullmatch(
        r"every release is blocked: blocked: credential stealer",
        document["project-status"]["reason"],
    )
