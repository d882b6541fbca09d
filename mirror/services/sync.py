"""Bring one project up to date with upstream, then decide and re-render.

The network fetch happens outside any database transaction; the reconciliation that follows is
one write transaction that records what upstream lists (new files wait as ``pending``).
Evidence for the admission checks (provenance, content) is gathered after it, again outside
any transaction, and a second transaction records it, decides every file once and re-renders.
Until its evidence is in, a file that needs checks is not admitted (``mirror.policy.verdicts``).
A crash between the two leaves pending files, which the scheduler's next cycle decides.

A first look (the mirror has never read the project) is one write transaction instead: its
files are decided in memory and inserted in their final states (``_record_first_look``).
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError as DbIntegrityError

from mirror.db import (
    block_rows,
    bulk,
    file_rows,
    page_rows,
    project_rows,
    record_rows,
    status_rows,
)
from mirror.db.engine import writing
from mirror.db.records import UNSAVED, FileRecord
from mirror.errors import NotFoundError, UpstreamError
from mirror.policy.admission import State
from mirror.policy.verdicts import FIRST_LOOK
from mirror.services import evidence, pages, refusal, state_changes, targets
from mirror.services.backends import Backends
from mirror.services.single_flight import single_flight
from mirror.timeutil import format_timestamp
from mirror.upstream.client import Page, ProjectNotFoundError
from mirror.upstream.listing import Listing, UpstreamFile, parse_page

log = logging.getLogger(__name__)

UPSTREAM_STATUS = "upstream"
# A new file's evidence, shared by all of a listing's new files (stored once as text, never
# changed in place: recording evidence makes a new document).
_HISTORY: dict[str, Any] = {FIRST_LOOK: True}
_NO_EVIDENCE: dict[str, Any] = {}


@dataclass(frozen=True)
class Fetched:
    """What one look at upstream gave: a new page (and its parsed listing), "unchanged",
    "gone", or an error."""

    page: Page | None = None
    listing: Listing | None = None
    gone: bool = False
    error: str | None = None


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

    Raises:
        NotFoundError: the rules refuse the project, or neither upstream nor the mirror has it.
        UpstreamError: upstream failed and the mirror has nothing to fall back on.
    """
    _refuse(backends, project)
    with backends.engine.connect() as conn:
        row = project_rows.get_project(conn, project)
    if row is not None and not force and _fresh(backends, row):
        return
    fetched = _fetch(backends, project, row)
    if row is None and fetched.page is not None and fetched.listing is not None:
        _record_first_look(backends, project, fetched.page, fetched.listing)
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


def _fetch(backends: Backends, project: str, row: Row[Any] | None) -> Fetched:
    try:
        page = backends.upstream.fetch_page(
            project, row.etag if row else None, row.last_modified if row else None
        )
    except ProjectNotFoundError:
        return Fetched(gone=True)
    except UpstreamError as exc:
        if row is None:
            _record_upstream(backends, str(exc))
            raise
        return Fetched(error=str(exc))
    if page is None or (row is not None and row.page_sha256 == page.digest):
        return Fetched()  # not modified, or the same bytes again
    # Parsed here, outside the write transaction: other processes' writers need not wait.
    return Fetched(page=page, listing=_parse(project, page, backends.clock.now()))


def _parse(project: str, page: Page, now: datetime) -> Listing:
    listing = parse_page(project, page.body, page.content_type, page.url, now)
    if listing.skipped:
        log.warning(
            "skipped upstream entries",
            extra={"project": project, "count": len(listing.skipped), "first": listing.skipped[0]},
        )
    return listing


def _record_first_look(backends: Backends, project: str, page: Page, listing: Listing) -> None:
    """Record, decide and render a project the mirror has never read, in one transaction.

    Its files are decided before they are inserted, in their final states: a first look
    at a project that lists thousands of files writes each row once and reads none back, on
    the client's critical path. Only provenance is gathered first (content inspection
    downloads files: the caller or the scheduler's next cycle does it).

    Deciding, rendering and building the inserts happen before the write transaction, which
    then only runs them: concurrent first looks (uv asks for every project at once) hold the
    database's one write lock in turn, so whatever they do under it is done one at a time.
    Only a block added meanwhile, the one thing the decisions read from the database, makes it
    decide again.
    """
    now = backends.clock.now()
    new = [_new_record(None, f, now, ListingChanges()) for f in listing.files]
    gathered = evidence.gather(backends, project, inspect=False, rows=new)
    new = [
        row._replace(**change) if (change := evidence.recorded(row, gathered)) else row
        for row in new
    ]
    with backends.engine.connect() as conn, conn.begin():
        first = _FirstLook.decided(conn, backends, project, new, now)
    try:
        with writing(backends.engine) as conn:
            look = first.still_valid(conn) or _FirstLook.decided(conn, backends, project, new, now)
            look.record(conn, page, now)
    except DbIntegrityError:
        # Another host recorded this project's first look at the same moment; theirs stands.
        log.info("concurrent first look", extra={"project": project})
    else:
        state_changes.log_moves(project, look.evaluation.moves)
    _record_upstream(backends, None)


@dataclass(frozen=True)
class _FirstLook:
    """A first look's decisions (with the blocks they were made under), the pages, and the
    inserts of its files, audit events and its pages' queued targets."""

    project: str
    evaluation: state_changes.Evaluation
    rendered: pages.Rendered
    files: bulk.Prepared
    events: bulk.Prepared
    targets: bulk.Prepared

    @classmethod
    def decided(
        cls,
        conn: Connection,
        backends: Backends,
        project: str,
        new: list[FileRecord],
        now: datetime,
    ) -> "_FirstLook":
        evaluation = state_changes.judge(conn, backends, project, new, now)
        rendered = pages.render_pages(backends.blobs, project, evaluation.admitted)
        dialect = conn.dialect
        return cls(
            project=project,
            evaluation=evaluation,
            rendered=rendered,
            files=file_rows.prepare_files(dialect, _settled(new, evaluation, now)),
            events=state_changes.prepare_events(dialect, project, evaluation.moves, now),
            targets=targets.prepare_first(dialect, project, rendered.page_targets(), now),
        )

    def record(self, conn: Connection, page: Page, now: datetime) -> None:
        """Create the project with its files, events, pages and their queued targets.

        Raises:
            sqlalchemy.exc.IntegrityError: the project exists (another host's first look).
        """
        row = project_rows.create_project(conn, self.project, now)
        bulk.run(conn, self.files, project_id=row.id)
        bulk.run(conn, self.events)
        files_deferred = not targets.queued_state(conn, self.project)
        if files_deferred:
            # The pages' targets only: thousands of files' are queued by the next full batch,
            # which the scheduler runs once clients pause (``pages.queue_deferred_targets``).
            bulk.run(conn, self.targets)
        else:
            # Targets left by an earlier life of the project: queue the difference.
            records = record_rows.project_records(conn, self.project)
            targets.queue_project(conn, self.project, self.rendered.targets(records), now)
        project_rows.update_project(conn, row.id, checked_at=now, **page.validators())
        pages.record_page_row(conn, self.project, self.rendered, now, files_deferred=files_deferred)

    def still_valid(self, conn: Connection) -> "_FirstLook | None":
        """This, unless the project's blocks changed since it was decided."""
        current = block_rows.active_blocks(conn, self.project)
        return self if current == self.evaluation.blocks else None


def _settled(
    new: list[FileRecord], evaluation: state_changes.Evaluation, now: datetime
) -> list[FileRecord]:
    """The new records in the states ``evaluation`` moves them to."""
    # A first look makes thousands of moves with a handful of distinct decisions.
    values = {decision: state_changes.decided(decision, now) for _, decision in evaluation.moves}
    moved = {row.filename: values[decision] for row, decision in evaluation.moves}
    return [row._replace(**moved[row.filename]) if row.filename in moved else row for row in new]


def _reconcile(backends: Backends, project: str, fetched: Fetched) -> ListingChanges:
    now = backends.clock.now()
    with writing(backends.engine) as conn:
        row = project_rows.get_project(conn, project)
        if fetched.gone and row is None:
            raise NotFoundError(f"no project {project!r} upstream")
        if row is None:
            row = project_rows.create_project(conn, project, now)
        changes = _apply_fetch(conn, project, row, fetched, now)
    _record_upstream(backends, fetched.error)
    return changes


def _apply_fetch(
    conn: Connection, project: str, row: Row[Any], fetched: Fetched, now: datetime
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
            seen = _record_listing(conn, row, fetched.listing, now)
            validators = fetched.page.validators()
        project_rows.update_project(
            conn, row.id, checked_at=now, upstream_gone=False, last_error=None, **validators
        )
    return seen


def _record_listing(
    conn: Connection, row: Row[Any], listing: Listing, now: datetime
) -> ListingChanges:
    """Insert new files, update known ones, and mark the ones upstream no longer lists."""
    known = {f.filename: f for f in file_rows.project_files(conn, row.id)}
    changes = ListingChanges()
    new_files, records = [], []
    for upstream_file in listing.files:
        existing = known.pop(upstream_file.filename, None)
        if existing is None:
            new_files.append(_new_record(row.checked_at, upstream_file, now, changes))
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
    file_rows.update_file(conn, row.id, **values)
    return row._replace(**values)


def _new_record(
    previous_look: datetime | None, f: UpstreamFile, now: datetime, changes: ListingChanges
) -> FileRecord:
    """An upstream file the mirror has not seen, not saved yet; ``previous_look``: when the
    mirror last read the project (None: this is its first look)."""
    if previous_look and f.upload_time and f.upload_time < previous_look:
        changes.anomalies[f.filename] = (
            f"appeared with upload time {format_timestamp(f.upload_time)}, before the mirror's "
            f"previous look at {format_timestamp(previous_look)}: held for review"
        )
    return FileRecord(
        id=UNSAVED,
        project_id=UNSAVED,
        filename=f.filename,
        version=f.version,
        url=f.url,
        sha256=f.sha256,
        size=f.size,
        upload_time=f.upload_time,
        requires_python=f.requires_python,
        yanked=f.yanked,
        yanked_reason=f.yanked_reason,
        upstream_metadata_sha256=f.metadata_sha256,
        metadata_sha256=f.metadata_sha256,
        metadata_size=None,
        provenance_url=f.provenance_url,
        provenance_sha256=None,  # set once its attestations verify
        first_seen_at=now,
        present_upstream=True,
        state=State.PENDING,
        reason="new upstream file",
        decided_by="upstream",
        state_at=now,
        hold_until=None,
        cached=False,
        # Files of the first look that are already past quarantine are history: admitted
        # without per-file checks (docs/admission.md, "Cost").
        evidence=_HISTORY if previous_look is None else _NO_EVIDENCE,
    )


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
    return _updated(conn, row, values) if values else row


def _record_upstream(backends: Backends, error: str | None) -> None:
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
