"""A project's first look (the mirror has never read it), as the pipeline it is; each step
takes the previous step's result:

    fetch, parse       the upstream page and its files (``fetching``, called by ``sync.refresh``)
    candidates         every listed file as a pending record, in memory
    gather evidence    provenance only: content inspection downloads, so the scheduler's next
                       cycle or the file's first download does it (docs/admission.md, "Cost")
    decide             the admission policy on every candidate (``state_changes.judge``)
    render             the project's pages from what is admitted
    prepare            the project's history (the files admitted because they were already
                       older than the quarantine) as one listing, the inserts of the other
                       files, the audit events and the queued targets
    record             one write transaction: the project, its history, files, events and
                       page row
    queue for signing  the pages' targets; the files' are queued by the scheduler's deferred
                       batch once clients pause (``pages.queue_deferred_targets``)

Everything up to "prepare" happens before the write transaction, which then only runs the
inserts: concurrent first looks (uv asks for every project at once) hold the database's one
write lock in turn, so whatever they do under it is done one at a time. Each row is written
once and none is read back, on the client's critical path. Only a block added meanwhile, the
one thing the decisions read from the database, makes the plan be made again.
"""

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError as DbIntegrityError

from mirror.db import (
    block_rows,
    bulk,
    event_rows,
    file_rows,
    history_rows,
    project_rows,
    record_rows,
)
from mirror.db.engine import writing
from mirror.db.records import FileRecord
from mirror.policy.admission import POLICY, Decision, State
from mirror.policy.verdicts import HISTORY_EVIDENCE
from mirror.services import (
    evidence,
    fetching,
    notify,
    pages,
    project_status,
    state_changes,
    targets,
)
from mirror.services.backends import Backends
from mirror.simple_api import ProjectStatus
from mirror.upstream.client import Page
from mirror.upstream.listing import Listing

log = logging.getLogger(__name__)


def take_first_look(backends: Backends, project: str, page: Page, listing: Listing) -> None:
    """Take ``project``'s first look from its fetched and parsed ``page``."""
    now = backends.clock.now()
    clock = backends.config.age_clock_for(project)
    candidates = fetching.candidates(listing.files, now, history=True, clock=clock)
    # Read once for gathering and deciding; the blocks again under the write lock.
    with backends.engine.connect() as conn:
        standing = state_changes.Standing.read(conn, project, listing.status)
    evidenced, checks = gather_evidence(backends, project, candidates, now, standing.private)
    plan = Plan.made(backends, project, evidenced, now, standing, checks)
    try:
        with writing(backends.engine) as conn:
            plan = plan.still_valid(conn) or Plan.made(
                backends,
                project,
                evidenced,
                now,
                state_changes.Standing.read(conn, project, listing.status),
                checks,
            )
            plan.record(conn, page, now)
    except DbIntegrityError:
        # Another host recorded this project's first look at the same moment; theirs stands.
        log.info("concurrent first look", extra={"project": project})
    else:
        state_changes.log_moves(project, plan.decided.moves)
    fetching.record_upstream(backends, None)


def gather_evidence(
    backends: Backends, project: str, candidates: list[FileRecord], now: datetime, private: bool
) -> tuple[list[FileRecord], state_changes.Checks | None]:
    """The candidates with the evidence that needs no download (provenance) recorded, and the
    checks that chose them (deciding reuses the views of the rows passed as they are)."""
    gathered = evidence.gather(
        backends, project, inspect=False, rows=candidates, now=now, private=private
    )
    # Few files get evidence (the anchor, the candidates): the others are passed as they are.
    evidenced = [
        row._replace(**change)
        if row.filename in gathered.records and (change := evidence.recorded(row, gathered))
        else row
        for row in candidates
    ]
    return evidenced, gathered.checks


@dataclass(frozen=True)
class Plan:
    """A first look decided, rendered and prepared: the decisions (with the blocks they were
    made under), the pages, the history listing, and the inserts of the other files, audit
    events and the pages' queued targets."""

    project: str
    decided: state_changes.Evaluation
    rendered: pages.Rendered
    upstream: ProjectStatus  # the project's status marker upstream (PEP 792)
    history: history_rows.Listing | None
    files: bulk.Prepared
    events: bulk.Prepared
    targets: bulk.Prepared

    @classmethod
    def made(
        cls,
        backends: Backends,
        project: str,
        evidenced: list[FileRecord],
        now: datetime,
        standing: state_changes.Standing,
        checks: state_changes.Checks | None = None,
    ) -> "Plan":
        decided = state_changes.judged(backends, project, evidenced, now, standing, earlier=checks)
        # Judging moves the very records it is given: the moves' rows are ``evidenced``'s.
        moves = cast(list[tuple[FileRecord, Decision]], decided.moves)
        history, own, settled = _split(evidenced, moves, now)
        states = [(r.state, r.reason) for r in settled]
        if history is not None:
            states.append((State.ADMITTED, history.decision.reason))
        status = project_status.served(standing.upstream, states)
        rendered = pages.render_pages(backends.blobs, project, decided.admitted, status)
        dialect = backends.engine.dialect
        return cls(
            project=project,
            decided=decided,
            rendered=rendered,
            upstream=standing.upstream,
            history=history.listing(now) if history else None,
            files=file_rows.prepare_files(dialect, settled),
            events=state_changes.prepare_first_look_events(dialect, project, own, now),
            targets=targets.prepare_first(dialect, project, rendered.page_targets(), now),
        )

    def still_valid(self, conn: Connection) -> "Plan | None":
        """This, unless the project's blocks changed since it was decided."""
        current = block_rows.active_blocks(conn, self.project)
        return self if current == self.decided.blocks else None

    def record(self, conn: Connection, page: Page, now: datetime) -> None:
        """Create the project with its files, events and pages, and queue its targets.

        Raises:
            sqlalchemy.exc.IntegrityError: the project exists (another host's first look).
        """
        project_id = project_rows.insert_project(
            conn,
            self.project,
            now,
            checked_at=now,
            **page.validators(),
            **project_rows.status_values(self.upstream),
        )
        if self.history is not None:
            history_rows.record_listing(conn, project_id, self.history)
            event_rows.record_event(conn, at=now, project=self.project, **_event(self.history))
        bulk.run(conn, self.files, project_id=project_id)
        bulk.run(conn, self.events)
        notify.record_moves(conn, self.project, self.decided.moves, now)
        files_deferred = not targets.earlier_state(conn, self.project)
        if files_deferred:
            # The pages' targets only: thousands of files' are queued by the next full batch.
            bulk.run(conn, self.targets)
            pages.record_page_row(conn, self.project, self.rendered, now, files_deferred=True)
        else:
            # Targets left by an earlier life of the project: queue the difference.
            records = record_rows.project_records(conn, self.project)
            targets.queue_project(conn, self.project, self.rendered.targets(records), now)
            pages.record_page_row(conn, self.project, self.rendered, now, records=records)


def _split(
    new: list[FileRecord], moves: list[tuple[FileRecord, Decision]], now: datetime
) -> tuple["_History | None", list[tuple[FileRecord, Decision]], list[FileRecord]]:
    """The history of the ``new`` records (``_history``) given their ``moves`` (in the order
    of ``new``, as judging makes them), the moves of the other files, and those files in the
    states their moves take them to, in the order of ``new``."""
    history, own = _history(moves)
    if len(moves) == len(new):
        # Every file moved (a first look's candidates all leave `pending`): the other files
        # are those of the other moves, in order.
        rows = [row for row, _ in own]
    else:
        kept = {r.filename for r in history.files} if history is not None else set()
        rows = [row for row in new if row.filename not in kept]
    moved = {row.filename: decision for row, decision in own}
    return history, own, _settled(rows, moved, now)


def _settled(new: list[FileRecord], moved: dict[str, Decision], now: datetime) -> list[FileRecord]:
    """The ``new`` records in the states the decisions ``moved`` (by filename) take them to."""
    # A handful of distinct decisions: their columns are made once each.
    decisions = {moved[row.filename] for row in new if row.filename in moved}
    values = {decision: state_changes.decided(decision, now) for decision in decisions}
    return [
        row._replace(**values[moved[row.filename]]) if row.filename in moved else row for row in new
    ]


@dataclass(frozen=True)
class _History:
    """The files the project's history listing keeps (docs/admission.md, "History"), as
    upstream listed them, and the decision that admits them."""

    files: list[FileRecord]
    decision: Decision

    def listing(self, now: datetime) -> history_rows.Listing:
        decision = self.decision
        return history_rows.Listing.of(self.files, decision.reason, decision.decided_by, now)


def _history(
    moves: list[tuple[FileRecord, Decision]],
) -> tuple[_History | None, list[tuple[FileRecord, Decision]]]:
    """The files ``moves`` admit at the first look by age alone, with nothing gathered for
    them, under the decision most of them share (one per project in practice; None if none
    is), and the other moves, in order."""
    # By (reason, decider): a dataclass hashes in Python, a pair of strings in C.
    admitted: dict[tuple[str, str], tuple[Decision, list[FileRecord]]] = {}
    others = []
    # Judging shares one decision object between thousands of moves: whether it admits by
    # policy, and its group, are looked up once per run of moves sharing it.
    previous: Decision | None = None
    key: tuple[str, str] | None = None
    group: list[FileRecord] | None = None
    for move in moves:
        row, decision = move
        if decision is not previous:
            previous, key, group = decision, _key(decision), None
        if key is not None and _plain(row):
            if group is None:  # made at its first file: groups are ranked in that order
                group = admitted.setdefault(key, (decision, []))[1]
            group.append(row)
        else:
            others.append(move)
    if not admitted:
        return None, others
    # The first of the most common: ``max`` keeps the first of equals.
    decision, files = max(admitted.values(), key=lambda group: len(group[1]))
    if len(admitted) > 1:
        # Files admitted under a less common decision keep rows of their own.
        listed = {r.filename for r in files}
        others = [move for move in moves if move[0].filename not in listed]
    return _History(files, decision), others


def _key(decision: Decision) -> tuple[str, str] | None:
    """The history group of files ``decision`` moves: None unless it admits by policy."""
    if decision.state != State.ADMITTED or decision.decided_by != POLICY:
        return None
    return decision.reason, decision.decided_by


def _plain(record: FileRecord) -> bool:
    """Whether a new record keeps nothing a history listing does not: no evidence gathered,
    upstream's own metadata, no provenance copy, an upload time."""
    return (
        record.evidence == HISTORY_EVIDENCE
        and record.upload_time is not None
        and record.metadata_sha256 == record.upstream_metadata_sha256
        and record.provenance_sha256 is None
    )


def _event(history: history_rows.Listing) -> dict[str, Any]:
    """The audit event of a history listing: one, whatever its number of files."""
    values = history.values
    count = values["count"]
    return {
        "filename": None,
        "from_state": State.PENDING,
        "to_state": State.ADMITTED,
        "actor": values["decided_by"],
        "reason": (
            f"{count} file{'s' if count != 1 else ''} admitted as history at the first look "
            f"(listing sha256 {values['sha256']}): {values['reason']}"
        ),
    }
