"""A scaled-out node whose PostgreSQL goes away or stops answering: 503 at once, then back."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from mirror.app import create_app
from mirror.services.backends import Backends
from mirror.web.errors import REQUEST_ID_HEADER
from tests.support import postgres
from tests.support.fake_upstream import FakeUpstream
from tests.support.postgres import PostgresServer

OLD = datetime.now(UTC) - timedelta(days=30)
# Only catches a hang: the bounded timeouts below are 2 s each.
HANG = 15.0


@pytest.fixture
def node(
    own_postgres_server: PostgresServer,
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    tmp_path: Path,
) -> FlaskClient:
    """An app on the cluster that has looked at "demo" once; "later" is not looked at yet."""
    url = own_postgres_server.database()
    database = {"url": url, "connect_timeout": "2s", "statement_timeout": "2s"}
    backends = make_backends(database=database)
    for project in ("demo", "later"):
        fake_upstream.publish_release(project, "1.0", tmpdir=tmp_path / "b", upload_time=OLD)
    client = create_app(backends.config, backends).test_client()
    assert client.get("/simple/demo/").status_code == 200
    return client


def timed(client: FlaskClient, path: str) -> tuple[int, str, dict[str, str], float]:
    started = time.monotonic()
    response = client.get(path)
    elapsed = time.monotonic() - started
    return response.status_code, response.get_data(as_text=True), dict(response.headers), elapsed


def assert_unavailable(client: FlaskClient) -> None:
    # A first look needs the database; so does every request after the one before failed.
    for _ in range(3):
        status, body, headers, elapsed = timed(client, "/simple/later/")
        assert elapsed < HANG, f"hung {elapsed:.1f} s"
        assert status == 503, body
        assert body == f"database unavailable (request id {headers[REQUEST_ID_HEADER]})\n"
        assert headers["Retry-After"]


@pytest.mark.slow
def test_a_stopped_database_answers_503_at_once_and_a_restart_recovers(
    node: FlaskClient, own_postgres_server: PostgresServer
) -> None:
    own_postgres_server.stop()
    assert_unavailable(node)
    postgres.restart(own_postgres_server)
    assert node.get("/simple/later/").status_code == 200
    assert node.get("/simple/demo/").status_code == 200


@pytest.mark.slow
def test_a_stalled_database_answers_503_within_the_timeouts(
    node: FlaskClient, own_postgres_server: PostgresServer
) -> None:
    with postgres.paused(own_postgres_server):
        assert_unavailable(node)
    assert node.get("/simple/later/").status_code == 200
