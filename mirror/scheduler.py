"""The admission/publish loop: `mirror worker`, or beside `mirror serve` on the embedded default.

Each cycle re-reads upstream for projects whose look is older than the TTL, admits files whose
quarantine has ended, clears downloads a killed process left behind, renders again the pages
first downloads left stale (``pages.render_stale``), then publishes what changed as one TUF
batch and keeps the signed metadata from expiring. Nobody has to ask. Between cycles it signs
what web requests queued, once they pause (``mirror.services.follow_up``).
"""

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mirror.db import queries
from mirror.errors import MirrorError
from mirror.services import files, pages, publish, sync
from mirror.services.context import Services
from mirror.services.follow_up import POLL_SECONDS, FollowUp

log = logging.getLogger(__name__)


@dataclass
class CycleReport:
    refreshed: list[str] = field(default_factory=list)
    evaluated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    tuf: publish.Maintenance | None = None
    tuf_error: str | None = None


def run_cycle(services: Services, projects: list[str] | None = None) -> CycleReport:
    """One cycle; with ``projects``, refresh exactly those now, whatever their age."""
    now = services.clock.now()
    report = CycleReport()
    with services.engine.connect() as conn:
        if projects is None:
            ttl = services.config.duration("upstream", "ttl")
            stale = queries.stale_projects(conn, now - ttl)
            released = [p for p in queries.released_projects(conn, now) if p not in stale]
        else:
            stale, released = projects, []
    for project in stale:
        _guarded(report, project, lambda p: sync.refresh(services, p, force=True))
        report.refreshed.append(project)
    for project in released:
        _guarded(report, project, lambda p: sync.evaluate_only(services, p))
        report.evaluated.append(project)
    for leftover in files.staging_leftovers(services.blobs.staging_dir(), now):
        leftover.unlink(missing_ok=True)
    pages.render_stale(services.engine, services.blobs, now)
    # One TUF batch for everything this cycle changed, then the re-signing schedule.
    try:
        report.tuf = publish.maintain(services)
    except MirrorError as exc:
        report.tuf_error = str(exc)
        log.error("TUF publishing failed", extra={"error": str(exc)})
    return report


def _guarded(report: CycleReport, project: str, action: Callable[[str], None]) -> None:
    try:
        action(project)
    except MirrorError as exc:
        report.failed[project] = str(exc)
        log.warning("cycle step failed", extra={"project": project, "error": str(exc)})


def run_forever(services: Services) -> None:
    """Cycle every ``scheduler.interval`` until SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    interval = services.config.duration("scheduler", "interval").total_seconds()
    log.info("scheduler started", extra={"interval_seconds": interval})
    follow_up = FollowUp(services)
    next_cycle = time.monotonic()
    while not stop.is_set():
        if time.monotonic() >= next_cycle:
            _log_cycle(run_cycle(services))
            next_cycle = time.monotonic() + interval
        else:
            _follow_up(follow_up)
        stop.wait(min(POLL_SECONDS, max(0.0, next_cycle - time.monotonic())))
    log.info("scheduler stopped")


def _log_cycle(report: CycleReport) -> None:
    if report.refreshed or report.evaluated or report.failed:
        log.info(
            "cycle done",
            extra={
                "refreshed": len(report.refreshed),
                "evaluated": len(report.evaluated),
                "failed": len(report.failed),
            },
        )


def _follow_up(follow_up: FollowUp) -> None:
    # Twice a second: a passing failure (the database busy, a disk full) must not end the
    # scheduler; the cycle signs whatever is left.
    try:
        follow_up.poll()
    except MirrorError as exc:
        log.error("signing queued changes failed; the cycle retries", extra={"error": str(exc)})
    except Exception:
        log.exception("signing queued changes failed; the cycle retries")
