"""The download audit: what a served file records, batching, and flushing at exit."""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask, g
from flask.testing import FlaskClient

from mirror.app import create_app
from mirror.db.engine import make_engine, migrate
from mirror.services import audit
from mirror.services.audit import Download, DownloadRecorder
from mirror.services.backends import Backends
from tests.support.fake_upstream import FakeUpstream
from tests.support.fixtures import S3Bucket

OLD = datetime.now(UTC) - timedelta(days=30)
WHEEL = "demo-1.0-py3-none-any.whl"


def sample(n: int) -> Download:
    return Download(
        at=datetime(2026, 3, 24, 12, 0, n, tzinfo=UTC),
        project="demo",
        version="1.0",
        filename=WHEEL,
        token_id=None,
        remote_addr="10.0.0.1",
        user_agent=f"pip/26.0 run {n}",
    )


def wait_for(backends: Backends, rows: int) -> list[Download]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = audit.downloads(backends, "demo")
        if len(found) >= rows:
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {rows} download records, found {len(found)}")


def test_a_full_batch_is_written_without_waiting_for_the_interval(backends: Backends) -> None:
    recorder = DownloadRecorder(backends.engine, interval=3600, batch_size=3)
    for n in range(3):
        recorder.record(sample(n))
    found = wait_for(backends, 3)
    assert [d.user_agent for d in found] == ["pip/26.0 run 2", "pip/26.0 run 1", "pip/26.0 run 0"]
    recorder.close()


def test_close_writes_what_is_buffered(backends: Backends) -> None:
    recorder = DownloadRecorder(backends.engine, interval=3600, batch_size=100)
    recorder.record(sample(1))
    recorder.record(sample(2))
    assert audit.downloads(backends, "demo") == []
    recorder.close()
    assert len(audit.downloads(backends, "demo")) == 2


def test_records_survive_a_database_failure(tmp_path: Path, backends: Backends) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'later.db'}")  # no tables yet
    recorder = DownloadRecorder(engine, interval=3600, batch_size=100)
    recorder.record(sample(1))
    assert recorder.flush() == 0
    migrate(engine)
    assert recorder.flush() == 1
    recorder.close()


@pytest.fixture
def served(
    app: Flask, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> FlaskClient:
    @app.before_request
    def _authenticated() -> None:  # what the auth layer sets for a token
        g.token_id = "tok_ci_pipeline"

    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    assert client.get("/simple/demo/").status_code == 200
    return client


def test_serving_a_file_records_who_pulled_it(
    app: Flask, served: FlaskClient, backends: Backends
) -> None:
    response = served.get(
        f"/packages/demo/{WHEEL}",
        # Not behind a proxy (the default): a forwarded address is the client's claim, ignored.
        headers={"User-Agent": 'pip/26.0 {"ci":true}', "X-Forwarded-For": "198.51.100.66"},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert response.status_code == 200
    assert served.head(f"/packages/demo/{WHEEL}").status_code == 200
    assert served.get(f"/packages/demo/{WHEEL}.metadata").status_code == 200
    app.extensions["mirror_downloads"].close()
    (download,) = audit.downloads(backends, "Demo", "1.0")
    assert (download.filename, download.project, download.version) == (WHEEL, "demo", "1.0")
    assert download.token_id == "tok_ci_pipeline"
    assert download.remote_addr == "192.0.2.7"
    assert download.user_agent == 'pip/26.0 {"ci":true}'
    assert audit.downloads(backends, "demo", "2.0") == []


def test_behind_trusted_proxies_the_audit_records_the_address_they_forwarded(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    backends = make_backends(server={"trusted_proxies": 2})
    app = create_app(backends.config, backends)
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    client = app.test_client()
    assert client.get("/simple/demo/").status_code == 200
    # The client forged the first entry; the two proxies appended the next two.
    forwarded = {"X-Forwarded-For": "198.51.100.66, 192.0.2.7, 10.0.0.5"}
    response = client.get(
        f"/packages/demo/{WHEEL}", headers=forwarded, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert response.status_code == 200
    app.extensions["mirror_downloads"].close()
    (download,) = audit.downloads(backends, "demo")
    assert download.remote_addr == "192.0.2.7"


def test_a_download_through_the_tuf_targets_records_who_pulled_it(
    app: Flask, served: FlaskClient, backends: Backends, fake_upstream: FakeUpstream
) -> None:
    """`mirror install` downloads from the TUF targets: its pulls are in the audit too."""
    target = f"/tuf/targets/packages/demo/{fake_upstream.get_file('demo', WHEEL).sha256}.{WHEEL}"
    response = served.get(target, headers={"User-Agent": "mirror-install"})
    assert response.status_code == 200
    response.close()
    assert served.head(target).status_code == 200  # a HEAD transfers nothing
    app.extensions["mirror_downloads"].close()
    (download,) = audit.downloads(backends, "demo", "1.0")
    assert (download.filename, download.token_id) == (WHEEL, "tok_ci_pipeline")
    assert download.user_agent == "mirror-install"


@pytest.mark.scaled
@pytest.mark.slow
def test_a_presigned_redirect_records_who_pulled_it(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    s3_bucket: S3Bucket,
) -> None:
    backends = make_backends(storage=s3_bucket.storage_section(presign=True))
    app = create_app(backends.config, backends)
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    client = app.test_client()
    assert client.get("/simple/demo/").status_code == 200
    response = client.get(f"/packages/demo/{WHEEL}", headers={"User-Agent": "uv/0.9"})
    assert response.status_code == 302  # the bytes come from the object store
    app.extensions["mirror_downloads"].close()
    (download,) = audit.downloads(backends, "demo")
    assert (download.filename, download.user_agent) == (WHEEL, "uv/0.9")
