"""Bring one project up to date with upstream, then decide and re-render.

The network fetch happens outside any database transaction; the reconciliation that follows is
one write transaction that records what upstream lists (new files wait as ``pending``).
Evidence for the admission checks (provenance, content) is gathered after it, again outside
any transaction, and a second transaction records it, decides every file once and re-renders.
Until its evidence is in, a file that needs checks is not admitted (``mirror.policy.verdicts``).
A crash between the two leaves pending files, which the scheduler's next cycle decides.

A first look (the mirror has never read the project) is one write transaction instead: its
files are decided in memory and inserted in their final states (``first_look``).
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError as DbIntegrityError

from mirror.config import AgeClock
from mirror.db import file_rows, page_rows, private_rows, project_rows
from mirror.db.engine import writing
from mirror.db.records import FileRecord
from mirror.errors import NotFoundError
from mirror.policy.verdicts import AGE_CLOCK
from mirror.services import evidence, fetching, pages, refusal, state_changes
from mirror.services.backends import Backends
from mirror.services.first_look import take_first_look
from mirror.services.single_flight import single_flight
from mirror.timeutil import format_timestamp
from mirror.upstream.listing import Listing, UpstreamFile

log = logging.getLogger(__name__)


@dataclass
class ListingChanges:
    """Anomalies by filename, and whether something shown on the page (a yank) changed.

    ``files``: the project's files as recording a listing left them (by filename), None when
    no listing was recorded. Evidence gathering starts from them instead of reading thousands
    of rows again.
    """

    anomalies: dict[str, str] = field(default_factory=dict)
    page_changed: bool = False
    files: list[FileRecord] | None = None


def refresh(backends: Backends, project: str, *, force: bool = False, inspect: bool = True) -> None:
    """Fetch and reconcile ``project``, gather the evidence its files need, then decide every
    file and re-render.

    ``inspect`` False leaves content inspection (file downloads) to the scheduler: a page
    request answers without downloading the files inside their quarantine.

    A private project is decided again instead (``evaluate_only``): upstream is never asked
    about it.

    Raises:
        NotFoundError: the rules refuse the project, or neither upstream nor the mirror has it.
        UpstreamError: upstream failed and the mirror has nothing to fall back on.
    """
    if refusal.upstream_refusal(backends, project) is not None:
        evaluate_only(backends, project)  # raises when the rules refuse it
        return
    with backends.engine.connect() as conn:
        row = project_rows.get_project(conn, project)
    if row is not None and not force and _fresh(backends, row):
        return
    fetched = fetching.fetch(backends, project, row)
    if row is None and fetched.page is not None and fetched.listing is not None:
        take_first_look(backends, project, fetched.page, fetched.listing)
        if inspect:
            evaluate_only(backends, project)
        return
    try:
        changes = _reconcile(backends, project, fetched)
    except DbIntegrityError:
        # Another process recorded this project's first look at the same moment; theirs stands.
        log.info("concurrent first look", extra={"project": project})
        changes = ListingChanges()
    # With upstream down every check would only time out.
    gathered = (
        evidence.gather(backends, project, inspect=inspect, rows=changes.files)
        if fetched.error is None
        else evidence.Gathered()
    )
    _decide(backends, project, gathered, changes)


def first_look(backends: Backends, project: str) -> None:
    """Read a project the mirror has no page for, once: a caller that finds another thread or
    process (on this host) at it waits for it instead of reading upstream again.

    Evidence that needs downloads is left to the scheduler, so the caller answers quickly.
    """
    with single_flight(backends, f"first-look-{project}"):
        with backends.engine.connect() as conn:
            if page_rows.get_page(conn, project) is not None:
                return
        refresh(backends, project, inspect=False)


def evaluate_only(backends: Backends, project: str) -> None:
    """Re-run the admission policy without re-reading the project page (quarantines ending,
    rule changes), first gathering the evidence still missing.

    Raises:
        NotFoundError: the rules refuse the project (nothing is fetched for it).
    """
    _refuse(backends, project)
    _decide(backends, project, evidence.gather(backends, project, inspect=True), ListingChanges())


def _refuse(backends: Backends, project: str) -> None:
    """Raises NotFoundError when the rules refuse ``project``: upstream is never asked for it."""
    refused = refusal.refusal(backends, project)
    if refused is not None:
        log.warning("refused project", extra={"project": project, "reason": refused.reason})
        raise refused.error()


def _decide(
    backends: Backends, project: str, gathered: evidence.Gathered, changes: ListingChanges
) -> None:
    now = backends.clock.now()
    with writing(backends.engine) as conn:
        row = project_rows.get_project(conn, project)
        if row is None:
            raise NotFoundError(f"unknown project {project!r}")
        rows = file_rows.project_files(conn, row.id)
        recorded = evidence.record(conn, rows, gathered)
        if recorded:
            fresh = {r.id: r for r in file_rows.files_by_id(conn, recorded)}
            rows = [fresh.get(r.id, r) for r in rows]
        evaluation = state_changes.evaluate(conn, backends, project, rows, now, changes.anomalies)
        # A new provenance copy of an admitted file changes the page too, as does a yank.
        if (
            evaluation.admitted_changed
            or gathered.copies
            or changes.page_changed
            or page_rows.get_page(conn, project) is None
        ):
            pages.render_and_queue(conn, backends.blobs, row.id, project, now, evaluation.admitted)


def _fresh(backends: Backends, row: Row[Any]) -> bool:
    ttl = backends.config.upstream.ttl
    return row.checked_at is not None and backends.clock.now() - row.checked_at < ttl


def _reconcile(backends: Backends, project: str, fetched: fetching.Fetched) -> ListingChanges:
    now = backends.clock.now()
    with writing(backends.engine) as conn:
        if private_rows.is_private(conn, project):
            # Made private by an upload since this look began: what upstream said is dropped.
            raise NotFoundError(f"{project}: {refusal.PRIVATE}")
        row = project_rows.get_project(conn, project)
        if fetched.gone and row is None:
            raise refusal.unknown(project, "no such project upstream").error()
        if row is None:
            row = project_rows.create_project(conn, project, now)
        clock = backends.config.age_clock_for(project)
        changes = _apply_fetch(conn, project, row, fetched, now, clock)
    fetching.record_upstream(backends, fetched.error)
    return changes


def _apply_fetch(
    conn: Connection,
    project: str,
    row: Row[Any],
    fetched: fetching.Fetched,
    now: datetime,
    clock: AgeClock,
) -> ListingChanges:
    seen = ListingChanges()
    if fetched.error:
        log.warning(
            "upstream unavailable; serving what was admitted",
            extra={"project": project, "error": fetched.error},
        )
        project_rows.update_project(conn, row.id, last_error=fetched.error)
    elif fetched.gone:
        # A project pulled as a whole keeps its admitted releases installable (README.md, "What
        # gets admitted").
        log.warning("project gone upstream; keeping admitted files", extra={"project": project})
        project_rows.update_project(
            conn, row.id, upstream_gone=True, checked_at=now, last_error=None
        )
    else:
        validators: dict[str, Any] = {}
        if fetched.page is not None and fetched.listing is not None:  # None: 304 Not Modified
            seen = _record_listing(conn, row, fetched.listing, now, clock)
            validators = fetched.page.validators() | project_rows.status_values(
                fetched.listing.status
            )
            # A new marker changes the pages; so does the first one recorded (pages rendered
            # before markers were read carry an older API version).
            recorded = row.upstream_status and project_rows.status_of(row)
            seen.page_changed |= recorded != fetched.listing.status
        project_rows.update_project(
            conn, row.id, checked_at=now, upstream_gone=False, last_error=None, **validators
        )
    return seen


def _record_listing(
    conn: Connection, row: Row[Any], listing: Listing, now: datetime, clock: AgeClock
) -> ListingChanges:
    """Insert new files, update known ones, and mark the ones upstream no longer lists."""
    known = {f.filename: f for f in file_rows.project_files(conn, row.id)}
    changes = ListingChanges()
    new_files, records = [], []
    for upstream_file in listing.files:
        existing = known.pop(upstream_file.filename, None)
        if existing is None:
            new_files.append(_new_record(row.checked_at, upstream_file, now, clock, changes))
        else:
            records.append(_update(conn, existing, upstream_file, changes))
    if new_files:
        file_rows.insert_files(conn, row.id, new_files)
        records += _inserted(conn, row.id, new_files)
    for missing in known.values():
        if missing.present_upstream:
            missing = _updated(conn, missing, {"present_upstream": False})
        records.append(missing)
    changes.files = sorted(records, key=lambda record: record.filename)
    return changes


def _inserted(conn: Connection, project_id: int, new_files: list[FileRecord]) -> list[FileRecord]:
    """The records of the files just inserted, with the ids the database gave."""
    ids = file_rows.file_ids(conn, project_id)
    return [r._replace(id=ids[r.filename], project_id=project_id) for r in new_files]


def _updated(conn: Connection, row: FileRecord, values: dict[str, Any]) -> FileRecord:
    file_id = file_rows.update_file(conn, row, **values)  # a history file gets its row
    return row._replace(id=file_id, **values)


def _new_record(
    previous_look: datetime | None,
    f: UpstreamFile,
    now: datetime,
    clock: AgeClock,
    changes: ListingChanges,
) -> FileRecord:
    """An upstream file the mirror has not seen since its ``previous_look`` at the project
    (None: the project was never read)."""
    if previous_look and f.upload_time and f.upload_time < previous_look:
        changes.anomalies[f.filename] = (
            f"appeared with upload time {format_timestamp(f.upload_time)}, before the mirror's "
            f"previous look at {format_timestamp(previous_look)}: held for review"
        )
    return fetching.candidate(f, now, history=previous_look is None, clock=clock)


def _update(
    conn: Connection, row: FileRecord, f: UpstreamFile, changes: ListingChanges
) -> FileRecord:
    if f.sha256 != row.sha256 or (row.size is not None and f.size not in (None, row.size)):
        # Same filename, other bytes: upstream files are immutable, so this is an attack or a
        # broken index. Never switch to the new bytes; hold the file for a person.
        changes.anomalies[row.filename] = f"upstream changed the file's digest to {f.sha256}"
    elif row.upload_time and f.upload_time != row.upload_time:
        changes.anomalies[row.filename] = (
            f"upload time changed from {format_timestamp(row.upload_time)} to "
            f"{format_timestamp(f.upload_time) if f.upload_time else 'none'}"
        )
    values: dict[str, Any] = {}
    if (f.yanked, f.yanked_reason) != (row.yanked, row.yanked_reason):
        values.update(yanked=f.yanked, yanked_reason=f.yanked_reason)
        changes.page_changed = True
    if not row.present_upstream:
        values["present_upstream"] = True
    if row.upload_time is None and f.upload_time is not None:
        values["upload_time"] = f.upload_time
        if row.evidence and AGE_CLOCK in row.evidence:
            # Aged by its upload time from now on.
            values["evidence"] = {k: v for k, v in row.evidence.items() if k != AGE_CLOCK}
    return _updated(conn, row, values) if values else row
