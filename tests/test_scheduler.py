"""The scheduler's loop: projects re-read several at a time, and the queue watched while a
cycle runs (a cycle over thousands of projects takes minutes)."""

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mirror import scheduler
from mirror.db import targets
from mirror.errors import UpstreamError
from mirror.scheduler import CycleReport, run_cycle
from mirror.services import sync
from mirror.services.backends import Backends
from mirror.services.follow_up import FollowUp
from tests.support.fake_upstream import FakeUpstream
from tests.support.waiting import wait_until

OLD = datetime.now(UTC) - timedelta(days=30)
WHEEL = "packages/demo/demo-1.0-py3-none-any.whl"


def published(backends: Backends) -> dict[str, tuple[str, int]]:
    with backends.engine.connect() as conn:
        return targets.published(conn, "demo")


def test_a_cycle_rereads_projects_several_at_a_time_and_reports_each_failure(
    backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"p{n}" for n in range(8)]
    # Passes only when four refreshes are under way at once (the default concurrency).
    together = threading.Barrier(4, timeout=30)
    done: list[str] = []

    def refresh(backends: Backends, project: str, force: bool = False) -> None:
        together.wait()
        if project == "p5":
            raise UpstreamError("upstream unreachable")
        done.append(project)

    monkeypatch.setattr(sync, "refresh", refresh)
    report = run_cycle(backends, names)
    assert report.refreshed == names and report.failed == {"p5": "upstream unreachable"}
    assert sorted(done) == [n for n in names if n != "p5"]


def test_the_queue_is_signed_while_a_long_cycle_runs(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    sync.first_look(backends, "demo")  # a client's: the files' targets wait for the watch
    in_cycle, stop = threading.Event(), threading.Event()

    def long_cycle(backends: Backends, **_: object) -> CycleReport:
        in_cycle.set()
        stop.wait(60)  # re-reading thousands of projects
        return CycleReport()

    monkeypatch.setattr(scheduler, "run_cycle", long_cycle)
    watch = FollowUp(backends, quiet=timedelta(0), poll_seconds=0.05)
    loop = threading.Thread(target=scheduler.run_until, args=(backends, stop, watch))
    loop.start()
    try:
        assert in_cycle.wait(30)
        assert wait_until(lambda: WHEEL in published(backends), 30)
    finally:
        stop.set()
        loop.join(60)
    assert not loop.is_alive()


def test_a_project_raising_anything_is_reported_and_the_cycle_publishes(
    backends: Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refresh(backends: Backends, project: str, force: bool = False) -> None:
        if project == "p1":
            raise OverflowError("date value out of range")

    monkeypatch.setattr(sync, "refresh", refresh)
    report = run_cycle(backends, ["p0", "p1"])
    assert report.failed == {"p1": "OverflowError: date value out of range"}
    assert report.tuf is not None and report.tuf_error is None
