"""The admission/publish loop: `mirror worker`, or beside `mirror serve` on the embedded default.

Each cycle re-reads upstream for projects whose look is older than the TTL
(``scheduler.concurrency`` at a time: each waits for a round trip to upstream, so one at a time
a mirror of thousands of projects spends minutes a cycle), admits files whose quarantine ended,
clears downloads a killed process left behind, renders again the pages first downloads left
stale (``pages.render_stale``), then publishes what changed as one TUF batch and keeps the
signed metadata from expiring. Nobody has to ask. A thread of its own signs what web requests
queued, once they pause (``mirror.services.follow_up``), during cycles too: a pipeline's
``mirror install`` waits about a minute for a file it was just shown to be signed.
"""

import logging
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
    workers = int(services.config.get("scheduler", "concurrency"))
    report.refreshed, report.evaluated = list(stale), released
    report.failed = _each(stale, lambda p: sync.refresh(services, p, force=True), workers)
    report.failed |= _each(released, lambda p: sync.evaluate_only(services, p), workers)
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


def _each(projects: list[str], action: Callable[[str], None], workers: int) -> dict[str, str]:
    """Run ``action`` on every project, ``workers`` at a time; project -> error for those it
    failed for (the others go on)."""
    with ThreadPoolExecutor(workers, thread_name_prefix="cycle") as pool:
        errors = list(pool.map(lambda project: _attempt(action, project), projects))
    return {project: error for project, error in zip(projects, errors, strict=True) if error}


def _attempt(action: Callable[[str], None], project: str) -> str | None:
    try:
        action(project)
    except MirrorError as exc:
        log.warning("cycle step failed", extra={"project": project, "error": str(exc)})
        return str(exc)
    return None


def run_forever(services: Services) -> None:
    """Cycle every ``scheduler.interval`` until SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_until(services, stop)


def run_until(services: Services, stop: threading.Event) -> None:
    """Cycle every ``scheduler.interval``, with the follow-up watch on a thread of its own,
    until ``stop`` is set; a cycle under way is finished first."""
    interval = services.config.duration("scheduler", "interval").total_seconds()
    log.info("scheduler started", extra={"interval_seconds": interval})
    watch = threading.Thread(
        target=_watch, args=(FollowUp(services), stop), name="follow-up", daemon=True
    )
    watch.start()
    while not stop.is_set():
        _log_cycle(run_cycle(services))
        stop.wait(interval)
    watch.join()
    log.info("scheduler stopped")


def _watch(follow_up: FollowUp, stop: threading.Event) -> None:
    while not stop.wait(POLL_SECONDS):
        _follow_up(follow_up)


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
