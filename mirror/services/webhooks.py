"""Delivering notifications to the configured webhooks (docs/notifications.md).

Events wait in the database (``mirror.services.notify`` records them). A delivery worker (a
thread beside every scheduler, or ``mirror notify deliver``) makes one delivery per event and
subscribed webhook, then claims due deliveries one at a time with a lease, sends each outside
any transaction and records the outcome: several workers on one database send each delivery
once, and a restart loses nothing. A failed attempt is retried later, the delay doubling from
``notify.retry_base`` up to ``notify.retry_max``, until ``notify.max_attempts``.

A body is signed with HMAC-SHA256 under the webhook's secret; the secret and the URL (which
may carry a token of its own) are never logged: the log and the delivery log name the webhook.
"""

import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import urllib3
from sqlalchemy import Row
from urllib3.exceptions import HTTPError
from urllib3.util import Timeout

from mirror.bounded import read_at_most
from mirror.config import Webhook
from mirror.db import notification_rows, status_rows
from mirror.db.engine import writing
from mirror.services import notify
from mirror.services.backends import Backends
from mirror.services.status import SCHEDULER_STATUS, scheduler_report
from mirror.timeutil import format_timestamp
from mirror.upstream.netpolicy import CheckedPoolManager, Destinations

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Signed-Mirror-Signature"
EVENT_HEADER = "X-Signed-Mirror-Event"
DELIVERY_HEADER = "X-Signed-Mirror-Delivery"
USER_AGENT = "signed-mirror-webhooks/0.1"
# A receiver answers with a status; what it says beyond that is read up to this and dropped.
MAX_RESPONSE_BYTES = 64 * 1024
# How many events one run makes deliveries of, and how many deliveries it sends at most.
DISPATCH_BATCH = 100
SENDS_PER_RUN = 100
DELIVERY_STATES = (notification_rows.QUEUED, notification_rows.DELIVERED, notification_rows.FAILED)


def signature(secret: str, body: bytes) -> str:
    """The value of ``SIGNATURE_HEADER``: ``sha256=`` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_of(delivery: Row[Any]) -> bytes:
    """The JSON a webhook receives for a claimed delivery: the same bytes on every attempt."""
    document = {
        "id": delivery.notification_id,
        "event": delivery.kind,
        "at": format_timestamp(delivery.event_at),
        "project": delivery.project,
        "summary": delivery.summary,
        # What chat webhooks display.
        "text": delivery.summary,
        "details": delivery.details,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class RunReport:
    dispatched: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Attempt:
    """What one attempt came to: ``status`` None when no answer came."""

    ok: bool
    status: int | None
    error: str | None


class Deliverer:
    """Sends due deliveries; one per process, kept between runs (its connection pools)."""

    def __init__(self, backends: Backends) -> None:
        self.backends = backends
        self.settings = backends.config.notify
        self.hooks = {hook.name: hook for hook in self.settings.webhook}
        self._pools: dict[str, urllib3.PoolManager] = {}

    def run(self) -> RunReport:
        """Make deliveries of new events, then send what is due, until nothing is."""
        report = RunReport(dispatched=self.dispatch())
        for _ in range(SENDS_PER_RUN):
            claimed = self._claim()
            if claimed is None:
                break
            delivery, claim = claimed
            outcome = self._finish(delivery, claim, self._send(delivery))
            setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    def dispatch(self) -> int:
        """One delivery per new event and webhook subscribed to its kind; the events taken."""
        now = self.backends.clock.now()
        with notification_rows.claiming(self.backends.engine) as conn:
            events = notification_rows.claim_undispatched(conn, DISPATCH_BATCH)
            if not events:
                return 0
            notification_rows.add_deliveries(
                conn,
                [
                    {
                        "notification_id": event.id,
                        "webhook": hook.name,
                        "state": notification_rows.QUEUED,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for event in events
                    for hook in self.hooks.values()
                    if event.kind in hook.events
                ],
            )
            notification_rows.mark_dispatched(conn, [event.id for event in events], now)
        return len(events)

    def _claim(self) -> tuple[Row[Any], str] | None:
        now = self.backends.clock.now()
        # Long enough for a connection and an answer, each within the timeout.
        lease = 2 * self.settings.timeout + timedelta(seconds=30)
        claim = secrets.token_hex(16)
        with notification_rows.claiming(self.backends.engine) as conn:
            delivery = notification_rows.claim_due(conn, now, now + lease, claim)
        return None if delivery is None else (delivery, claim)

    def _send(self, delivery: Row[Any]) -> Attempt:
        hook = self.hooks.get(delivery.webhook)
        if hook is None:
            return Attempt(False, None, "webhook no longer configured")
        body = body_of(delivery)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature(hook.secret, body),
            EVENT_HEADER: delivery.kind,
            DELIVERY_HEADER: str(delivery.id),
        }
        try:
            response = self._pool(hook).request(
                "POST", hook.url, body=body, headers=headers, redirect=False, preload_content=False
            )
        except HTTPError as exc:
            return Attempt(False, None, f"{type(exc).__name__}: no answer")
        try:
            if read_at_most(response, MAX_RESPONSE_BYTES) is None:
                response.drain_conn()  # too much to keep the connection for
        except HTTPError:
            pass  # the status is in: what follows it does not matter
        finally:
            response.release_conn()
        ok = 200 <= response.status < 300
        return Attempt(ok, response.status, None if ok else f"answered HTTP {response.status}")

    def _pool(self, hook: Webhook) -> urllib3.PoolManager:
        """The webhook's connections: through the network policy, with the host the operator
        configured trusted as written; no redirect is followed and nothing is retried here
        (the queue retries)."""
        if hook.name not in self._pools:
            timeout = self.settings.timeout.total_seconds()
            self._pools[hook.name] = CheckedPoolManager(
                Destinations(hook.url),
                num_pools=2,
                maxsize=1,
                retries=False,
                timeout=Timeout(connect=min(timeout, 10.0), read=timeout),
            )
        return self._pools[hook.name]

    def _finish(self, delivery: Row[Any], claim: str, attempt: Attempt) -> str:
        """Record the attempt; which count of ``RunReport`` it adds to."""
        now = self.backends.clock.now()
        values: dict[str, Any] = {"last_status": attempt.status, "last_error": attempt.error}
        if attempt.ok:
            outcome = "delivered"
            values |= {"state": notification_rows.DELIVERED, "finished_at": now}
        elif delivery.webhook not in self.hooks or delivery.attempts >= self.settings.max_attempts:
            outcome = "failed"
            values |= {"state": notification_rows.FAILED, "finished_at": now}
        else:
            outcome = "retried"
            values["next_attempt_at"] = now + self.retry_delay(delivery.attempts)
        with writing(self.backends.engine) as conn:
            kept = notification_rows.finish_attempt(conn, delivery.id, claim, values)
        _log_attempt(delivery, attempt, outcome if kept else "lease lost")
        return outcome

    def retry_delay(self, attempts: int) -> timedelta:
        """The wait after ``attempts`` failed attempts: doubling from ``notify.retry_base``."""
        return min(self.settings.retry_base * 2 ** min(attempts - 1, 32), self.settings.retry_max)


def _log_attempt(delivery: Row[Any], attempt: Attempt, outcome: str) -> None:
    level = logging.INFO if attempt.ok else logging.WARNING
    log.log(
        level,
        "webhook %s: %s %s",
        delivery.webhook,
        delivery.kind,
        outcome,
        extra={
            "webhook": delivery.webhook,
            "event": delivery.kind,
            "delivery": delivery.id,
            "attempt": delivery.attempts,
            "status": attempt.status,
            "error": attempt.error,
        },
    )


def note_stalled_scheduler(backends: Backends) -> bool:
    """Record a ``scheduler_stalled`` event when the scheduler's last complete cycle is too
    old (what makes /readyz fail); once per stall, whichever process notices first. Whether
    one was recorded."""
    now = backends.clock.now()
    with backends.engine.connect() as conn:
        status = status_rows.get_status(conn, SCHEDULER_STATUS)
    if not status:
        return False
    report = scheduler_report(backends, status, now)
    if report["ok"]:
        return False
    event = notify.Event(
        kind=notify.SCHEDULER_STALLED,
        summary=f"scheduler stalled: {report['reason']} "
        f"(last complete cycle {report['last_complete_cycle']})",
        details=report,
        dedupe_key=f"{notify.SCHEDULER_STALLED}:{report['last_complete_cycle']}",
    )
    with writing(backends.engine) as conn:
        return notify.record(conn, event, now)


def delivery_log(
    backends: Backends, *, state: str | None = None, before: int | None = None, limit: int = 100
) -> list[Row[Any]]:
    """Deliveries with their events' kind, project and summary, newest first."""
    with backends.engine.connect() as conn:
        return notification_rows.delivery_log(conn, state=state, before_id=before, limit=limit)
