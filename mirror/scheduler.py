"""The admission/publish loop: `mirror worker`, or beside `mirror serve` on the embedded default.

Each cycle re-reads upstream for projects whose look is older than the TTL
(``scheduler.concurrency`` at a time: each waits for a round trip to upstream, so one at a time
a mirror of thousands of projects spends minutes a cycle), admits files whose quarantine ended,
clears downloads a killed process left behind, renders again the pages first downloads left
stale (``pages.render_stale``), then publishes what changed as one TUF batch and keeps the
signed metadata from expiring. Nobody has to ask. A thread of its own signs what web requests
queued, once they pause (``mirror.services.follow_up``), during cycles too: a pipeline's
``mirror install`` waits about a minute for a file it was just shown to be signed. Others
read and download ahead of clients what web requests queued (``mirror.services.prefetch``),
off the serving workers.
"""

import logging
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from mirror.db import project_rows, status_rows
from mirror.db.engine import writing
from mirror.errors import MirrorError
from mirror.services import notify, pages, publish, sync
from mirror.services.backends import Backends
from mirror.services.follow_up import FollowUp
from mirror.services.prefetch import Lookahead
from mirror.services.status import SCHEDULER_STATUS
from mirror.services.webhooks import Deliverer, note_stalled_scheduler
from mirror.storage.staging import staging_leftovers
from mirror.timeutil import format_timestamp

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class CycleReport:
    refreshed: list[str] = field(default_factory=list)
    evaluated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    tuf: publish.Maintenance | None = None
    tuf_error: str | None = None
    # Steps outside the projects' (selection, cleanup, rendering, publishing) that failed.
    step_errors: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every step ran: the projects' failures are theirs, retried with backoff."""
        return not self.step_errors


@dataclass
class Backoff:
    """Failures in a row per key and when each may be tried again: the delay doubles from
    ``base`` with every failure, up to ``ceiling``; a success forgets the key."""

    base: timedelta
    ceiling: timedelta
    failures: dict[str, int] = field(default_factory=dict)
    retry_at: dict[str, datetime] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def failed(self, key: str, now: datetime) -> timedelta:
        with self._lock:
            self.failures[key] = count = self.failures.get(key, 0) + 1
            delay = self.delay(count)
            self.retry_at[key] = now + delay
        return delay

    def delay(self, failures: int) -> timedelta:
        return min(self.base * 2 ** min(failures - 1, 32), self.ceiling)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self.failures.pop(key, None)
            self.retry_at.pop(key, None)

    def due(self, key: str, now: datetime) -> bool:
        with self._lock:
            return self.retry_at.get(key, now) <= now

    def waiting(self, now: datetime) -> int:
        with self._lock:
            return sum(1 for moment in self.retry_at.values() if moment > now)


def project_backoff(backends: Backends) -> Backoff:
    return Backoff(
        base=backends.config.scheduler.interval,
        ceiling=backends.config.scheduler.max_backoff,
    )


def run_cycle(
    backends: Backends, projects: list[str] | None = None, backoff: Backoff | None = None
) -> CycleReport:
    """One cycle; with ``projects``, refresh exactly those now, whatever their age.

    Nothing a step raises ends the cycle: a project's failure is reported (and, with
    ``backoff``, that project waits before it is tried again), a failed step is reported in
    ``step_errors`` and the next steps run, so the timestamp is re-signed whatever else fails.
    """
    now = backends.clock.now()
    report = CycleReport()
    backoff = backoff or project_backoff(backends)
    selected = _step(report, "select", lambda: _select(backends, projects, now))
    stale, released = selected or ([], [])
    if projects is None:
        stale = [p for p in stale if backoff.due(p, now)]
        released = [p for p in released if backoff.due(p, now)]
    workers = backends.config.scheduler.concurrency
    report.refreshed, report.evaluated = list(stale), released
    report.failed = _each(stale, lambda p: sync.refresh(backends, p, force=True), workers)
    report.failed |= _each(released, lambda p: sync.evaluate_only(backends, p), workers)
    for project in stale + released:
        if project in report.failed:
            backoff.failed(project, now)
        else:
            backoff.succeeded(project)
    _step(report, "staging cleanup", lambda: _clear_staging(backends, now))
    _step(
        report,
        "render stale pages",
        lambda: pages.render_stale(backends.engine, backends.blobs, now),
    )
    # One TUF batch for everything this cycle changed, then the re-signing schedule.
    report.tuf = _step(report, "publish", lambda: publish.maintain(backends))
    report.tuf_error = report.step_errors.get("publish")
    return report


def _select(
    backends: Backends, projects: list[str] | None, now: datetime
) -> tuple[list[str], list[str]]:
    """The projects to re-read (their look is older than the TTL) and to re-decide."""
    if projects is not None:
        return projects, []
    with backends.engine.connect() as conn:
        stale = project_rows.stale_projects(conn, now - backends.config.upstream.ttl)
        released = [p for p in project_rows.released_projects(conn, now) if p not in stale]
    return stale, released


def _clear_staging(backends: Backends, now: datetime) -> None:
    for leftover in staging_leftovers(backends.blobs.staging_dir(), now):
        leftover.unlink(missing_ok=True)


def _step(report: CycleReport, name: str, action: Callable[[], T]) -> T | None:
    try:
        return action()
    except Exception as exc:  # a database locked or away, a full disk, a bug: all the same here
        _log_failure("cycle step failed", exc, step=name)
        report.step_errors[name] = _reason(exc)
        return None


def _each(projects: list[str], action: Callable[[str], None], workers: int) -> dict[str, str]:
    """Run ``action`` on every project, ``workers`` at a time; project -> error for those it
    failed for (the others go on)."""
    with ThreadPoolExecutor(workers, thread_name_prefix="cycle") as pool:
        errors = list(pool.map(lambda project: _attempt(action, project), projects))
    return {project: error for project, error in zip(projects, errors, strict=True) if error}


def _attempt(action: Callable[[str], None], project: str) -> str | None:
    try:
        action(project)
    except Exception as exc:  # one project's failure, whatever it is, costs only that project
        _log_failure("project failed in the cycle", exc, project=project)
        return _reason(exc)
    return None


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, MirrorError) else f"{type(exc).__name__}: {exc}"[:500]


def _log_failure(message: str, exc: Exception, **context: str) -> None:
    # An expected failure (upstream down) is one line; anything else gets its traceback.
    if isinstance(exc, MirrorError):
        log.warning(message, extra={**context, "error": str(exc)})
    else:
        log.error(message, exc_info=exc, extra={**context, "error": _reason(exc)})


def run_forever(backends: Backends) -> None:
    """Cycle every ``scheduler.interval`` until SIGTERM or SIGINT."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_until(backends, stop)


def run_until(backends: Backends, stop: threading.Event, follow_up: FollowUp | None = None) -> None:
    """Cycle every ``scheduler.interval``, with the follow-up watch (``FollowUp(backends)``
    unless given) on a thread of its own, until ``stop`` is set; a cycle under way is finished
    first, the notification deliveries (``mirror.services.webhooks``) on another, and the
    read-ahead web requests queued (``mirror.services.prefetch``) on others. A cycle
    that could not run every step is followed by the next one after a delay
    that doubles, up to ``scheduler.max_backoff``."""
    interval = backends.config.scheduler.interval.total_seconds()
    log.info("scheduler started", extra={"interval_seconds": interval})
    watch = threading.Thread(
        target=_watch, args=(follow_up or FollowUp(backends), stop), name="follow-up", daemon=True
    )
    watch.start()
    notifier = threading.Thread(
        target=_notify, args=(Deliverer(backends), stop), name="notify", daemon=True
    )
    notifier.start()
    lookahead = threading.Thread(
        target=Lookahead(backends).run_until, args=(stop,), name="lookahead", daemon=True
    )
    lookahead.start()
    loop = Loop(backends)
    while not stop.is_set():
        stop.wait(loop.cycle().total_seconds())
    watch.join()
    notifier.join()
    lookahead.join()
    log.info("scheduler stopped")


@dataclass
class Loop:
    """The loop's memory between cycles: the backoff of projects and of the loop itself, and
    the failures counted since the process started (recorded in the status row, for
    /metrics; kept here too, because the database may be what failed)."""

    backends: Backends
    projects: Backoff = field(init=False)
    cycles: Backoff = field(init=False)
    project_failures: int = 0
    cycle_failures: int = 0
    last_complete: str | None = None
    # Whether a failure of the publish under way was notified: once when it starts, not every
    # cycle it lasts (and again the next cycle when recording the event failed).
    publish_failure_notified: bool = False

    def __post_init__(self) -> None:
        self.projects = project_backoff(self.backends)
        self.cycles = project_backoff(self.backends)

    def cycle(self) -> timedelta:
        """Run one cycle and record it; how long to wait before the next."""
        report = run_cycle(self.backends, backoff=self.projects)
        now = self.backends.clock.now()
        _log_cycle(report)
        self.project_failures += len(report.failed)
        if report.complete:
            self.last_complete = format_timestamp(now)
            self.cycles.succeeded("cycle")
            wait = self.cycles.base
        else:
            self.cycle_failures += 1
            wait = self.cycles.failed("cycle", now)
            log.error(
                "cycle incomplete; the next in %s",
                wait,
                extra={"failed_steps": sorted(report.step_errors)},
            )
        self._record(report, now)
        if report.tuf_error is None:
            self.publish_failure_notified = False
        elif not self.publish_failure_notified:
            self.publish_failure_notified = self._notify_publish_failure(report.tuf_error, now)
        return wait

    def _notify_publish_failure(self, error: str, now: datetime) -> bool:
        """Record the event; whether that worked."""
        event = notify.Event(
            kind=notify.PUBLISH_FAILED,
            summary=f"publishing the signed metadata failed: {error}",
            details={"error": error},
        )
        try:
            with writing(self.backends.engine) as conn:
                notify.record(conn, event, now)
        except Exception as exc:  # the database may be why publishing failed
            _log_failure("recording the publish failure failed", exc)
            return False
        return True

    def _record(self, report: CycleReport, now: datetime) -> None:
        status: dict[str, Any] = {
            "last_cycle": format_timestamp(now),
            "last_cycle_errors": report.step_errors,
            "project_failures_total": self.project_failures,
            "cycle_failures_total": self.cycle_failures,
            "projects_in_backoff": self.projects.waiting(now),
        }
        try:
            with self.backends.engine.begin() as conn:
                # Another process's (a restarted worker's) last complete cycle stands until ours.
                previous = status_rows.get_status(conn, SCHEDULER_STATUS) or {}
                status["last_complete_cycle"] = self.last_complete or previous.get(
                    "last_complete_cycle"
                )
                status_rows.set_status(conn, SCHEDULER_STATUS, status, now)
        except Exception as exc:
            _log_failure("recording the cycle failed", exc)


def _watch(follow_up: FollowUp, stop: threading.Event) -> None:
    while not stop.wait(follow_up.poll_seconds):
        _follow_up(follow_up)


def _notify(deliverer: Deliverer, stop: threading.Event) -> None:
    poll = deliverer.settings.poll_interval.total_seconds()
    while not stop.wait(poll):
        _notify_once(deliverer)


def _notify_once(deliverer: Deliverer) -> None:
    # A passing failure (the database away) must not end the thread: the queue keeps the
    # events for the next poll.
    try:
        note_stalled_scheduler(deliverer.backends)
        deliverer.run()
    except Exception as exc:
        _log_failure("delivering notifications failed; retried at the next poll", exc)


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
