"""What the mirror reports about itself: its readiness (``/readyz``) and the state its gauges
show (``/metrics``), read from the database, the stores and the status rows every node shares.

Readiness stays true while upstream is down, because admitted files are still served
(stale-if-error), but says so; it is false when the mirror's own database or storage fail, and
when it no longer keeps itself up to date: the scheduler's last complete cycle is too old, or
the signed TUF timestamp is about to expire (docs/deployment.md, "The scheduler").
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mirror.db import file_rows, page_rows, status_rows, targets
from mirror.db.engine import check_connection
from mirror.errors import StorageError
from mirror.services import publish
from mirror.services.backends import Backends
from mirror.services.fetching import UPSTREAM_STATUS
from mirror.timeutil import format_timestamp, parse_timestamp

# The status row (``status_rows.get_status``) where the scheduler records its cycles: readiness and
# the gauges read it, on every node.
SCHEDULER_STATUS = "scheduler"


def readiness(mirror: Backends) -> dict[str, Any]:
    """The readiness report; ``ready`` says whether this node should get traffic."""
    report: dict[str, Any] = {"database": "ok", "storage": "ok"}
    scheduler: dict[str, Any] | None = None
    try:
        check_connection(mirror.engine)
        with mirror.engine.connect() as conn:
            upstream = status_rows.get_status(conn, UPSTREAM_STATUS) or {"ok": True}
            scheduler = status_rows.get_status(conn, SCHEDULER_STATUS) or {}
    except StorageError as exc:
        report["database"] = str(exc)
        upstream = {"ok": None}
    try:
        mirror.blobs.check()  # the bucket too, when blobs live in S3
    except StorageError as exc:
        report["storage"] = str(exc)
    report["upstream"] = upstream
    now = mirror.clock.now()
    if scheduler is not None:
        report["scheduler"] = scheduler_report(mirror, scheduler, now)
    report["tuf"] = _timestamp(mirror, now)
    ready = (
        report["database"] == "ok"
        and report["storage"] == "ok"
        and report.get("scheduler", {}).get("ok", True)
        and report["tuf"]["ok"]
    )
    report["ready"] = ready
    report["degraded"] = ready and not upstream.get("ok", True)
    if report["degraded"]:
        report["note"] = "upstream unreachable: serving admitted files only (stale-if-error)"
    return report


def scheduler_report(mirror: Backends, status: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Whether the scheduler (of this host or a worker) completed a cycle recently enough."""
    last = status.get("last_complete_cycle")
    report: dict[str, Any] = {"ok": True, "last_complete_cycle": last}
    if last is None:
        return report  # a new mirror: its first cycle is under way
    interval = mirror.config.scheduler.interval
    limit = max(3 * interval, mirror.config.scheduler.max_cycle_age)
    if now - parse_timestamp(last) > limit:
        report["ok"] = False
        report["reason"] = f"no complete scheduler cycle for more than {limit}"
    if status.get("last_cycle_errors"):
        report["last_cycle_errors"] = status["last_cycle_errors"]
    return report


def _timestamp(mirror: Backends, now: datetime) -> dict[str, Any]:
    """Whether the signed timestamp outlives the margin; none signed yet counts as fine."""
    try:
        expires = publish.timestamp_expiry(mirror.metadata)
    except StorageError as exc:
        return {"ok": False, "reason": f"cannot read the TUF timestamp: {exc}"}
    if expires is None:
        return {"ok": True, "timestamp_expires": None}
    report: dict[str, Any] = {"ok": True, "timestamp_expires": format_timestamp(expires)}
    margin = mirror.config.scheduler.timestamp_margin
    if expires - now < margin:
        report["ok"] = False
        report["reason"] = f"the TUF timestamp expires within {margin}"
    return report


@dataclass(frozen=True)
class StateGauges:
    """What the state gauges show, as one scrape reads it from the database."""

    files_by_state: dict[str, int]
    upstream: dict[str, Any]
    scheduler: dict[str, Any]
    tuf_pending: int
    tuf_deferred: int


def state_gauges(mirror: Backends) -> StateGauges:
    with mirror.engine.connect() as conn:
        return StateGauges(
            files_by_state=file_rows.state_counts(conn),
            upstream=status_rows.get_status(conn, UPSTREAM_STATUS) or {"ok": True},
            scheduler=status_rows.get_status(conn, SCHEDULER_STATUS) or {},
            tuf_pending=targets.pending_count(conn),
            tuf_deferred=len(page_rows.deferred_pages(conn)),
        )
