"""Apply the admission policy to a project's files and record every state change."""

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from mirror.db import queries
from mirror.policy.admission import RULE, Decision, FileFacts, Refusal, State, decide
from mirror.policy.rules import parse_specifier, version_in
from mirror.services.context import Services

log = logging.getLogger(__name__)


def facts_of(row: Row[Any], anomaly: str | None = None) -> FileFacts:
    return FileFacts(
        state=State(row.state),
        decided_by=row.decided_by,
        hold_until=row.hold_until,
        upload_time=row.upload_time,
        first_seen_at=row.first_seen_at,
        present_upstream=row.present_upstream,
        anomaly=anomaly,
    )


def refusal_for(
    services: Services, blocks: list[Row[Any]], project: str, version: str
) -> Refusal | None:
    """A configured rule, else an active block by a person or an advisory."""
    reason = services.rules.file_refusal(project, version)
    if reason:
        return Refusal(reason, RULE)
    for block in blocks:
        if version_in(parse_specifier(block.specifier), version):
            return Refusal(f"blocked: {block.reason}", block.actor)
    return None


def evaluate(
    conn: Connection,
    services: Services,
    project: str,
    rows: list[Row[Any]],
    now: datetime,
    anomalies: dict[str, str] | None = None,
) -> bool:
    """Decide each file afresh; True when any file entered or left the admitted state."""
    anomalies = anomalies or {}
    config = services.config
    hold_without_time = config.get("policy", "missing_upload_time") == "hold"
    blocks = queries.active_blocks(conn, project)
    changed = False
    for row in rows:
        decision = decide(
            facts_of(row, anomalies.get(row.filename)),
            refusal=refusal_for(services, blocks, project, row.version),
            quarantine=config.quarantine_for(project),
            hold_without_upload_time=hold_without_time,
            now=now,
        )
        if decision is not None and _differs(row, decision):
            apply_decision(conn, project, row, decision, now)
            changed |= State.ADMITTED in (row.state, decision.state)
    return changed


def _differs(row: Row[Any], decision: Decision) -> bool:
    return (row.state, row.reason, row.hold_until) != (
        decision.state,
        decision.reason,
        decision.hold_until,
    )


def apply_decision(
    conn: Connection, project: str, row: Row[Any], decision: Decision, now: datetime
) -> None:
    """Move one file to its new state and write the audit event in the same transaction."""
    queries.update_file(
        conn,
        row.id,
        state=decision.state,
        reason=decision.reason,
        decided_by=decision.decided_by,
        hold_until=decision.hold_until,
        state_at=now,
    )
    queries.record_event(
        conn,
        at=now,
        project=project,
        filename=row.filename,
        from_state=row.state,
        to_state=decision.state,
        actor=decision.decided_by,
        reason=decision.reason,
    )
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
