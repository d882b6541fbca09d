"""What a hostile upstream page lists for a project's history (docs/admission.md, "History")
costs only its entry: the listing keeps what the page said as JSON, but a history file gets
a row when something happens to it, so every field it keeps must fit a files row, or the
move that gives it one (a person's block) fails on that file."""

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask.testing import FlaskClient

from mirror.db import file_rows
from mirror.policy.admission import State
from mirror.services import publish, review
from mirror.services.backends import Backends
from mirror.upstream.listing import JSON_TYPE
from tests.support.fake_upstream import FakeUpstream

OLD = datetime.now(UTC) - timedelta(days=30)
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
