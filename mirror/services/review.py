"""What people decide: approve a held release early, block and unblock (also retroactively).

Every decision names who made it and why, and is written to the audit trail in the same
transaction as the state change it causes.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from mirror import scanner_rules
from mirror.db import block_rows, event_rows, file_rows, project_rows
from mirror.db.engine import writing
from mirror.db.records import NamedRow
from mirror.errors import MirrorError, NotFoundError
from mirror.names import is_valid_project_name, normalize
from mirror.policy.admission import Decision, State
from mirror.policy.rules import parse_specifier
from mirror.policy.verdicts import FIRST_LOOK
from mirror.services import pages, state_changes
from mirror.services.backends import Backends

APPROVABLE = (State.PENDING, State.QUARANTINED)


class ReviewError(MirrorError):
    """A review action that cannot be carried out as asked."""


@dataclass(frozen=True)
class Outcome:
    project: str
    changed: list[str]


def _project(name: str) -> str:
    if not is_valid_project_name(name):
        raise ReviewError(f"invalid project name {name!r}")
    return normalize(name)


def _require_reason(reason: str) -> str:
    if not reason.strip():
        raise ReviewError("a reason is required")
    return reason.strip()


def approve(backends: Backends, project: str, version: str, *, actor: str, reason: str) -> Outcome:
    """Admit every held file of a release now, overriding the delay and any hold."""
    project, reason = _project(project), _require_reason(reason)
    now = backends.clock.now()
    with writing(backends.engine) as conn:
        rows = file_rows.release_files(conn, project, version)
        if not rows:
            raise NotFoundError(f"{project} {version}: no such release known to the mirror")
        held = [row for row in rows if row.state in APPROVABLE]
        if not held:
            states = ", ".join(sorted({row.state for row in rows}))
            raise ReviewError(f"{project} {version}: nothing to approve (files are {states})")
        decision = Decision(State.ADMITTED, f"approved: {reason}", actor)
        for row in held:
            state_changes.apply_decision(conn, project, row, decision, now)
        pages.render_and_queue(conn, backends.blobs, held[0].project_id, project, now)
    return Outcome(project, [row.filename for row in held])


def block(backends: Backends, project: str, specifier: str, *, actor: str, reason: str) -> Outcome:
    """Refuse matching releases, admitted or not, and any that appear later."""
    project, reason = _project(project), _require_reason(reason)
    parse_specifier(specifier)
    now = backends.clock.now()
    with writing(backends.engine) as conn:
        record_blocks(conn, [NewBlock(project, specifier.strip(), actor, reason)], now)
    return Outcome(project, _reevaluate(backends, project))


@dataclass(frozen=True)
class NewBlock:
    project: str
    specifier: str
    actor: str
    reason: str


def record_blocks(conn: Connection, new: Sequence[NewBlock], now: datetime) -> None:
    """Store blocks (a person's or an advisory's) and their audit events, in bulk."""
    if not new:
        return
    block_rows.add_blocks(
        conn,
        [
            {
                "project": b.project,
                "specifier": b.specifier,
                "reason": b.reason,
                "actor": b.actor,
                "created_at": now,
            }
            for b in new
        ],
    )
    event_rows.record_events(
        conn,
        [
            {
                "at": now,
                "project": b.project,
                "filename": None,
                "from_state": None,
                "to_state": None,
                "actor": b.actor,
                "reason": f"block {b.specifier or '(all versions)'}: {b.reason}",
            }
            for b in new
        ],
    )


def unblock(
    backends: Backends, project: str, specifier: str, *, actor: str, reason: str
) -> Outcome:
    project, reason = _project(project), _require_reason(reason)
    now = backends.clock.now()
    with writing(backends.engine) as conn:
        lifted = record_lift(conn, project, specifier.strip(), by=actor, reason=reason, now=now)
    if not lifted:
        raise NotFoundError(f"no active block on {project} {specifier}".rstrip())
    return Outcome(project, _reevaluate(backends, project))


def record_lift(
    conn: Connection,
    project: str,
    specifier: str,
    *,
    by: str,
    reason: str,
    now: datetime,
    placed_by: str | None = None,
) -> int:
    """Lift the active blocks on ``project`` + ``specifier`` (only those ``placed_by`` when
    given) and record the audit event; the number lifted."""
    lifted = block_rows.lift_blocks(
        conn, project, specifier, at=now, by=by, reason=reason, actor=placed_by
    )
    if lifted:
        event_rows.record_event(
            conn,
            at=now,
            project=project,
            filename=None,
            from_state=None,
            to_state=None,
            actor=by,
            reason=f"unblock {specifier or '(all versions)'}: {reason}",
        )
    return lifted


def _reevaluate(backends: Backends, project: str) -> list[str]:
    with writing(backends.engine) as conn:
        return reevaluate(conn, backends, project, backends.clock.now())


def reevaluate(conn: Connection, backends: Backends, project: str, now: datetime) -> list[str]:
    """Decide the project's files afresh under the active blocks and re-render its pages when
    what they show changed; the files whose state changed."""
    row = project_rows.get_project(conn, project)
    if row is None:
        return []  # a block on a project not seen yet applies when its files appear
    evaluation = state_changes.evaluate(
        conn, backends, project, file_rows.project_files(conn, row.id), now
    )
    if evaluation.admitted_changed:
        pages.render_and_queue(conn, backends.blobs, row.id, project, now, evaluation.admitted)
    return evaluation.state_changed


def queue(backends: Backends, states: list[str]) -> list[NamedRow]:
    with backends.engine.connect() as conn:
        return file_rows.files_by_state(conn, states)


def release(
    backends: Backends, project: str, version: str
) -> tuple[list[NamedRow], list[Row[Any]]]:
    """A release's files and the project's audit events."""
    project = _project(project)
    with backends.engine.connect() as conn:
        rows = file_rows.release_files(conn, project, version)
        if not rows:
            raise NotFoundError(f"{project} {version}: no such release known to the mirror")
        return rows, event_rows.project_events(conn, project)


def evidence_lines(evidence: Mapping[str, Any]) -> list[str]:
    """A file's evidence record (``files.evidence``) as lines for a reviewer to read."""
    lines: list[str] = []
    if evidence.get(FIRST_LOOK):
        lines.append("first look: listed when the mirror first read the project")
    if isinstance(record := evidence.get("provenance"), Mapping):
        lines += _provenance_lines(record)
    if isinstance(record := evidence.get("content"), Mapping):
        lines += _content_lines(record)
    if isinstance(records := evidence.get("external"), Mapping):
        lines += [
            f"external scanner {name} (advisory, at {entry.get('ran_at')}): "
            + scanner_rules.outcome_text(entry)
            for name, entry in sorted(records.items())
            if isinstance(entry, Mapping)
        ]
    return lines


def _provenance_lines(record: Mapping[str, Any]) -> list[str]:
    status = record.get("status")
    lines = [f"provenance: {status} (checked {record.get('checked_at')})"]
    if record.get("reason"):
        lines.append(f"  reason: {record['reason']}")
    publisher = record.get("publisher") or {}
    if publisher:
        proven = "verified" if status == "verified" else "claimed, not proven"
        fields = ", ".join(f"{k}={v}" for k, v in publisher.items() if k != "kind" and v)
        lines.append(f"  publisher ({proven}): {publisher.get('kind')} {fields}")
    if record.get("pinned"):
        lines.append(f"  pinned publisher: {record['pinned']}")
    if record.get("source"):
        lines.append(f"  source: {record['source']}")
    for attestation in record.get("attestations") or []:
        lines.append(
            f"  attestation: {attestation.get('predicate_type')}; transparency log entry "
            f"{attestation.get('log_index')} at {attestation.get('integrated_time')}; "
            f"certificate {attestation.get('certificate_identity')}"
        )
    if record.get("verified_at"):
        lines.append(f"  verified at: {record['verified_at']}")
    return lines


def _content_lines(record: Mapping[str, Any]) -> list[str]:
    if "error" in record and "report" not in record:
        return [f"content: not inspected: {record['error']}"]
    report = record.get("report") or {}
    baseline = record.get("baseline")
    compared = f"compared with {baseline}" if baseline else "no previous release to compare"
    flags = record.get("flags")
    head = "content: inspected" if flags is None else f"content: {compared}, {len(flags)} flag(s)"
    lines = [f"{head} (at {record.get('inspected_at')})"]
    lines += [f"  {flag['code']}: {flag['text']}" for flag in flags or []]
    scripts = sorted(name for group in report.get("entry_points", {}).values() for name in group)
    lines.append(
        f"  .pth files: {len(report.get('pth_files', []))}; entry points: "
        f"{', '.join(scripts) or 'none'}; native binaries: {len(report.get('native_binaries', []))}"
        f"; sdist hooks: {', '.join(report.get('sdist_hooks', [])) or 'none'}"
    )
    lines += [f"  error: {error}" for error in report.get("errors", [])]
    return lines
