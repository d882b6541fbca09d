"""A page that aims the mirror at the local network costs only its own entries: the mirror
never reaches the named service, answers cleanly, and admits nothing it could not fetch
(docs/admission.md, "Network policy")."""

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from mirror.app import create_app
from mirror.db import file_rows
from mirror.policy.admission import State
from mirror.scheduler import run_cycle
from mirror.services.backends import Backends
from mirror.timeutil import Clock
from tests.support.fake_upstream import FakeUpstream

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
OLD = datetime.now(UTC) - timedelta(days=30)


@pytest.fixture
def other_service() -> Iterator[FakeUpstream]:
    """A second service on this machine, another port: what a hostile page aims at."""
    with FakeUpstream() as service:
        yield service


def client_of(backends: Backends) -> FlaskClient:
    return create_app(backends.config, backends).test_client()


def row_of(backends: Backends, project: str, filename: str) -> Any:
    with backends.engine.connect() as conn:
        row = file_rows.file_by_name(conn, project, filename)
    assert row is not None, filename
    return row


def listed(client: FlaskClient, project: str) -> list[str]:
    response = client.get(f"/simple/{project}/", headers=JSON)
    assert response.status_code == 200, response.data
    return [entry["filename"] for entry in json.loads(response.data)["files"]]


def test_provenance_named_on_a_local_service_fails_that_file_only(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    other_service: FakeUpstream,
    tmp_path: Path,
) -> None:
    """The newer release's provenance link is redirected to the other service: its check
    fails (a hostile link is no outage to wait out), and the older release is still checked."""
    older = fake_upstream.publish_release(
        "p", "1.0", tmpdir=tmp_path, upload_time="now", provenance=b"{}"
    )
    newer = fake_upstream.publish_release(
        "p",
        "2.0",
        tmpdir=tmp_path,
        upload_time=datetime.now(UTC) + timedelta(minutes=1),
        provenance=b"{}",
    )
    fake_upstream.redirect(other_service.url + "/x", path="/integrity/p/2.0/*")
    backends = make_backends()

    assert listed(client_of(backends), "p") == []

    record = row_of(backends, "p", newer.filename).evidence["provenance"]
    assert record["status"] == "failed"
    assert "refused" in record["reason"] and "loopback" in record["reason"]
    row = row_of(backends, "p", newer.filename)
    assert row.state == State.REJECTED
    assert row_of(backends, "p", older.filename).evidence["provenance"]["status"] == "failed"
    assert other_service.requests == {}


def test_a_file_named_on_a_local_service_is_never_fetched_nor_admitted(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    other_service: FakeUpstream,
    tmp_path: Path,
) -> None:
    fake_upstream.files_host_url = other_service.url
    fake = fake_upstream.publish_release("p", "1.0", tmpdir=tmp_path, upload_time="now")
    backends = make_backends(provenance={"mode": "off"})
    client = client_of(backends)
    assert listed(client, "p") == []

    backends.clock = Clock(timedelta(days=30))
    run_cycle(backends)

    row = row_of(backends, "p", fake.filename)
    assert row.state == State.QUARANTINED
    assert "refused" in row.reason and "loopback" in row.reason
    assert listed(client, "p") == []
    assert other_service.requests == {}


def test_history_named_on_a_local_service_answers_a_clean_error(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    other_service: FakeUpstream,
    tmp_path: Path,
) -> None:
    fake_upstream.files_host_url = other_service.url
    fake = fake_upstream.publish_release("p", "1.0", tmpdir=tmp_path, upload_time=OLD)
    backends = make_backends(provenance={"mode": "off"})
    client = client_of(backends)
    listed(client, "p")

    for path in (f"/packages/p/{fake.filename}", f"/packages/p/{fake.filename}.metadata"):
        response = client.get(path)
        assert response.status_code == 502, (path, response.data)
        assert b"refused" in response.data

    assert other_service.requests == {}


def test_allowed_hosts_let_the_mirror_fetch_from_a_local_files_host(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    other_service: FakeUpstream,
    tmp_path: Path,
) -> None:
    fake = fake_upstream.publish_release("p", "1.0", tmpdir=tmp_path, upload_time=OLD)
    other_service.add_file("p", fake.content, filename=fake.filename)
    fake_upstream.files_host_url = other_service.url.replace("127.0.0.1", "localhost")
    backends = make_backends(
        provenance={"mode": "off"},
        upstream={"allowed_hosts": [f"localhost:{other_service.port}"]},
    )
    client = client_of(backends)
    assert listed(client, "p") == [fake.filename]

    assert client.get(f"/packages/p/{fake.filename}").data == fake.content
    assert other_service.hits(f"/files/p/{fake.filename}") == 1
