"""The scheduler survives every error of a cycle: a project that raises anything, a database
locked past its busy timeout, a full disk. Each is logged, counted in the status row /metrics
reads, retried with backoff, and once the fault is gone the next cycle signs what was queued
and re-signs the timestamp."""

import errno
import re
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from mirror.db import project_rows, status_rows, targets
from mirror.db.schema import notifications
from mirror.scheduler import Loop, run_cycle
from mirror.services import notify, pages, publish, sync
from mirror.services.backends import Backends
from mirror.services.status import SCHEDULER_STATUS
from mirror.timeutil import Clock
from tests.support.fake_upstream import FakeUpstream

OLD = datetime.now(UTC) - timedelta(days=30)
# Past the timestamp's re-signing age (an hour), so a cycle that completes re-signs it.
LATER = Clock(timedelta(hours=2))


def scheduler_status(backends: Backends) -> dict[str, Any]:
    with backends.engine.connect() as conn:
        status: dict[str, Any] = status_rows.get_status(conn, SCHEDULER_STATUS)
    return status


def pending(backends: Backends) -> int:
    with backends.engine.connect() as conn:
        return targets.pending_count(conn)


def with_queued_targets(backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    """A client's first look: the files' targets wait in the queue for the scheduler."""
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    sync.first_look(backends, "demo")
    assert pending(backends) > 0


def assert_recovers(backends: Backends, loop: Loop) -> None:
    """The fault is gone: the next cycle completes, signs the queue, re-signs the timestamp."""
    expiry = publish.timestamp_expiry(backends.metadata)
    backends.clock = LATER
    assert loop.cycle() == loop.cycles.base
    assert pending(backends) == 0
    renewed = publish.timestamp_expiry(backends.metadata)
    assert renewed is not None and expiry is not None and renewed > expiry
    assert scheduler_status(backends)["last_cycle_errors"] == {}


@pytest.mark.parametrize(
    "error",
    [
        OverflowError("date value out of range"),
        OSError(errno.ENOSPC, "No space left on device"),
        OperationalError("UPDATE files", {}, sqlite3.OperationalError("database is locked")),
        RuntimeError("anything"),
    ],
    ids=["overflow", "enospc", "locked", "anything"],
)
def test_a_project_that_raises_anything_costs_only_that_project_and_backs_off(
    backends: Backends, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    tried: list[str] = []

    def refresh(backends: Backends, project: str, **kw: Any) -> None:
        tried.append(project)
        if project == "bad":
            raise error

    monkeypatch.setattr(sync, "refresh", refresh)
    monkeypatch.setattr(project_rows, "stale_projects", lambda conn, before: ["bad", "good"])
    loop = Loop(backends)
    assert loop.cycle() == loop.cycles.base  # the cycle completed: the failure is the project's
    status = scheduler_status(backends)
    assert status["project_failures_total"] == 1 and status["projects_in_backoff"] == 1
    assert status["last_complete_cycle"] is not None
    loop.cycle()  # within the backoff: "bad" is not tried again, "good" is
    assert sorted(tried) == ["bad", "good", "good"]
    backends.clock = Clock(loop.projects.delay(1) + timedelta(seconds=1))
    loop.cycle()  # the backoff is over
    assert tried.count("bad") == 2 and loop.projects.failures["bad"] == 2
    assert loop.projects.delay(2) == 2 * loop.projects.delay(1)


def test_a_failed_step_is_counted_the_next_steps_run_and_the_loop_backs_off(
    backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    def render_stale(*args: object) -> list[str]:
        raise OperationalError("SELECT pages", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(pages, "render_stale", render_stale)
    loop = Loop(backends)
    backends.clock = LATER
    expiry_before = publish.timestamp_expiry(backends.metadata)
    first, second = loop.cycle(), loop.cycle()
    assert (first, second) == (loop.cycles.base, 2 * loop.cycles.base)
    # The publish after the failed step ran: the timestamp was re-signed all the same.
    assert publish.timestamp_expiry(backends.metadata) != expiry_before
    status = scheduler_status(backends)
    assert status["cycle_failures_total"] == 2 and status["last_complete_cycle"] is None
    assert "render stale pages" in status["last_cycle_errors"]
    report = run_cycle(backends)
    assert not report.complete and report.tuf_error is None


def publish_failures(backends: Backends) -> list[str]:
    query = select(notifications.c.summary).where(notifications.c.kind == notify.PUBLISH_FAILED)
    with backends.engine.connect() as conn:
        return list(conn.scalars(query.order_by(notifications.c.id)))


def test_a_publish_failure_is_notified_when_it_starts_not_every_cycle_it_lasts(
    backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk_full = True
    maintain = publish.maintain

    def maintain_unless_full(backends: Backends) -> publish.Maintenance:
        if disk_full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return maintain(backends)

    monkeypatch.setattr(publish, "maintain", maintain_unless_full)
    loop = Loop(backends)
    for _ in range(3):
        loop.cycle()
    (summary,) = publish_failures(backends)
    assert summary.startswith("publishing the signed metadata failed:")
    assert "No space left on device" in summary
    disk_full = False
    loop.cycle()
    loop.cycle()
    assert len(publish_failures(backends)) == 1
    disk_full = True
    loop.cycle()
    loop.cycle()
    assert len(publish_failures(backends)) == 2


@pytest.fixture
def short_busy_timeout(backends: Backends) -> Backends:
    """The state database gives up on a held write lock after 0.2 s instead of 30 s."""

    @event.listens_for(backends.engine, "connect")
    def busy_timeout(dbapi_connection: Any, record: object) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=200")

    backends.engine.dispose()
    return backends


def test_a_publish_failure_not_recorded_is_recorded_the_next_cycle_it_lasts(
    short_busy_timeout: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database that kept the event out (locked) frees up while the publish still fails:
    the failure is notified then, not lost for as long as it lasts."""
    backends = short_busy_timeout

    def full_disk(backends: Backends) -> publish.Maintenance:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(publish, "maintain", full_disk)
    database = backends.engine.url.database
    assert database is not None
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    loop = Loop(backends)
    try:
        loop.cycle()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert publish_failures(backends) == []
    loop.cycle()
    loop.cycle()
    assert len(publish_failures(backends)) == 1


def test_a_database_locked_past_its_busy_timeout_does_not_end_the_scheduler(
    short_busy_timeout: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    backends = short_busy_timeout
    with_queued_targets(backends, fake_upstream, tmp_path)
    database = backends.engine.url.database
    assert database is not None
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process's long write transaction
    loop = Loop(backends)
    try:
        wait = loop.cycle()
        assert wait == loop.cycles.base and loop.cycle() == 2 * loop.cycles.base
        assert pending(backends) > 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_recovers(backends, loop)
    assert scheduler_status(backends)["cycle_failures_total"] == 2


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 48 MB tmpfs, where the machine lets the tests mount one (root, no container limits)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or 'not root'}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * (1 << 20))
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_does_not_end_the_scheduler(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    small_disk: Path,
    tmp_path: Path,
) -> None:
    backends = make_backends(storage={"path": str(small_disk / "data")})
    with_queued_targets(backends, fake_upstream, tmp_path)
    filler = fill(small_disk)
    loop = Loop(backends)
    backends.clock = LATER
    try:
        assert loop.cycle() == loop.cycles.base  # incomplete: the publish failed
        assert loop.cycle() == 2 * loop.cycles.base
        assert pending(backends) > 0
    finally:
        filler.unlink()
    backends.clock = Clock()
    assert_recovers(backends, loop)
    backends.engine.dispose()


def test_metrics_show_the_failures_the_backoff_and_the_last_complete_cycle(
    backends: Backends, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refresh(backends: Backends, project: str, **kw: Any) -> None:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(sync, "refresh", refresh)
    monkeypatch.setattr(project_rows, "stale_projects", lambda conn, before: ["bad"])
    Loop(backends).cycle()
    metrics = client.get("/metrics").data.decode()
    assert "mirror_scheduler_project_failures_total 1.0" in metrics
    assert "mirror_scheduler_projects_in_backoff 1.0" in metrics
    assert "mirror_scheduler_cycle_failures_total 0.0" in metrics
    last = re.search(r"^mirror_scheduler_last_cycle_timestamp_seconds (\S+)$", metrics, re.M)
    assert last and abs(float(last[1]) - backends.clock.now().timestamp()) < 60
    expiry = re.search(r"^mirror_tuf_timestamp_expiry_seconds (\S+)$", metrics, re.M)
    signed = publish.timestamp_expiry(backends.metadata)
    assert expiry and signed and float(expiry[1]) == signed.timestamp()


def test_readyz_turns_not_ready_when_the_last_cycle_is_old_or_the_timestamp_near_expiry(
    backends: Backends, client: FlaskClient
) -> None:
    Loop(backends).cycle()
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.data
    body = ready.get_json()
    assert body["scheduler"]["ok"] and body["scheduler"]["last_complete_cycle"]
    assert body["tuf"]["ok"] and body["tuf"]["timestamp_expires"]
    backends.clock = Clock(timedelta(minutes=11))  # interval 1 s: the 10 min floor applies
    late = client.get("/readyz")
    assert late.status_code == 503
    assert late.get_json()["scheduler"]["reason"] == (
        "no complete scheduler cycle for more than 0:10:00"
    )
    assert late.get_json()["tuf"]["ok"]
    backends.clock = Clock(timedelta(hours=23, minutes=30))  # signed for a day, not since
    expiring = client.get("/readyz")
    assert expiring.status_code == 503
    assert expiring.get_json()["tuf"]["reason"] == "the TUF timestamp expires within 1:00:00"
