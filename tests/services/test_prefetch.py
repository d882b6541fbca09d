"""Dependency look-ahead: a first look happens once, whoever asks first, and a file's metadata
starts the first looks of the projects it requires."""

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from mirror.app import create_app
from mirror.db import targets
from mirror.services import prefetch, sync
from mirror.services.backends import Backends
from mirror.services.prefetch import dependencies
from mirror.storage import blob_key
from tests.support.fake_upstream import FakeUpstream
from tests.support.waiting import wait_until

OLD = datetime.now(UTC) - timedelta(days=30)
METADATA = "/packages/app/app-1.0-py3-none-any.whl.metadata"


def test_dependencies_are_the_unconditional_and_marker_requirements() -> None:
    metadata = (
        b"Metadata-Version: 2.1\nName: app\nVersion: 1.0\n"
        b"Requires-Dist: Dep_A (>=1.0)\n"
        b"Requires-Dist: dep-b[fast]>=2; python_version >= '3'\n"
        b"Requires-Dist: only-for-dev; extra == 'dev'\n"
        b"Requires-Dist: not a requirement !!\n"
        b"Requires-Dist: dep.a<3\n"
        b"\nDescription body: Requires-Dist: ignored\n"
    )
    assert dependencies(metadata) == ["dep-a", "dep-b"]


def signed(backends: Backends, name: str) -> bool:
    with backends.engine.connect() as conn:
        return targets.published_target(conn, f"simple/{name}/index.json") is not None


def release_app_and_deps(fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    for name in ("dep-a", "dep-b"):
        fake_upstream.publish_release(name, "1.0", tmpdir=tmp_path / name, upload_time=OLD)
    fake_upstream.publish_release(
        "app", "1.0", tmpdir=tmp_path / "app", upload_time=OLD, deps=["dep-a>=1", "dep-b"]
    )


def test_first_fetch_of_metadata_reads_the_required_projects_once(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    release_app_and_deps(fake_upstream, tmp_path)
    assert client.get("/simple/app/").status_code == 200
    assert client.get(METADATA).status_code == 200
    # Signed without any client asking for them ...
    assert wait_until(lambda: signed(backends, "dep-a") and signed(backends, "dep-b"), 30)
    # ... and the client's requests do not read upstream again.
    assert client.get("/simple/dep-a/").status_code == 200
    assert fake_upstream.hits("/simple/dep-a/") == fake_upstream.hits("/simple/dep-b/") == 1


def test_no_look_ahead_when_turned_off(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    backends = make_backends(upstream={"prefetch_dependencies": False})
    client = create_app(backends.config, backends).test_client()
    release_app_and_deps(fake_upstream, tmp_path)
    assert client.get("/simple/app/").status_code == 200
    assert client.get(METADATA).status_code == 200
    assert not wait_until(lambda: fake_upstream.hits("/simple/dep-a/") > 0, 2)


def test_concurrent_first_looks_read_upstream_once(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    threads = [threading.Thread(target=sync.first_look, args=(backends, "demo")) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert fake_upstream.hits("/simple/demo/") == 1


def test_a_first_look_reads_ahead_through_the_newest_releases_requirements(
    backends: Backends,
    client: FlaskClient,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(prefetch, "MAX_DEPTH", 2)
    chain = ["top", "mid", "low", "deepest"]  # each requires the next
    for name, requirement in zip(chain, [*chain[1:], None], strict=True):
        deps = [requirement] if requirement else []
        fake_upstream.publish_release(
            name, "1.0", tmpdir=tmp_path / name, upload_time=OLD, deps=deps
        )
    assert client.get("/simple/top/").status_code == 200  # nothing else asked by the client
    assert wait_until(lambda: signed(backends, "mid") and signed(backends, "low"), 30)
    top_metadata = "/packages/top/top-1.0-py3-none-any.whl.metadata"
    assert client.get(top_metadata).status_code == 200  # already stored by the look-ahead
    assert fake_upstream.hits("/simple/deepest/") == 0  # two levels below the client's request
    assert sum(fake_upstream.hits(f"/simple/{name}/") for name in chain) == 3


def test_a_downloaded_wheel_without_upstream_metadata_starts_the_look_ahead(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    # An upstream without PEP 658 metadata: resolvers download the wheel itself, and the
    # METADATA the mirror extracts from it names what to read next.
    fake_upstream.publish_release("dep-a", "1.0", tmpdir=tmp_path / "dep-a", upload_time=OLD)
    fake_upstream.publish_release(
        "app", "1.0", tmpdir=tmp_path / "app", upload_time=OLD, deps=["dep-a"], metadata=None
    )
    # Nor ranges, the first time: the look-ahead cannot read the wheel's METADATA itself.
    fake_upstream.fail(200, path="/files/app/*", times=1)
    assert client.get("/simple/app/").status_code == 200
    assert client.get(METADATA).status_code == 404  # nothing to fetch: upstream has none
    assert not signed(backends, "dep-a")
    assert client.get(METADATA.removesuffix(".metadata")).status_code == 200
    assert wait_until(lambda: signed(backends, "dep-a"), 30)


def test_a_first_look_reads_ahead_through_a_wheel_without_upstream_metadata(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    # No PEP 658 metadata upstream: the look-ahead reads the newest wheel's METADATA by
    # ranges, as a hint, without downloading the wheel or keeping what it read.
    fake_upstream.publish_release("dep-a", "1.0", tmpdir=tmp_path / "dep-a", upload_time=OLD)
    app = fake_upstream.publish_release(
        "app", "1.0", tmpdir=tmp_path / "app", upload_time=OLD, deps=["dep-a"], metadata=None
    )
    assert client.get("/simple/app/").status_code == 200
    assert wait_until(lambda: signed(backends, "dep-a"), 30)
    assert not backends.blobs.exists(blob_key(app.sha256))
    assert client.get(METADATA).status_code == 404  # still none to serve
