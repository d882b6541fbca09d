"""Events for webhooks (docs/notifications.md), recorded in the transaction of what caused
them: a rolled-back change sends nothing, and a committed one is never lost to a crash. The
delivery workers (``mirror.services.webhooks``) send them.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from mirror.db import notification_rows
from mirror.db.records import FileRow
from mirror.policy.admission import Decision, State, is_review_hold
from mirror.services.exposure import (
    EXPOSED_STATES,
    ExposedFile,
    Exposure,
    exposure_json,
    exposure_of,
)

HELD_FOR_REVIEW = "held_for_review"
BLOCKED = "blocked"
EXPOSURE = "exposure"
ADVISORY_MATCH = "advisory_match"
PUBLISH_FAILED = "publish_failed"
SCHEDULER_STALLED = "scheduler_stalled"

MAX_SUMMARY = 500


@dataclass(frozen=True)
class Event:
    kind: str
    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)
    project: str | None = None
    # Set on events several processes may notice: the first recorded stands.
    dedupe_key: str | None = None


def one_line(text: str) -> str:
    """``text`` as one printable line of at most ``MAX_SUMMARY`` characters: a chat shows
    it as it is, and reasons may quote what upstream or an advisory wrote."""
    printable = "".join(c if c.isprintable() else " " for c in text)
    line = " ".join(printable.split())
    return line if len(line) <= MAX_SUMMARY else line[: MAX_SUMMARY - 1] + "…"


def record(conn: Connection, event: Event, now: datetime) -> bool:
    """Queue ``event`` for the webhooks that subscribe to its kind; whether it was (an event
    with a ``dedupe_key`` already recorded is not)."""
    return notification_rows.add_notification(
        conn,
        {
            "kind": event.kind,
            "at": now,
            "project": event.project,
            "dedupe_key": event.dedupe_key,
            "summary": one_line(event.summary),
            "details": dict(event.details),
        },
    )


def record_moves(
    conn: Connection,
    project: str,
    moves: Sequence[tuple[FileRow, Decision]],
    now: datetime,
) -> None:
    """The events of files moving state: releases held for a person, blocked, and, when files
    that clients had downloaded became blocked, rejected or withdrawn, the exposure."""
    held, blocked, left = _notable(moves)
    for kind, verb, group in (
        (HELD_FOR_REVIEW, "held for review", held),
        (BLOCKED, "blocked", blocked),
    ):
        for version, release in _by_version(group).items():
            record(conn, _release_event(kind, verb, project, version, release), now)
    if left:
        found = exposure_of(conn, project, "", left)
        if found.identities:
            record(conn, exposure_event(found), now)


# A pending file was never served: leaving it exposes nothing.
_NEVER_SERVED = EXPOSED_STATES | {State.PENDING}


def _notable(
    moves: Sequence[tuple[FileRow, Decision]],
) -> tuple[list[tuple[FileRow, Decision]], list[tuple[FileRow, Decision]], list[ExposedFile]]:
    """The moves that hold a file for review, those that block one, and the files that left
    a state clients could download them in for an exposed one, in one pass: a first look
    makes thousands of moves, all but a few to admitted, which asks nothing."""
    held: list[tuple[FileRow, Decision]] = []
    blocked: list[tuple[FileRow, Decision]] = []
    left: list[ExposedFile] = []
    for row, decision in moves:
        state = decision.state
        if state == State.ADMITTED:
            continue
        if _newly_held(row, decision):
            held.append((row, decision))
        elif state == State.BLOCKED and row.state != state:
            blocked.append((row, decision))
        if state in EXPOSED_STATES and row.state not in _NEVER_SERVED:
            left.append(
                ExposedFile(row.filename, row.version, state, decision.reason, decision.decided_by)
            )
    return held, blocked, left


def _newly_held(row: FileRow, decision: Decision) -> bool:
    return is_review_hold(decision.state, decision.hold_until) and not is_review_hold(
        State(row.state), row.hold_until
    )


def _by_version(
    moves: Sequence[tuple[FileRow, Decision]],
) -> dict[str, list[tuple[FileRow, Decision]]]:
    grouped: dict[str, list[tuple[FileRow, Decision]]] = {}
    for row, decision in moves:
        grouped.setdefault(row.version, []).append((row, decision))
    return grouped


def _release_event(
    kind: str, verb: str, project: str, version: str, moves: list[tuple[FileRow, Decision]]
) -> Event:
    first = moves[0][1]
    count = f"{len(moves)} file{'s' if len(moves) != 1 else ''}"
    return Event(
        kind=kind,
        project=project,
        summary=f"{project} {version} {verb} ({count}) by {first.decided_by}: {first.reason}",
        details={
            "project": project,
            "version": version,
            "files": [
                {
                    "filename": row.filename,
                    "from_state": row.state,
                    "state": str(decision.state),
                    "reason": decision.reason,
                    "decided_by": decision.decided_by,
                }
                for row, decision in moves
            ],
        },
    )


def exposure_event(found: Exposure) -> Event:
    """The ``exposure`` event: who downloaded files that were just blocked, rejected or
    withdrawn."""
    versions = sorted({f.version for f in found.files})
    who = len(found.identities)
    return Event(
        kind=EXPOSURE,
        project=found.project,
        summary=(
            f"exposure: {found.project} {', '.join(versions)} was downloaded {found.downloads} "
            f"time{'s' if found.downloads != 1 else ''} by {who} "
            f"identit{'ies' if who != 1 else 'y'} before it was "
            f"{'/'.join(sorted({f.state for f in found.files}))}; rotate their credentials "
            f"(mirror audit exposure {found.project})"
        ),
        details=exposure_json(found),
    )
