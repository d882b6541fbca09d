"""Publishing: queued with each state change, signed in one batch, served as signed, crash-safe.

A plain python-tuf ``Updater`` (over the Flask test client) is the judge of every state.
"""

import dataclasses
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select, update
from tuf.ngclient import Updater

from mirror import scheduler
from mirror.app import create_app
from mirror.db import download_rows, page_rows, targets
from mirror.db.engine import writing
from mirror.db.schema import downloads, pages, tuf_pending, tuf_targets
from mirror.scheduler import run_cycle
from mirror.services import publish, review, signing, sync
from mirror.services.backends import Backends
from mirror.services.follow_up import FollowUp
from mirror.timeutil import Clock
from tests.support import dists
from tests.support.fake_upstream import FakeUpstream
from tests.support.lookahead import run_lookahead
from tests.support.tuf_clients import FlaskFetcher, plain_updater

OLD = datetime.now(UTC) - timedelta(days=30)
WHEEL = "demo-1.0-py3-none-any.whl"
SECOND = "second-1.0-py3-none-any.whl"
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


@pytest.fixture
def demo(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path, client: FlaskClient
) -> FakeUpstream:
    """demo 1.0, old enough to be admitted, with its page published by the first request and
    its file's target by the scheduler's follow-up batch."""
    return settled_demo(backends, fake_upstream, tmp_path, client)


def publish_demo(fake_upstream: FakeUpstream, tmp_path: Path, client: FlaskClient) -> FakeUpstream:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path / "build", upload_time=OLD)
    assert client.get("/simple/demo/").status_code == 200
    return fake_upstream


def settled_demo(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path, client: FlaskClient
) -> FakeUpstream:
    publish_demo(fake_upstream, tmp_path, client)
    assert run_lookahead(backends)  # reads the metadata ahead: its length is then known
    publish.publish_now(backends)  # what the scheduler does once requests pause
    return fake_upstream


def without_look_ahead(make_backends: Callable[..., Backends]) -> tuple[Backends, FlaskClient]:
    """Backends and a client whose first looks do not fetch metadata ahead of the client."""
    backends = make_backends(upstream={"prefetch_dependencies": False})
    return backends, create_app(backends.config, backends).test_client()


def updater(backends: Backends, client: FlaskClient, cache: Path) -> Updater:
    root = signing.current_root(backends.config)
    result = plain_updater("http://mirror", root, cache, FlaskFetcher(client))
    result.refresh()
    return result


def signed_bytes(up: Updater, path: str, dest: Path) -> bytes | None:
    info = up.get_targetinfo(path)
    if info is None:
        return None
    return Path(up.download_target(info, filepath=str(dest))).read_bytes()


def test_served_pages_and_files_are_the_signed_targets(
    backends: Backends, client: FlaskClient, demo: FakeUpstream, tmp_path: Path
) -> None:
    # The PEP 658 companion too: the read-ahead fetched its bytes after the first look.
    up = updater(backends, client, tmp_path / "client")
    html = client.get("/simple/demo/").data
    page = client.get("/simple/demo/", headers=JSON).data
    wheel = client.get(f"/packages/demo/{WHEEL}").data
    assert signed_bytes(up, "simple/demo/index.html", tmp_path / "a") == html
    assert signed_bytes(up, "simple/demo/index.json", tmp_path / "b") == page
    assert signed_bytes(up, f"packages/demo/{WHEEL}", tmp_path / "c") == wheel
    companion = client.get(f"/packages/demo/{WHEEL}.metadata").data
    assert signed_bytes(up, f"packages/demo/{WHEEL}.metadata", tmp_path / "d") == companion


def test_a_change_is_queued_with_its_state_and_served_once_signed(
    backends: Backends, client: FlaskClient, demo: FakeUpstream, tmp_path: Path
) -> None:
    assert client.get(f"/packages/demo/{WHEEL}").status_code == 200
    before = client.get("/simple/demo/", headers=JSON).data
    review.block(backends, "demo", "==1.0", actor="test", reason="credential stealer")
    with backends.engine.connect() as conn:
        queued = {(c.op, c.path) for c in targets.pending(conn, "demo")}
    assert ("remove", f"packages/demo/{WHEEL}") in queued
    # Until the publisher signs, clients keep getting the signed page, never an unsigned one.
    assert client.get("/simple/demo/", headers=JSON).data == before
    report = publish.publish_pending(backends)
    assert report.published == len(queued) and report.deferred == 0
    assert json.loads(client.get("/simple/demo/", headers=JSON).data)["files"] == []
    up = updater(backends, client, tmp_path / "client")
    assert up.get_targetinfo(f"packages/demo/{WHEEL}") is None
    digest = hashlib.sha256(demo.get_file("demo", WHEEL).content).hexdigest()
    assert backends.blobs.exists(f"blobs/sha256/{digest[:2]}/{digest}")  # kept, not served
    assert client.get(f"/tuf/targets/packages/demo/{digest}.{WHEEL}").status_code == 404


def test_first_looks_queued_meanwhile_share_the_next_batch(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    def first_look(name: str) -> None:
        fake_upstream.publish_release(name, "1.0", tmpdir=tmp_path / name, upload_time=OLD)
        sync.refresh(backends, name, inspect=False)

    def signed(name: str) -> bool:
        with backends.engine.connect() as conn:
            return targets.published_target(conn, f"simple/{name}/index.json") is not None

    first_look("alpha")
    first_look("beta")
    # alpha's request signs beta's first look too ...
    report = publish.publish_now(backends, "alpha")
    assert report is not None and report.published > 0 and signed("beta")
    # ... so beta's request signs nothing, not even a later first look that is not its own
    # (and no history file's PEP 658 companion waits: it is queued once its bytes are stored).
    first_look("gamma")
    assert publish.publish_now(backends, "beta") == publish.PublishReport(0, 0)
    assert not signed("gamma")
    report = publish.publish_now(backends, "gamma")
    assert report is not None and report.published > 0 and signed("gamma")


def test_a_first_look_removes_targets_an_earlier_life_of_the_project_left(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    gone = "packages/demo/demo-0.1.tar.gz"
    with writing(backends.engine) as conn:
        conn.execute(
            insert(tuf_targets),
            {"path": gone, "project": "demo", "sha256": "0" * 64, "length": 1}
            | {"published_at": OLD},
        )
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    sync.refresh(backends, "demo", inspect=False)
    with backends.engine.connect() as conn:
        queued = {(c.op, c.path) for c in targets.pending(conn, "demo")}
    assert ("remove", gone) in queued and ("add", f"packages/demo/{WHEEL}") in queued


def test_first_looks_finishing_together_share_one_batch_of_pages(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    queue_three_first_looks(backends, fake_upstream, tmp_path)
    before = timestamp_version(backends)
    report = publish.publish_now(backends, "alpha", pages_only=True)
    assert report is not None and report.published == 6  # two pages for each of the three
    with backends.engine.connect() as conn:
        for name in ("alpha", "beta", "gamma"):
            assert set(targets.published(conn, name)) == {
                f"simple/{name}/index.html",
                f"simple/{name}/index.json",
            }
    # beta's request finds its pages signed: it waits for no lock and signs nothing.
    assert publish.publish_now(backends, "beta", pages_only=True) == publish.PublishReport(0, 0)
    assert timestamp_version(backends) == before + 1


def test_a_first_look_signs_its_pages_first_and_its_files_in_the_next_batch(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    backends, client = without_look_ahead(make_backends)
    publish_demo(fake_upstream, tmp_path, client)
    assert WHEEL in client.get("/simple/demo/", headers=JSON).text
    with backends.engine.connect() as conn:
        assert set(targets.published(conn, "demo")) == {
            "simple/demo/index.html",
            "simple/demo/index.json",
        }
        # Nor are the files' targets queued: the next full batch queues them.
        assert targets.pending(conn, "demo") == []
        assert page_rows.deferred_pages(conn) == ["demo"]
    assert "mirror_tuf_deferred_projects 1.0" in client.get("/metrics").text
    # The follow-up batch (here run by hand) signs the file the page lists; a file admitted as
    # history gets its admission record once it has a row of its own (docs/tuf.md).
    report = publish.publish_now(backends)
    # Its .metadata is signed once a client's fetch stored it (docs/tuf.md, "What is signed").
    assert report is not None and report.published == 1 and report.deferred == 0
    with backends.engine.connect() as conn:
        assert page_rows.deferred_pages(conn) == []
    assert "mirror_tuf_deferred_projects 0.0" in client.get("/metrics").text
    up = updater(backends, client, tmp_path / "client")
    assert up.get_targetinfo(f"packages/demo/{WHEEL}") is not None


def test_a_release_blocked_before_the_files_batch_never_becomes_a_target(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    backends, client = without_look_ahead(make_backends)
    fake_upstream.publish_release("demo", "2.0", tmpdir=tmp_path / "two", upload_time=OLD)
    publish_demo(fake_upstream, tmp_path, client)
    review.block(backends, "demo", "==1.0", actor="test", reason="credential stealer")
    publish.publish_now(backends)
    up = updater(backends, client, tmp_path / "client")
    assert up.get_targetinfo(f"packages/demo/{WHEEL}") is None
    assert up.get_targetinfo("packages/demo/demo-2.0-py3-none-any.whl") is not None
    with backends.engine.connect() as conn:
        assert page_rows.deferred_pages(conn) == []  # the block's new pages queued them all
        # 2.0's .metadata waits for a client to store its bytes, unqueued (docs/tuf.md).
        assert targets.pending(conn, "demo") == []


def test_the_scheduler_queues_and_signs_the_files_of_pages_already_signed(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    queue_three_first_looks(backends, fake_upstream, tmp_path)
    publish.publish_now(backends, "alpha", pages_only=True)  # the clients' requests did
    with backends.engine.connect() as conn:
        assert targets.ready(conn) == []  # nothing queued: only the pages' deferral is left
    report = FollowUp(backends, quiet=timedelta(0)).poll()
    # Each project's file (history: no admission record until it has a row of its own).
    assert report is not None and report.published == 3 and all_signed(backends)


def test_a_companion_fetched_before_the_files_batch_is_signed_in_it(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    backends, client = without_look_ahead(make_backends)
    publish_demo(fake_upstream, tmp_path, client)
    data = client.get(f"/packages/demo/{WHEEL}.metadata").data  # a resolver's read
    report = publish.publish_now(backends)  # the follow-up batch: it fetches nothing
    assert report is not None and report.deferred == 0
    up = updater(backends, client, tmp_path / "client")
    assert signed_bytes(up, f"packages/demo/{WHEEL}.metadata", tmp_path / "m") == data


def test_a_companion_whose_bytes_a_sibling_wheel_stored_is_signed_in_the_files_batch(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    backends, client = without_look_ahead(make_backends)
    native = dists.build_wheel(
        tmp_path / "native", "demo", "1.0", native=True, tag="cp311-cp311-manylinux_2_17_x86_64"
    )
    fake_upstream.add_file("demo", native, upload_time=OLD, metadata=True)
    publish_demo(fake_upstream, tmp_path, client)
    data = client.get(f"/packages/demo/{WHEEL}.metadata").data  # the one the resolver picked
    report = publish.publish_now(backends)
    assert report is not None and report.deferred == 0
    up = updater(backends, client, tmp_path / "client")
    companion = f"packages/demo/{native.name}.metadata"
    assert signed_bytes(up, companion, tmp_path / "m") == data  # the same METADATA


def timestamp_version(backends: Backends) -> int:
    version: int = json.loads(backends.metadata.read("timestamp.json") or b"")["signed"]["version"]
    return version


def queue_three_first_looks(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    for name in ("alpha", "beta", "gamma"):
        fake_upstream.publish_release(name, "1.0", tmpdir=tmp_path / name, upload_time=OLD)
        sync.refresh(backends, name, inspect=False)


def all_signed(backends: Backends) -> bool:
    with backends.engine.connect() as conn:
        return not targets.ready(conn) and all(
            targets.published(conn, name) for name in ("alpha", "beta", "gamma")
        )


def test_the_scheduler_signs_what_first_looks_queued_once_they_pause(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    queue_three_first_looks(backends, fake_upstream, tmp_path)
    watch = FollowUp(backends, quiet=timedelta(hours=1))  # requests still coming
    assert watch.poll() is None and not all_signed(backends)
    watch.quiet = timedelta(0)  # they paused
    before = timestamp_version(backends)
    report = watch.poll()
    assert report is not None and report.published > 0 and all_signed(backends)
    assert timestamp_version(backends) == before + 1  # one batch for the three
    assert watch.poll() is None  # nothing new queued since


def test_downloads_keep_the_follow_up_batch_waiting_too(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    queue_three_first_looks(backends, fake_upstream, tmp_path)
    hour_ago = backends.clock.now() - timedelta(hours=1)
    download = {"project": "alpha", "version": "1.0", "filename": "alpha-1.0.tar.gz"}
    with writing(backends.engine) as conn:
        # The first looks are long over.
        conn.execute(update(tuf_pending).values(queued_at=hour_ago))
        conn.execute(update(pages).values(targets_deferred_since=hour_ago))
        download_rows.add_downloads(conn, [{**download, "at": backends.clock.now()}])
    watch = FollowUp(backends, quiet=timedelta(minutes=10))
    assert watch.poll() is None  # a client is still downloading
    with writing(backends.engine) as conn:
        conn.execute(update(downloads).values(at=hour_ago))
    report = watch.poll()
    assert report is not None and all_signed(backends)


def test_requests_that_never_pause_delay_the_follow_up_batch_by_longest_at_most(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    queue_three_first_looks(backends, fake_upstream, tmp_path)
    report = FollowUp(backends, quiet=timedelta(hours=1), longest=timedelta(0)).poll()
    assert report is not None and all_signed(backends)


def test_a_failing_follow_up_does_not_end_the_scheduler(
    backends: Backends, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(self: FollowUp) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(FollowUp, "poll", fail)
    scheduler._follow_up(FollowUp(backends))  # returns: the loop goes on
    assert "signing queued changes failed" in caplog.text


def test_a_companion_fetched_by_a_client_is_signed_by_the_next_batch(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    backends, client = without_look_ahead(make_backends)
    settled_demo(backends, fake_upstream, tmp_path, client)
    companion = f"packages/demo/{WHEEL}.metadata"
    with backends.engine.connect() as conn:
        assert targets.pending(conn, "demo") == []  # a history file's waits for its bytes
    data = client.get(f"/{companion}").data
    with backends.engine.connect() as conn:
        assert [c.length for c in targets.pending(conn, "demo")] == [len(data)]
    report = publish.publish_now(backends, "demo")  # no fetching: the length is known now
    assert report is not None and report.published == 1 and report.deferred == 0
    up = updater(backends, client, tmp_path / "c")
    assert signed_bytes(up, companion, tmp_path / "m") == data


def test_the_scheduler_fetches_a_bounded_number_of_companions_per_cycle_oldest_first(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    for name in ("alpha", "beta", "gamma"):
        fake_upstream.publish_release(name, "1.0", tmpdir=tmp_path / name, upload_time="now")
        sync.refresh(backends, name, inspect=False)
    # A week later their quarantine is over: admitted with rows of their own, their .metadata
    # companions are queued, of a length their bytes will tell.
    later = dataclasses.replace(backends, clock=Clock(timedelta(days=8)))
    for name in ("alpha", "beta", "gamma"):
        sync.evaluate_only(later, name)

    def waiting() -> list[str]:
        with backends.engine.connect() as conn:
            return [row.project for row in targets.unknown_lengths(conn)]

    assert waiting() == ["alpha", "beta", "gamma"]
    publish.publish_pending(later, max_fetches=2)
    assert waiting() == ["gamma"]
    publish.publish_pending(later, max_fetches=2)
    assert waiting() == []


@pytest.mark.parametrize("step", ["bins-written", "snapshot-written", "timestamp-written"])
def test_a_crash_at_any_step_leaves_valid_metadata_and_the_next_publish_completes(
    backends: Backends, client: FlaskClient, demo: FakeUpstream, tmp_path: Path, step: str
) -> None:
    updater(backends, client, tmp_path / "early")  # a client that trusts the state before
    demo.publish_release("second", "1.0", tmpdir=tmp_path / "build", upload_time=OLD)
    sync.refresh(backends, "second")
    stored_before = set(backends.metadata.list())

    def crash(reached: str) -> None:
        if reached == step:
            raise KeyboardInterrupt(f"killed after {reached}")

    with pytest.raises(KeyboardInterrupt):
        publish.publish_pending(backends, crash_hook=crash)
    new_names = set(backends.metadata.list()) - stored_before
    leftovers = {name: backends.metadata.read(name) for name in new_names}
    assert leftovers  # the crash left files behind
    with backends.engine.connect() as conn:
        assert targets.pending(conn, "second")  # nothing marked published
    # Whatever the step, a client still verifies everything.
    after_crash = updater(backends, client, tmp_path / "late")
    assert after_crash.get_targetinfo(f"packages/demo/{WHEEL}") is not None

    report = publish.publish_pending(backends)
    assert report.published > 0
    for cache in ("early", "late", "fresh"):  # no rollback for clients that saw the crash
        up = updater(backends, client, tmp_path / cache)
        assert up.get_targetinfo(f"packages/second/{SECOND}") is not None
    # Versions are never reused: what the crash wrote is still there, byte for byte.
    for name, data in leftovers.items():
        if name != "timestamp.json":
            assert backends.metadata.read(name) == data
    current = json.loads(backends.metadata.read("timestamp.json") or b"")["signed"]["meta"]
    crashed = max(_versions(leftovers, "snapshot"), default=0)
    if step == "snapshot-written":  # the orphaned snapshot's version is skipped, not reused
        assert current["snapshot.json"]["version"] == crashed + 1


def _versions(files: dict[str, bytes | None], role: str) -> list[int]:
    return [int(n.split(".")[0]) for n in files if n.endswith(f".{role}.json")]


def test_timestamp_is_resigned_and_roles_renewed_on_schedule_without_changes(
    make_backends,
    fake_upstream: FakeUpstream,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    backends = make_backends(upstream={"ttl": "30d"})
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path / "build", upload_time=OLD)
    assert run_cycle(backends, ["demo"]).tuf.publish.published > 0  # type: ignore[union-attr]
    first = json.loads(backends.metadata.read("timestamp.json") or b"")["signed"]["version"]
    backends.clock = Clock(timedelta(minutes=30))
    report = run_cycle(backends)
    assert report.tuf is not None and not report.tuf.timestamp_refreshed
    backends.clock = Clock(timedelta(hours=2))
    report = run_cycle(backends)
    assert report.tuf is not None and report.tuf.timestamp_refreshed
    timestamp = json.loads(backends.metadata.read("timestamp.json") or b"")["signed"]
    assert timestamp["version"] == first + 1
    backends.clock = Clock(timedelta(hours=13))
    report = run_cycle(backends)
    assert report.tuf is not None
    assert {"snapshot", "timestamp", "bin-00", "bin-ff"} <= set(report.tuf.renewed)
    # The renewed metadata still verifies for a plain client.
    client = create_app(backends.config, backends).test_client()
    updater(backends, client, tmp_path / "client")
    # A week on, the queue rows of old batches are gone; the metadata is the record.
    with backends.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tuf_pending)).scalar() > 0
    backends.clock = Clock(timedelta(days=8))
    run_cycle(backends)
    with backends.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tuf_pending)).scalar() == 0


def test_tuf_urls_and_cache_headers(
    backends: Backends, client: FlaskClient, demo: FakeUpstream
) -> None:
    timestamp = client.get("/tuf/metadata/timestamp.json")
    assert timestamp.status_code == 200 and timestamp.headers["Cache-Control"] == "no-cache"
    root = client.get("/tuf/metadata/1.root.json")
    assert "immutable" in root.headers["Cache-Control"]
    assert root.data == signing.current_root(backends.config)
    assert client.get("/tuf/metadata/../keys").status_code == 404
    assert client.get("/tuf/metadata/9.root.json").status_code == 404
    digest = hashlib.sha256(demo.get_file("demo", WHEEL).content).hexdigest()
    target = client.get(f"/tuf/targets/packages/demo/{digest}.{WHEEL}")
    assert target.status_code == 200
    assert target.data == client.get(f"/packages/demo/{WHEEL}").data
    assert client.get(f"/tuf/targets/packages/demo/{'0' * 64}.{WHEEL}").status_code == 404
    metrics = client.get("/metrics").data.decode()
    assert "mirror_tuf_pending_changes 0.0" in metrics  # the follow-up batch signed all
    assert "mirror_tuf_timestamp_expires_in_seconds 8" in metrics  # 8xxxx s: about a day
    page = client.get("/simple/demo/").data
    page_hash = hashlib.sha256(page).hexdigest()
    assert client.get(f"/tuf/targets/simple/demo/{page_hash}.index.html").data == page
    assert client.get(f"/tuf/targets/simple/demo/{digest}.index.html").status_code == 404
