"""Dependency read-ahead: web requests only queue it, the scheduler's process runs it; a first
look happens once, whoever asks first, and a file's metadata starts the first looks of the
projects it requires."""

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from mirror import scheduler
from mirror.app import create_app
from mirror.db import lookahead_rows, targets
from mirror.scheduler import CycleReport
from mirror.services import prefetch, sync
from mirror.services.backends import Backends
from mirror.services.prefetch import Lookahead, dependencies
from mirror.storage import blob_key
from tests.support.fake_upstream import FakeUpstream
from tests.support.lookahead import run_lookahead, running_lookahead, settled
from tests.support.waiting import wait_until

OLD = datetime.now(UTC) - timedelta(days=30)
METADATA = "/packages/app/app-1.0-py3-none-any.whl.metadata"


@pytest.fixture
def lookahead(backends: Backends) -> Iterator[Lookahead]:
    """The scheduler's read-ahead, running on its own threads as in `mirror worker`."""
    with running_lookahead(backends) as consumer:
        yield consumer


def queued(backends: Backends) -> list[lookahead_rows.Entry]:
    with backends.engine.connect() as conn:
        return lookahead_rows.entries(conn)


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


def test_a_hostile_dependency_name_is_never_queued_unnormalised(
    make_backends: Callable[..., Backends],
) -> None:
    backends = make_backends(policy={"internal": ["denied-project"]})
    too_long = "x" * 300  # a valid PEP 508 name, longer than any project name the mirror keeps
    metadata = (
        b"Metadata-Version: 2.1\nName: app\nVersion: 1.0\n"
        b"Requires-Dist: Dep_A.Two (>=1.0)\n"
        b"Requires-Dist: Denied_Project\n"
        b"Requires-Dist: " + too_long.encode() + b"\n"
        b"Requires-Dist: ../../etc/passwd\n"
        b"Requires-Dist: caf\xc3\xa9\n"
    )
    prefetch.queue_requirements(backends, metadata, depth=0)
    assert [(e.kind, e.project, e.depth) for e in queued(backends)] == [
        (lookahead_rows.PROJECT, "dep-a-two", 1)
    ]


def signed(backends: Backends, name: str) -> bool:
    with backends.engine.connect() as conn:
        return targets.published_target(conn, f"simple/{name}/index.json") is not None


def release_app_and_deps(fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    for name in ("dep-a", "dep-b"):
        fake_upstream.publish_release(name, "1.0", tmpdir=tmp_path / name, upload_time=OLD)
    fake_upstream.publish_release(
        "app", "1.0", tmpdir=tmp_path / "app", upload_time=OLD, deps=["dep-a>=1", "dep-b"]
    )


def test_a_request_only_queues_the_read_ahead(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    # The serving worker's CPU is its client's: it reads nothing ahead itself.
    release_app_and_deps(fake_upstream, tmp_path)
    assert client.get("/simple/app/").status_code == 200
    assert client.get(METADATA).status_code == 200
    assert fake_upstream.hits("/simple/dep-a/") == fake_upstream.hits("/simple/dep-b/") == 0
    kinds = {(e.kind, e.project) for e in queued(backends)}
    assert {(lookahead_rows.PROJECT, "app"), (lookahead_rows.REQUIRES, "app")} <= kinds


def test_entries_queued_by_a_request_are_taken_by_the_running_scheduler(
    backends: Backends,
    client: FlaskClient,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release_app_and_deps(fake_upstream, tmp_path)
    stop = threading.Event()

    def long_cycle(backends: Backends, **_: object) -> CycleReport:
        stop.wait(60)  # the read-ahead is taken while a cycle of thousands of projects runs
        return CycleReport()

    monkeypatch.setattr(scheduler, "run_cycle", long_cycle)
    loop = threading.Thread(target=scheduler.run_until, args=(backends, stop))
    loop.start()
    try:
        assert client.get("/simple/app/").status_code == 200
        assert client.get(METADATA).status_code == 200
        assert wait_until(lambda: signed(backends, "dep-a") and signed(backends, "dep-b"), 30)
        assert wait_until(lambda: not queued(backends), 30)
    finally:
        stop.set()
        loop.join(60)
    assert not loop.is_alive()


def test_an_idle_consumer_takes_an_entry_within_tens_of_milliseconds(
    backends: Backends, lookahead: Lookahead
) -> None:
    assert lookahead.poll_seconds <= 0.05
    prefetch.queue(backends, [lookahead_rows.Entry(lookahead_rows.PROJECT, "gone", "", 9)])
    assert wait_until(lambda: not queued(backends), 2)


def test_the_entries_of_a_clients_latest_request_are_taken_first(backends: Backends) -> None:
    """A client asks next for what its latest request named: pip reads the projects one after
    another, and the read-ahead of an earlier one must not keep it waiting."""
    now = backends.clock.now()
    earlier, latest = (lookahead_rows.Entry(lookahead_rows.PROJECT, n, "", 1) for n in "ab")
    deeper = lookahead_rows.Entry(lookahead_rows.PROJECT, "c", "", 2)
    with backends.engine.begin() as conn:
        for entry in (earlier, deeper, latest):
            lookahead_rows.queue(conn, [entry], now)
        kinds = [lookahead_rows.PROJECT]
        assert [lookahead_rows.take(conn, kinds, 1) for _ in range(3)] == [
            [latest],
            [earlier],
            [deeper],
        ]


def test_downloads_ahead_wait_while_reading_ahead_is_to_do(
    backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both run in the scheduler's process, one interpreter: a download's inspection would
    slow the first look the client is about to ask for; the client downloads once it resolved."""
    looking, go_on = threading.Event(), threading.Event()
    downloads: list[str] = []

    def look(self: Lookahead, entry: lookahead_rows.Entry) -> None:
        looking.set()
        go_on.wait(10)

    monkeypatch.setattr(Lookahead, "_look", look)
    monkeypatch.setattr(Lookahead, "_download", lambda self, e: downloads.append(e.filename))
    read = lookahead_rows.Entry(lookahead_rows.PROJECT, "next", "", 1)
    download = lookahead_rows.Entry(lookahead_rows.DOWNLOAD, "app", "app-1.0.whl", 0)
    prefetch.queue(backends, [read, download])
    with running_lookahead(backends):
        assert looking.wait(5)
        assert not wait_until(lambda: bool(downloads), 0.3)  # the look under way goes first
        go_on.set()
        assert wait_until(lambda: downloads == ["app-1.0.whl"], 5)


def test_a_queue_without_consumer_stays_bounded_in_size_and_age(backends: Backends) -> None:
    now = backends.clock.now()
    flood = [
        lookahead_rows.Entry(lookahead_rows.PROJECT, f"p{n}", "", 0)
        for n in range(lookahead_rows.MAX_ENTRIES + 500)
    ]
    with backends.engine.begin() as conn:
        lookahead_rows.queue(conn, flood[:10], now)
        lookahead_rows.queue(conn, flood[:10], now)  # the same again: queued once
        assert len(lookahead_rows.entries(conn)) == 10
        lookahead_rows.queue(conn, flood, now)
        assert len(lookahead_rows.entries(conn)) == lookahead_rows.MAX_ENTRIES
        later = now + lookahead_rows.MAX_AGE + timedelta(seconds=1)
        lookahead_rows.queue(conn, flood[-1:], later)  # what no consumer took in time goes
        assert [e.project for e in lookahead_rows.entries(conn)] == [flood[-1].project]


def test_first_fetch_of_metadata_reads_the_required_projects_once(
    backends: Backends,
    client: FlaskClient,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    lookahead: Lookahead,
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
    assert [e.kind for e in queued(backends)] == [lookahead_rows.DOWNLOAD]  # not read-ahead
    assert run_lookahead(backends)
    assert fake_upstream.hits("/simple/dep-a/") == 0


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
    lookahead: Lookahead,
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
    assert wait_until(lambda: settled(backends, lookahead), 30)
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
    assert client.get("/simple/app/").status_code == 200
    assert client.get(METADATA).status_code == 404  # nothing to fetch: upstream has none
    assert client.get(METADATA.removesuffix(".metadata")).status_code == 200
    assert (lookahead_rows.REQUIRES, "app", "app-1.0-py3-none-any.whl") in {
        (e.kind, e.project, e.filename) for e in queued(backends)
    }
    with backends.engine.begin() as conn:  # only what the download queued
        lookahead_rows.take(conn, [lookahead_rows.PROJECT], 10)
    assert run_lookahead(backends, lambda: signed(backends, "dep-a"))


def test_a_first_look_reads_ahead_through_a_wheel_without_upstream_metadata(
    backends: Backends,
    client: FlaskClient,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    lookahead: Lookahead,
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
