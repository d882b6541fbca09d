"""Apply the admission policy to a project's files and record every state change."""

import logging
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import compress, repeat
from typing import Any

from sqlalchemy import Connection, Dialect, Row

from mirror.checks.content import report_is_current
from mirror.db import block_rows, bulk, event_rows, file_rows, private_rows, project_rows
from mirror.db.records import FileRow
from mirror.policy import verdicts
from mirror.policy.admission import (
    RULE,
    STATES,
    Decision,
    FileFacts,
    Refusal,
    State,
    admitted_by_age,
    decide,
)
from mirror.policy.rules import parse_specifier, version_in
from mirror.services import notify, project_status
from mirror.services.backends import Backends
from mirror.simple_api import ProjectStatus

log = logging.getLogger(__name__)


def facts_of(
    row: FileRow,
    anomaly: str | None = None,
    verdict: verdicts.Verdict | None = None,
    project_hold: str | None = None,
) -> FileFacts:
    verdict = verdict or verdicts.CLEAR
    rejection = (
        Decision(State.REJECTED, verdict.rejection, verdicts.PROVENANCE)
        if verdict.rejection
        else None
    )
    return FileFacts(
        state=STATES[row.state],
        hold_until=row.hold_until,
        upload_time=row.upload_time,
        first_seen_at=row.first_seen_at,
        present_upstream=row.present_upstream,
        anomaly=anomaly,
        hold_reasons=verdict.hold_reasons,
        rejection=rejection,
        waiting=verdict.waiting,
        project_hold=project_hold,
    )


def file_view(row: FileRow, quarantine: timedelta) -> verdicts.FileView:
    """The facts the checks need about one file; ``quarantine``: the project's."""
    evidence = row.evidence or {}
    return verdicts.FileView(
        filename=row.filename,
        version=row.version,
        state=STATES[row.state],
        hold_until=row.hold_until,
        present_upstream=row.present_upstream,
        historic=verdicts.is_historic(evidence, row.upload_time, row.first_seen_at, quarantine),
        evidence=evidence,
        listed=row.provenance_url is not None,
        report_current=_report_current(verdicts.record_of(evidence, "content")),
    )


def _report_current(content: Mapping[str, Any] | None) -> bool:
    return content is not None and report_is_current(content.get("report"))


def history_views(
    rows: Sequence[FileRow], quarantine: timedelta, now: datetime
) -> list[verdicts.FileView | None]:
    """``file_view(row, quarantine)`` of each of ``rows`` that is plain history, None for the
    others, in one loop: a first look lists thousands of such files.

    Plain history: listed at the project's first look and pending since, with nothing gathered
    for it (its evidence is ``verdicts.HISTORY_EVIDENCE``), and already past the quarantine
    then (``verdicts.is_historic``), which is before ``now``. Its view is open, historic and
    settled, with no provenance or content record.
    """
    pending, history = State.PENDING, verdicts.HISTORY_EVIDENCE
    views: list[verdicts.FileView | None] = []
    add = views.append
    for row in rows:
        evidence, uploaded, seen = row.evidence, row.upload_time, row.first_seen_at
        if (
            row.state != pending
            or row.hold_until is not None
            or not row.present_upstream
            or (evidence is not history and evidence != history)
            or uploaded is None
            or uploaded + quarantine > seen
            or seen > now
        ):
            add(None)
            continue
        listed = row.provenance_url is not None
        # By position, every field given, through ``tuple.__new__``: half the cost of the
        # named tuple's own constructor (a Python function).
        fields = (row.filename, row.version, pending, None, True, True, evidence, listed, False)
        add(_make_tuple(verdicts.FileView, fields))
    return views


_make_tuple = tuple.__new__
if len(verdicts.FileView._fields) != 9:
    raise TypeError("history_views no longer names every field of FileView")


@dataclass(frozen=True)
class Checks:
    """A project's files as the checks see them (``mirror.policy.verdicts``).

    ``views``: every file's, by filename. ``checked``: the files whose evidence may say
    something about their admission, every file but plain history (``history_views``) that
    needs no provenance (below the continuity anchor, and not the anchor itself, outside
    ``required`` mode). No check concerns such a file (``provenance_needed`` and
    ``content_needed`` are false), so the evidence says nothing against it
    (``verdicts.CLEAR``): one test for thousands of files on a first look, instead of a
    verdict each.

    ``rows``: the rows checked, in order, with each one's view (``row_views``) and whether it
    is plain history (``plain``); ``basis``: the quarantine and moment the views were made
    under. A file's view depends on nothing else, so later checks of the same rows (a first
    look gathers, then decides) reuse the view of each row that is the very same object at
    the same place (``checks_of``).
    """

    views: dict[str, verdicts.FileView]
    checked: list[verdicts.FileView]
    anchor: verdicts.FileView | None
    rows: list[FileRow]
    row_views: list[verdicts.FileView]
    plain: list[bool]
    basis: tuple[timedelta, datetime]


def checks_of(
    backends: Backends,
    project: str,
    rows: Iterable[FileRow],
    *,
    private: bool,
    now: datetime,
    earlier: Checks | None = None,
) -> Checks:
    """The ``Checks`` of ``project``'s files ``rows``. ``earlier``: checks of (some of) the
    same rows, whose views are reused for the rows that are the very same objects at the same
    places."""
    config = backends.config
    mode = config.provenance_mode_for(project, private=private)
    quarantine = config.quarantine_for(project, private=private)
    basis = quarantine, now
    rows = list(rows)
    views, plain = _views(
        rows, quarantine, now, earlier if earlier and earlier.basis == basis else None
    )
    # In C, not a Python loop: a first look checks thousands of files.
    history = list(compress(views, plain))
    checked = list(compress(views, map(operator.not_, plain)))
    # With an Integrity API URL template configured for the project's index, a file the page
    # lists no provenance for may still have some.
    template = bool(config.integrity_url_template_for(project))
    settled = [view for view in checked if view.settled] + history
    anchor = verdicts.anchor_among(settled, unlisted_may_attest=template)
    checked += verdicts.historic_needing_provenance(mode, history, anchor)
    by_filename = dict(zip(map(_filename, views), views, strict=True))
    return Checks(by_filename, checked, anchor, rows, views, plain, basis)


def _views(
    rows: list[FileRow], quarantine: timedelta, now: datetime, earlier: Checks | None
) -> tuple[list[verdicts.FileView], list[bool]]:
    """Each row's view and whether it is plain history, those of ``earlier`` (made under the
    same quarantine and moment) where it checked the very same row at the same place."""
    views = earlier.row_views[: len(rows)] if earlier is not None else []
    plain = earlier.plain[: len(views)] if earlier is not None else []
    if earlier is not None:
        # Compared in C: a first look replaces a handful of its thousands of rows.
        replaced = compress(range(len(views)), map(operator.is_not, rows, earlier.rows))
        for index in list(replaced):
            views[index], plain[index] = _view(rows[index], quarantine, now)
    new = rows[len(views) :]
    history = history_views(new, quarantine, now)
    views += [view or file_view(row, quarantine) for row, view in zip(new, history, strict=True)]
    plain += [view is not None for view in history]
    return views, plain


def _view(row: FileRow, quarantine: timedelta, now: datetime) -> tuple[verdicts.FileView, bool]:
    [view] = history_views([row], quarantine, now)
    return view or file_view(row, quarantine), view is not None


_filename = operator.attrgetter("filename")
_version = operator.attrgetter("version")


def content_check_rows(
    versions: Mapping[str, str],
    file: Callable[[str], FileRow | None],
    filename: str,
    quarantine: timedelta,
    now: datetime,
) -> list[FileRow]:
    """The rows the content check of ``filename`` reads (``verdicts.content_baseline``): its
    own, and the settled files of the newest lower release of its kind that has any; none
    without its row. ``versions``: every file's version by filename; ``file``: a file's row by
    filename. A project's other files, thousands for a large one, are not read.
    """
    candidate = file(filename) if filename in versions else None
    if candidate is None:
        return []
    for release in verdicts.releases_below(versions, filename):
        rows = [row for row in map(file, release) if row is not None]
        settled = [row for row in rows if _view(row, quarantine, now)[0].settled]
        if settled:
            return [candidate, *settled]
    return [candidate]


def verdicts_by_filename(
    backends: Backends, project: str, checks: Checks, *, private: bool
) -> dict[str, verdicts.Verdict]:
    """What the provenance and content evidence of each of ``checks.checked`` says, by
    filename (the other files': nothing, ``verdicts.CLEAR``)."""
    mode = backends.config.provenance_mode_for(project, private=private)
    pinned = backends.config.pinned_publisher_key(project)
    anchor = checks.anchor
    # A plain history file has no provenance record: it is never the baseline.
    baseline = verdicts.publisher_baseline(checks.checked)
    result = {}
    for view in checks.checked:
        provenance = verdicts.provenance_verdict(
            mode,
            view,
            pinned=pinned,
            baseline=baseline,
            anchor=anchor,
            needed=verdicts.provenance_needed(mode, view, anchor),
        )
        result[view.filename] = verdicts.combine(provenance, verdicts.content_verdict(view))
    return result


def refusal_for(
    backends: Backends, blocks: list[Row[Any]], project: str, version: str
) -> Refusal | None:
    """A configured rule, else an active block by a person or an advisory."""
    reason = backends.rules.file_refusal(project, version)
    if reason:
        return Refusal(reason, RULE)
    for block in blocks:
        if version_in(parse_specifier(block.specifier), version):
            return Refusal(f"blocked: {block.reason}", block.actor)
    return None


def refusals(
    backends: Backends, blocks: list[Row[Any]], project: str, versions: Iterable[str]
) -> dict[str, Refusal | None]:
    """``refusal_for`` each version: rules and blocks name versions, and a large project has
    thousands of files but a few hundred versions."""
    if not blocks and not backends.rules.refuses_versions(project):
        return dict.fromkeys(versions)  # nothing can refuse any of them
    return {version: refusal_for(backends, blocks, project, version) for version in set(versions)}


@dataclass(frozen=True)
class Evaluation:
    """The moves one evaluation made, and the files admitted after them (in the given order:
    their rows still carry the old state, and everything a page shows but the state)."""

    moves: list[tuple[FileRow, Decision]]
    admitted: list[FileRow]
    blocks: list[Row[Any]]  # the project's active blocks the decisions were made under

    @property
    def admitted_changed(self) -> bool:
        """Whether any file entered or left the admitted state (the page changes)."""
        return any(State.ADMITTED in (row.state, decision.state) for row, decision in self.moves)

    @property
    def state_changed(self) -> list[str]:
        return [row.filename for row, decision in self.moves if row.state != decision.state]


def evaluate(
    conn: Connection,
    backends: Backends,
    project: str,
    rows: Sequence[FileRow],
    now: datetime,
    anomalies: dict[str, str] | None = None,
) -> Evaluation:
    """Decide each file afresh and record the moves."""
    evaluation = judge(conn, backends, project, rows, now, anomalies)
    apply_decisions(conn, project, evaluation.moves, now)
    return evaluation


@dataclass(frozen=True)
class Standing:
    """What deciding a project's files reads besides the files: its status marker upstream,
    whether it is private, and its active blocks."""

    upstream: ProjectStatus
    private: bool
    blocks: list[Row[Any]]

    @classmethod
    def read(
        cls, conn: Connection, project: str, upstream: ProjectStatus | None = None
    ) -> "Standing":
        """``project``'s standing as recorded; ``upstream``: its status marker, when the caller
        has it (a first look, whose project is not recorded yet)."""
        if upstream is None:
            upstream = project_rows.upstream_status(conn, project)
        private = private_rows.is_private(conn, project)
        return cls(upstream, private, block_rows.active_blocks(conn, project))


def judge(
    conn: Connection,
    backends: Backends,
    project: str,
    rows: Sequence[FileRow],
    now: datetime,
    anomalies: dict[str, str] | None = None,
    upstream: ProjectStatus | None = None,
    earlier: Checks | None = None,
) -> Evaluation:
    """Decide each file afresh, recording nothing (``conn`` is read for the project's
    ``Standing``; ``upstream``: its status marker, when the caller has it). ``earlier``:
    checks made of the same rows before their evidence was gathered (``checks_of``)."""
    standing = Standing.read(conn, project, upstream)
    return judged(backends, project, rows, now, standing, anomalies, earlier)


def judged(
    backends: Backends,
    project: str,
    rows: Sequence[FileRow],
    now: datetime,
    standing: Standing,
    anomalies: dict[str, str] | None = None,
    earlier: Checks | None = None,
) -> Evaluation:
    """``judge`` under a ``standing`` the caller read (a first look reads it once, before its
    evidence is gathered, and checks its blocks again under the write lock)."""
    anomalies = anomalies or {}
    project_hold = project_status.upstream_hold(standing.upstream)
    config = backends.config
    hold_without_time = config.age_clock_for(project) == "hold"
    # Uploaded projects follow their own policy (docs/private-packages.md).
    private = standing.private
    quarantine = config.quarantine_for(project, private=private)
    blocks = standing.blocks
    refused = refusals(backends, blocks, project, map(_version, rows))
    checks = checks_of(backends, project, rows, private=private, now=now, earlier=earlier)
    evidence = verdicts_by_filename(backends, project, checks, private=private)
    # Plain history no check concerns (it has no verdict: ``Checks``), with nothing refusing
    # it and nothing odd about it, is admitted by age unless upstream holds the project: the
    # same decision for thousands.
    aged = admitted_by_age(quarantine)
    moves: list[tuple[FileRow, Decision]] = []
    admitted: list[FileRow] = []
    done = 0  # the rows before this place are decided
    for index in _decided_alone(rows, evidence, refused, anomalies, held=bool(project_hold)):
        # The rows since the last one decided alone: plain history with nothing against it,
        # pending, so the move to admitted is certain; added in C, thousands at a time.
        aged_rows = rows[done:index]
        moves.extend(zip(aged_rows, repeat(aged)))
        admitted.extend(aged_rows)
        done = index + 1
        row = rows[index]
        decision = decide(
            facts_of(row, anomalies.get(row.filename), evidence.get(row.filename), project_hold),
            refusal=refused[row.version],
            quarantine=quarantine,
            hold_without_upload_time=hold_without_time,
            now=now,
        )
        if decision is not None and differs(row, decision):
            moves.append((row, decision))
        if (decision.state if decision is not None else row.state) == State.ADMITTED:
            admitted.append(row)
    moves.extend(zip(rows[done:], repeat(aged)))
    admitted.extend(rows[done:])
    return Evaluation(moves, admitted, blocks)


def _decided_alone(
    rows: Sequence[FileRow],
    evidence: Mapping[str, verdicts.Verdict],
    refused: Mapping[str, Refusal | None],
    anomalies: Mapping[str, str],
    *,
    held: bool,
) -> Iterable[int]:
    """The places of the ``rows`` that ``decide`` must decide one by one: every row while
    upstream holds the project (``held``), else the rows that have a verdict (the others are
    plain history no check concerns: ``Checks``), a refusal or an anomaly. The others,
    thousands on a first look, are admitted by age; they are told apart in C, not one by
    one."""
    if held:
        return range(len(rows))
    names = list(map(_filename, rows))
    alone = map(evidence.__contains__, names)
    refusing = {version for version, refusal in refused.items() if refusal is not None}
    if refusing:
        alone = map(operator.or_, alone, map(refusing.__contains__, map(_version, rows)))
    if anomalies:
        alone = map(operator.or_, alone, map(anomalies.__contains__, names))
    return compress(range(len(rows)), alone)


def differs(row: FileRow, decision: Decision) -> bool:
    return (row.state, row.reason, row.hold_until) != (
        decision.state,
        decision.reason,
        decision.hold_until,
    )


def apply_decision(
    conn: Connection, project: str, row: FileRow, decision: Decision, now: datetime
) -> None:
    """Move one file to its new state and write the audit event in the same transaction."""
    apply_decisions(conn, project, [(row, decision)], now)


def apply_decisions(
    conn: Connection,
    project: str,
    moves: Sequence[tuple[FileRow, Decision]],
    now: datetime,
) -> None:
    """Move files to their new states with their audit events, in a few statements whatever
    their number."""
    by_decision: dict[Decision, list[FileRow]] = {}
    for row, decision in moves:
        by_decision.setdefault(decision, []).append(row)
    for decision, rows in by_decision.items():
        file_rows.set_files(conn, rows, decided(decision, now))
    record_moves(conn, project, moves, now)


def decided(decision: Decision, now: datetime) -> dict[str, Any]:
    """The columns of a file that ``decision`` sets."""
    return {
        "state": decision.state,
        "reason": decision.reason,
        "decided_by": decision.decided_by,
        "hold_until": decision.hold_until,
        "state_at": now,
    }


def record_moves(
    conn: Connection,
    project: str,
    moves: Sequence[tuple[FileRow, Decision]],
    now: datetime,
) -> None:
    """The audit events, notifications and log lines of moves (a project's first look makes
    thousands)."""
    bulk.run(conn, prepare_events(conn.dialect, project, moves, now))
    notify.record_moves(conn, project, moves, now)
    log_moves(project, moves)


# An audit event as a first look writes them: filename (None for a summary), from, to, actor,
# reason.
_Event = tuple[str | None, str, str, str, str]


def prepare_events(
    dialect: Dialect, project: str, moves: Sequence[tuple[FileRow, Decision]], now: datetime
) -> bulk.Prepared:
    """The audit events of ``moves``, built ahead of the transaction that records them."""
    return _prepared_events(dialect, project, [_event(row, d) for row, d in moves], now)


def prepare_first_look_events(
    dialect: Dialect, project: str, moves: Sequence[tuple[FileRow, Decision]], now: datetime
) -> bulk.Prepared:
    """A first look's audit events: one per admission reason, with its count (a first look
    admits thousands of files, and one event each buried people's decisions in the audit
    log), and one per file for every other move, which a reviewer reads file by file."""
    admitted: dict[tuple[str, str], int] = {}  # by actor and reason
    others: list[_Event] = []
    for row, decision in moves:
        if decision.state == State.ADMITTED:
            key = decision.decided_by, decision.reason
            admitted[key] = admitted.get(key, 0) + 1
        else:
            others.append(_event(row, decision))
    # The summaries first: newest first, a release's own events at the same moment lead.
    rows: list[_Event] = [
        (
            None,
            State.PENDING,
            State.ADMITTED,
            actor,
            f"{_files(count)} admitted at the first look: {reason}",
        )
        for (actor, reason), count in sorted(admitted.items())
    ]
    return _prepared_events(dialect, project, rows + others, now)


def _files(count: int) -> str:
    return f"{count} file{'s' if count != 1 else ''}"


def _event(row: FileRow, decision: Decision) -> _Event:
    return row.filename, row.state, decision.state, decision.decided_by, decision.reason


def _prepared_events(
    dialect: Dialect, project: str, rows: Sequence[_Event], now: datetime
) -> bulk.Prepared:
    columns = ("filename", "from_state", "to_state", "actor", "reason")
    values = [list(column) for column in zip(*rows, strict=True)] or [[] for _ in columns]
    return event_rows.prepare_events(
        dialect,
        {
            "at": [now] * len(rows),
            "project": [project] * len(rows),
            **dict(zip(columns, values, strict=True)),
        },
    )


def log_moves(project: str, moves: Sequence[tuple[FileRow, Decision]]) -> None:
    """One line counting the routine moves (a first look moves thousands of files out of
    `pending`), and one line for each other move."""
    routine: dict[str, int] = {}  # by "old->new", in the order the moves first make them
    others = []
    # Judging shares one decision object between thousands of moves, and a first look's
    # rows one state: a move is named once per run of moves sharing both.
    decided: Decision | None = None
    state: str | None = None
    move: str | None = None
    for row, decision in moves:
        if decision is not decided or row.state is not state:
            decided, state, move = decision, row.state, _routine(row, decision)
        if move is None:
            others.append((row, decision))
        else:
            routine[move] = routine.get(move, 0) + 1
    if routine:
        counts = Counter(routine)
        log.info("%s: %s", project, routine, extra={"project": project, "moves": counts})
    for row, decision in others:
        _log_move(project, row, decision)


# The routine moves, named as the log counts them: plain strings, which hash in C where a
# ``State`` (a ``str`` subclass) hashes through a Python-level slot.
_ADMITTED = f"{State.PENDING}->{State.ADMITTED}"
_TIMED_HOLD = f"{State.PENDING}->{State.QUARANTINED}"


def _routine(row: FileRow, decision: Decision) -> str | None:
    """The routine move ``row`` makes: a new file admitted, or quarantined until a time; None
    for everything else (review holds, rejections, blocks, withdrawals, anything leaving
    `admitted`), which gets a line of its own."""
    if row.state != State.PENDING:
        return None
    state = decision.state
    if state == State.ADMITTED:
        return _ADMITTED
    if state == State.QUARANTINED and decision.hold_until is not None:
        return _TIMED_HOLD
    return None


def _log_move(project: str, row: FileRow, decision: Decision) -> None:
    level = logging.WARNING if row.state == State.ADMITTED else logging.INFO
    log.log(
        level,
        "%s: %s -> %s (%s)",
        row.filename,
        row.state,
        decision.state,
        decision.reason,
        extra={
            "project": project,
            "file": row.filename,
            "from_state": row.state,
            "to_state": str(decision.state),
            "actor": decision.decided_by,
            "reason": decision.reason,
        },
    )
