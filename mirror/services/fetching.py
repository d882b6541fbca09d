"""The first steps of every look at a project: fetch its upstream page, parse it, and turn the
files it lists into candidate records (not saved yet, ``pending``).

Also records whether upstream answered, for /readyz and /metrics (docs/deployment.md).
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from mirror.config import AgeClock
from mirror.db import status_rows
from mirror.db.engine import writing
from mirror.db.records import UNSAVED, Decided, FileRecord, listed_records
from mirror.errors import UpstreamError
from mirror.policy.admission import State
from mirror.policy.verdicts import AGE_CLOCK, FIRST_LOOK, FIRST_SEEN, HISTORY_EVIDENCE
from mirror.services.backends import Backends
from mirror.timeutil import format_timestamp
from mirror.upstream.client import Page, ProjectNotFoundError
from mirror.upstream.listing import Listing, UpstreamFile, parse_page

log = logging.getLogger(__name__)

UPSTREAM_STATUS = "upstream"
# A new file's evidence, shared by all of a listing's new files (stored once as text, never
# changed in place: recording evidence makes a new document), by (history, aged from first
# sight). Which clock ages a file is evidence too: the review shows it (docs/admission.md,
# "Age without an upload time").
_EVIDENCE: dict[tuple[bool, bool], dict[str, Any]] = {
    (False, False): {},
    (True, False): HISTORY_EVIDENCE,
    (False, True): {AGE_CLOCK: FIRST_SEEN},
    (True, True): {FIRST_LOOK: True, AGE_CLOCK: FIRST_SEEN},
}


@dataclass(frozen=True)
class Fetched:
    """What one look at upstream gave: a new page (and its parsed listing), "unchanged",
    "gone", or an error."""

    page: Page | None = None
    listing: Listing | None = None
    gone: bool = False
    error: str | None = None


def fetch(backends: Backends, project: str, row: Row[Any] | None) -> Fetched:
    """Fetch ``project``'s upstream page (conditionally, when ``row`` knows its validators) and
    parse it.

    Raises:
        UpstreamError: upstream failed and the mirror has never read the project.
    """
    try:
        page = backends.upstream.for_project(project).fetch_page(
            project, row.etag if row else None, row.last_modified if row else None
        )
    except ProjectNotFoundError:
        return Fetched(gone=True)
    except UpstreamError as exc:
        if row is None:
            record_upstream(backends, str(exc))
            raise
        return Fetched(error=str(exc))
    if page is None or (row is not None and row.page_sha256 == page.digest):
        return Fetched()  # not modified, or the same bytes again
    # Parsed here, outside the write transaction: other processes' writers need not wait.
    return Fetched(page=page, listing=parse(project, page, backends.clock.now()))


def parse(project: str, page: Page, now: datetime) -> Listing:
    """The files ``page`` lists; an entry that cannot be read is skipped (and logged) alone."""
    listing = parse_page(project, page.body, page.content_type, page.url, now)
    if listing.skipped:
        log.warning(
            "skipped upstream entries",
            extra={"project": project, "count": len(listing.skipped), "first": listing.skipped[0]},
        )
    return listing


def candidate(
    f: UpstreamFile, now: datetime, *, history: bool, clock: AgeClock = "hold"
) -> FileRecord:
    """An upstream file the mirror has not seen, as a record not saved yet. ``history``: it is
    listed at the project's first look, where files already past quarantine are admitted
    without per-file checks (docs/admission.md, "Cost"). ``clock``: what its project's index
    ages a file without an upload time by."""
    return candidates([f], now, history=history, clock=clock)[0]


def candidates(
    files: Iterable[UpstreamFile], now: datetime, *, history: bool, clock: AgeClock = "hold"
) -> list[FileRecord]:
    """``candidate`` of each of ``files``, in their order (a first look makes thousands)."""
    timed, untimed = _EVIDENCE[history, False], _EVIDENCE[history, clock == FIRST_SEEN]
    new = Decided(now, True, State.PENDING, "new upstream file", "upstream", now, None, False)
    return listed_records(files, UNSAVED, new, timed, untimed)


def record_upstream(backends: Backends, error: str | None) -> None:
    """Remember whether the last look at upstream worked, for /readyz and /metrics."""
    now = backends.clock.now()
    with backends.engine.connect() as conn:
        change = _upstream_status(status_rows.get_status(conn, UPSTREAM_STATUS), error, now)
    # Every first look ends here: the usual answer (still fine) takes no write lock, which
    # concurrent first looks would otherwise queue for once more on the client's path.
    if change is None:
        return
    with writing(backends.engine) as conn:
        value = _upstream_status(status_rows.get_status(conn, UPSTREAM_STATUS), error, now)
        if value is not None:
            status_rows.set_status(conn, UPSTREAM_STATUS, value, now)
    if error is not None:
        log.error("upstream unreachable", extra={"error": error})


def _upstream_status(
    previous: dict[str, Any] | None, error: str | None, now: datetime
) -> dict[str, Any] | None:
    """The upstream status to record after ``previous``, or None when it stays as it is."""
    previous = previous or {}
    if error is None and previous.get("ok", True):
        return None
    if error is None:
        return {"ok": True}
    since = previous.get("since") if not previous.get("ok", True) else None
    return {"ok": False, "error": error, "since": since or format_timestamp(now)}
