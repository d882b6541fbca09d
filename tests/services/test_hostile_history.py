"""What a hostile upstream page lists for a project's history (docs/admission.md, "History")
costs only its entry: the listing keeps what the page said as JSON, but a history file gets
a row when something happens to it, so every field it keeps must fit a files row, or the
move that gives it one (a person's block) fails on that file. Nor may a block recorded while
a first look decides let the release it blocks into the listing."""

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from mirror.db import file_rows, history_rows
from mirror.db.engine import writing
from mirror.policy.admission import State
from mirror.services import first_look, publish, review
from mirror.services.backends import Backends
from mirror.upstream.listing import JSON_TYPE
from tests.support.fake_upstream import FakeUpstream

OLD = datetime.now(UTC) - timedelta(days=30)
NOW = datetime.now(UTC)
FILES = ["demo-1.0-py3-none-any.whl", "demo-1.1-py3-none-any.whl"]


def served(client: FlaskClient) -> list[str]:
    publish.publish_now(client.application.extensions["mirror"])
    response = client.get("/simple/demo/", headers={"Accept": JSON_TYPE})
    assert response.status_code == 200, response.data
    return sorted(f["filename"] for f in json.loads(response.data)["files"])


def with_first_entry(fake_upstream: FakeUpstream, **fields: object) -> None:
    """Upstream's page of ``demo`` with ``fields`` set on its first file."""
    request = urllib.request.Request(
        fake_upstream.project_url("demo"), headers={"Accept": JSON_TYPE}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        document = json.loads(response.read())
    document["files"][0].update(fields)
    fake_upstream.garbage_page("demo", json.dumps(document).encode(), content_type=JSON_TYPE)


def test_a_nul_in_a_provenance_url_counts_as_none_and_stops_no_block(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    for version in ("1.0", "1.1"):
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path, upload_time=OLD)
    with_first_entry(fake_upstream, provenance="https://upstream.test/integrity/\x00")
    assert served(client) == FILES
    review.block(backends, "demo", "", actor="alice", reason="an incident")
    assert served(client) == []
    with backends.engine.connect() as conn:
        for filename in FILES:
            row = file_rows.file_by_name(conn, "demo", filename)
            assert row is not None and row.state == State.BLOCKED


def test_a_block_recorded_while_a_first_look_decides_reaches_its_history(
    backends: Backends,
    client: FlaskClient,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A first look decides before it takes the write lock: a block recorded in between (by a
    person or an advisory) must not let the blocked release into the history listing."""
    for version in ("1.0", "1.1"):
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path, upload_time=OLD)
    made = first_look.Plan.made.__func__  # type: ignore[attr-defined]
    plans = []

    def made_then_blocked(cls: type[first_look.Plan], *args: Any, **kwargs: Any) -> Any:
        plans.append(made(cls, *args, **kwargs))
        if len(plans) == 1:
            with writing(backends.engine) as conn:
                review.record_blocks(conn, [review.NewBlock("demo", "==1.0", "alice", "x")], NOW)
        return plans[-1]

    monkeypatch.setattr(first_look.Plan, "made", classmethod(made_then_blocked))
    assert served(client) == FILES[1:]
    assert len(plans) == 2  # made again under the block
    assert client.get(f"/packages/demo/{FILES[0]}").status_code == 404
    with backends.engine.connect() as conn:
        row = file_rows.file_by_name(conn, "demo", FILES[0])
        assert row is not None and row.state == State.BLOCKED
        assert [f.filename for f in history_rows.history_files(conn, row.project_id).values()] == [
            FILES[1]
        ]
