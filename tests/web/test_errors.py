"""Server errors: a short body with the reason and a request id, never a bare HTML 500."""

import contextlib
import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from mirror.logs import JsonFormatter
from mirror.services import sync
from mirror.services.backends import Backends
from mirror.web import warm_pages
from mirror.web.errors import REQUEST_ID_HEADER
from tests.support.fake_upstream import FakeUpstream
from tests.web.conftest import Tokens


class Broken(RuntimeError):
    """What a bug raises: nothing the mirror knows how to explain."""


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the mirror's JSON log lines say while the test runs."""
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lines
    root.removeHandler(handler)


def entries(lines: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in lines.getvalue().splitlines()]


def broken_view(app: Flask) -> FlaskClient:
    def boom() -> str:
        raise Broken("secret detail /srv/mirror/keys")

    app.add_url_rule("/boom", view_func=boom)
    app.add_url_rule("/api/v1/boom", endpoint="api_boom", view_func=boom)
    return app.test_client()


def test_an_unexpected_error_answers_a_short_text_with_the_request_id(
    app: Flask, json_log: io.StringIO
) -> None:
    response = broken_view(app).get("/boom")
    assert response.status_code == 500
    assert response.mimetype == "text/plain"
    request_id = response.headers[REQUEST_ID_HEADER]
    body = response.get_data(as_text=True)
    assert body == f"internal error (request id {request_id})\n"
    # The traceback is in the log, with the request id; the client sees none of it.
    logged = [e for e in entries(json_log) if e.get("request_id") == request_id]
    assert any("Broken: secret detail" in e.get("exception", "") for e in logged)


def test_api_clients_get_json(app: Flask) -> None:
    client = broken_view(app)
    for path, headers in (("/api/v1/boom", {}), ("/boom", {"Accept": "application/json"})):
        response = client.get(path, headers=headers)
        assert response.status_code == 500 and response.mimetype == "application/json"
        request_id = response.headers[REQUEST_ID_HEADER]
        assert response.get_json() == {"error": "internal error", "request_id": request_id}


def test_a_sane_incoming_request_id_is_kept_others_are_replaced(app: Flask) -> None:
    client = broken_view(app)
    kept = client.get("/boom", headers={REQUEST_ID_HEADER: "lb-1234.abcd_EF:9"})
    assert kept.headers[REQUEST_ID_HEADER] == "lb-1234.abcd_EF:9"
    assert "lb-1234.abcd_EF:9" in kept.get_data(as_text=True)
    for hostile in ("x" * 200, "a b", '"}{"admin": true', "é"):
        replaced = client.get("/boom", headers={REQUEST_ID_HEADER: hostile})
        assert replaced.headers[REQUEST_ID_HEADER] != hostile
        assert hostile not in replaced.get_data(as_text=True)


def test_every_answer_carries_a_request_id(client: FlaskClient) -> None:
    first = client.get("/healthz").headers[REQUEST_ID_HEADER]
    second = client.get("/healthz").headers[REQUEST_ID_HEADER]
    assert first and second and first != second


def test_a_first_look_that_fails_unexpectedly_answers_the_short_body(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refresh(*_: object, **__: object) -> None:
        raise Broken("unexpected")

    monkeypatch.setattr(sync, "refresh", refresh)
    response = client.get("/simple/demo/")
    assert response.status_code == 500 and response.mimetype == "text/plain"
    assert response.headers[REQUEST_ID_HEADER] in response.get_data(as_text=True)
    assert "unexpected" not in response.get_data(as_text=True)


def test_the_warm_page_layer_answers_its_own_failures_too(
    open_: tuple[FlaskClient, Backends, Tokens], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _, _ = open_
    assert client.get("/simple/demo/").status_code == 200

    def signed_pages(*_: object) -> None:
        raise Broken("in front of Flask")

    monkeypatch.setattr(warm_pages, "signed_pages", signed_pages)
    response = client.get("/simple/demo/")
    assert response.status_code == 500 and response.mimetype == "text/plain"
    assert response.headers[REQUEST_ID_HEADER] in response.get_data(as_text=True)


def test_not_found_stays_as_it_was(client: FlaskClient) -> None:
    response = client.get("/tuf/metadata/nothing.json")
    assert response.status_code == 404
    assert response.get_data(as_text=True) == "no TUF metadata 'nothing.json'\n"


def test_no_space_left_answers_503_disk_full(app: Flask) -> None:
    def write() -> str:
        with open("/dev/full", "wb", buffering=0) as full:  # every write: ENOSPC
            full.write(b"x")
        return "written"

    app.add_url_rule("/write", view_func=write)
    response = app.test_client().get("/write")
    assert response.status_code == 503
    assert response.get_data(as_text=True).startswith("disk full: No space left on device")
    assert response.headers["Retry-After"]


def test_a_full_database_answers_503_disk_full(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    for version in range(20):
        fake_upstream.publish_release("demo", f"{version}.0", tmpdir=tmp_path / "build")
    backends.engine.dispose()
    with contextlib.closing(sqlite3.connect(str(backends.engine.url.database))) as db:
        db.execute("VACUUM")  # no free pages left in the file
        pages = db.execute("PRAGMA page_count").fetchone()[0]

    @event.listens_for(backends.engine, "connect")
    def no_room(dbapi_connection: sqlite3.Connection, _: object) -> None:
        # SQLite's own "database or disk is full", as on a full disk
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    response = client.get("/simple/demo/", headers={"Accept": "application/json"})
    assert response.status_code == 503
    request_id = response.headers[REQUEST_ID_HEADER]
    assert response.get_json() == {
        "error": "disk full: database or disk is full",
        "request_id": request_id,
    }
