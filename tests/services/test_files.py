"""Serving distribution files: verified before kept, streamed, shared, ranged."""

import hashlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mirror.db import file_rows, page_rows, targets
from mirror.db.engine import writing
from mirror.errors import StorageError
from mirror.policy.admission import State
from mirror.scheduler import run_cycle
from mirror.services import pages
from mirror.services.backends import Backends
from mirror.services.follow_up import FollowUp
from mirror.services.single_flight import single_flight
from mirror.storage import blob_key
from tests.support.fake_upstream import FakeUpstream

OLD = datetime.now(UTC) - timedelta(days=30)
WHEEL = "demo-1.0-py3-none-any.whl"
URL = f"/packages/demo/{WHEEL}"


def publish(fake_upstream: FakeUpstream, tmp_path: Path, **kw: object) -> bytes:
    fake = fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD, **kw)  # type: ignore[arg-type]
    return fake.content


def partials(backends: Backends) -> list[Path]:
    return list(backends.blobs.staging_dir().glob("*.part"))


def test_file_is_served_and_then_kept(
    client: FlaskClient, backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    content = publish(fake_upstream, tmp_path)
    client.get("/simple/demo/")
    first = client.get(URL)
    assert first.status_code == 200 and first.data == content
    assert first.headers["Content-Length"] == str(len(content))
    assert first.headers["ETag"].strip('"') == hashlib.sha256(content).hexdigest()
    assert client.get(URL).data == content
    assert fake_upstream.hits(f"/files/demo/{WHEEL}") == 1


def test_range_and_conditional_requests(
    client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    content = publish(fake_upstream, tmp_path)
    client.get("/simple/demo/")
    partial = client.get(URL, headers={"Range": "bytes=10-19"})
    assert partial.status_code == 206 and partial.data == content[10:20]
    etag = client.get(URL).headers["ETag"]
    assert client.get(URL, headers={"If-None-Match": etag}).status_code == 304


def test_tampered_upstream_file_is_rejected_and_never_kept(
    client: FlaskClient, backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    content = publish(fake_upstream, tmp_path)
    client.get("/simple/demo/")
    fake_upstream.corrupt(WHEEL)
    response = client.get(URL)
    assert response.status_code == 502
    assert b"sha256 mismatch" in response.data
    assert not backends.blobs.exists(blob_key(hashlib.sha256(content).hexdigest()))
    assert partials(backends) == []
    with backends.engine.connect() as conn:
        row = file_rows.file_by_name(conn, "demo", WHEEL)
    assert row is not None and (row.state, row.decided_by) == (State.REJECTED, "integrity")
    fake_upstream.clear_faults()
    assert client.get(URL).status_code == 404  # rejected stays rejected
    page = json.loads(client.get("/simple/demo/?format=application/vnd.pypi.simple.v1%2Bjson").data)
    assert page["files"] == []


def test_advertised_hash_mismatch_is_rejected(
    client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    publish(fake_upstream, tmp_path, sha256_override="0" * 64)
    client.get("/simple/demo/")
    assert client.get(URL).status_code == 502


def test_truncated_download_leaves_nothing_and_the_next_request_succeeds(
    client: FlaskClient, backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    content = publish(fake_upstream, tmp_path)
    client.get("/simple/demo/")
    fake_upstream.truncate(WHEEL, at_bytes=100, times=3)
    assert client.get(URL).status_code == 502
    assert partials(backends) == []
    with backends.engine.connect() as conn:
        assert file_rows.file_by_name(conn, "demo", WHEEL).state == State.ADMITTED  # type: ignore[union-attr]
    fake_upstream.clear_faults()
    assert client.get(URL).data == content


def test_concurrent_first_requests_share_one_download(
    app: Flask, backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    content = publish(fake_upstream, tmp_path)
    app.test_client().get("/simple/demo/")
    fake_upstream.delay(0.5, path=f"/files/demo/{WHEEL}")
    results: list[bytes] = []

    def fetch() -> None:
        results.append(app.test_client().get(URL).data)

    threads = [threading.Thread(target=fetch) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [content] * 6
    assert fake_upstream.hits(f"/files/demo/{WHEEL}") == 1
    assert not list(backends.blobs.staging_dir().glob("*.lock"))


def test_single_flight_admits_one_thread_at_a_time_and_removes_its_lock_file(
    backends: Backends,
) -> None:
    inside, most = 0, 0
    counting = threading.Lock()

    def run() -> None:
        nonlocal inside, most
        for _ in range(150):
            with single_flight(backends, "shared"):
                with counting:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0)  # let the others try while this one is inside
                with counting:
                    inside -= 1

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1
    assert not list(backends.blobs.staging_dir().glob("*.lock"))


def test_metadata_from_upstream_is_verified(
    client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    publish(fake_upstream, tmp_path)
    client.get("/simple/demo/")
    metadata = client.get(URL + ".metadata")
    assert metadata.status_code == 200
    assert b"Name: demo" in metadata.data
    assert fake_upstream.hits(f"/files/demo/{WHEEL}") == 0  # resolvers skip the wheel


def test_metadata_is_extracted_from_the_wheel_when_upstream_has_none(
    client: FlaskClient, backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    publish(fake_upstream, tmp_path, metadata=None)
    json_page = "/simple/demo/?format=application/vnd.pypi.simple.v1%2Bjson"
    client.get(json_page)
    assert json.loads(client.get(json_page).data)["files"][0]["core-metadata"] is False
    assert client.get(URL + ".metadata").status_code == 404
    client.get(URL)
    # The download did not render and sign the page again: the scheduler does, once clients
    # pause.
    assert json.loads(client.get(json_page).data)["files"][0]["core-metadata"] is False
    with backends.engine.connect() as conn:
        assert page_rows.stale_pages(conn) == ["demo"]
    assert FollowUp(backends, quiet=timedelta(0)).poll() is not None
    entry = json.loads(client.get(json_page).data)["files"][0]
    metadata = client.get(URL + ".metadata").data
    assert entry["core-metadata"] == {"sha256": hashlib.sha256(metadata).hexdigest()}
    assert b"Version: 1.0" in metadata
    with backends.engine.connect() as conn:
        assert page_rows.stale_pages(conn) == []
        # The extracted METADATA's length was recorded with it: the same batch signed it.
        assert targets.pending(conn, "demo") == []
        assert f"packages/demo/{WHEEL}.metadata" in targets.published(conn, "demo")


def test_the_cycle_renders_stale_pages_and_a_failed_one_stays_stale(
    client: FlaskClient,
    backends: Backends,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    publish(fake_upstream, tmp_path)
    client.get("/simple/demo/")
    with writing(backends.engine) as conn:
        page_rows.mark_page_stale(conn, "demo", backends.clock.now())

    def fail(*_: object) -> None:
        raise StorageError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(pages, "render_and_queue", fail)
        run_cycle(backends)
    with backends.engine.connect() as conn:
        assert page_rows.stale_pages(conn) == ["demo"]
    run_cycle(backends)  # the page renders to the same bytes: no longer stale all the same
    with backends.engine.connect() as conn:
        assert page_rows.stale_pages(conn) == []
