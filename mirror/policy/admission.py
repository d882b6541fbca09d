"""The admission decision for one distribution file (docs/admission.md).

Age is judged per file, not per release: an attacker can add a fresh wheel to an old release.
Everything here is pure: the caller gathers the facts and passes ``now``.
"""

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple


class State(StrEnum):
    PENDING = "pending"
    QUARANTINED = "quarantined"
    ADMITTED = "admitted"
    BLOCKED = "blocked"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


# By stored value: State(value) goes through Enum's lookup machinery, once per file per decision.
STATES: dict[str, State] = {state.value: state for state in State}

POLICY = "policy"
RULE = "rule"
UPSTREAM = "upstream"
# How a reason names the clock of a file upstream gives no upload time for.
FIRST_SEEN_CLOCK = " (counted from the mirror's first sight: upstream gives no upload time)"


@dataclass(frozen=True, slots=True)
class Decision:
    state: State
    reason: str
    decided_by: str
    hold_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a file must not be served, and who said so (a rule, an admin, an advisory)."""

    reason: str
    actor: str


# A named tuple, not a frozen dataclass: one is made per file per evaluation (see
# ``verdicts.FileView``).
class FileFacts(NamedTuple):
    """What the mirror knows about one file when it decides."""

    state: State
    hold_until: datetime | None
    upload_time: datetime | None
    first_seen_at: datetime
    present_upstream: bool
    anomaly: str | None = None
    hold_reasons: tuple[str, ...] = ()
    rejection: Decision | None = None
    # A check whose evidence is missing or cannot be had now: no admission until it is in.
    waiting: str | None = None
    # Why the whole project is held (upstream marks it quarantined), None when it is not.
    project_hold: str | None = None


def is_review_hold(state: State, hold_until: datetime | None) -> bool:
    """Quarantined with no release time: only a person (or a block) ends it."""
    return state == State.QUARANTINED and hold_until is None


def decide(
    facts: FileFacts,
    *,
    refusal: Refusal | None,
    quarantine: timedelta,
    hold_without_upload_time: bool,
    now: datetime,
) -> Decision | None:
    """The file's next state, or None when it stays as it is.

    Order matters: refusals first (a block beats an earlier approval), then rejections, which
    only a person may undo, then a hold of the whole project (upstream's quarantine: its page
    lists no file, so it comes before disappearance), then disappearance upstream, then
    anomalies and other holds, then age, which admits only once no check is still waiting for
    its evidence. A block lifts by itself when nothing refuses the file any more.
    """
    if refusal:
        return Decision(State.BLOCKED, refusal.reason, refusal.actor)
    if facts.state == State.BLOCKED:
        facts = facts._replace(state=State.PENDING, hold_until=None)
    if facts.state == State.REJECTED or (
        facts.state == State.WITHDRAWN and not facts.present_upstream
    ):
        return None
    if facts.rejection:
        return facts.rejection
    if facts.project_hold:
        if is_review_hold(facts.state, facts.hold_until):
            return None
        return Decision(State.QUARANTINED, facts.project_hold, UPSTREAM)
    if not facts.present_upstream:
        return _withdrawal(facts)
    if facts.state == State.WITHDRAWN:
        return Decision(State.QUARANTINED, "reappeared upstream after withdrawal", UPSTREAM)
    if facts.anomaly:
        return Decision(State.QUARANTINED, facts.anomaly, POLICY)
    if facts.state == State.ADMITTED or is_review_hold(facts.state, facts.hold_until):
        return None
    if facts.hold_reasons:
        return Decision(State.QUARANTINED, "; ".join(facts.hold_reasons), POLICY)
    return _by_age(facts, quarantine, hold_without_upload_time, now)


def _withdrawal(facts: FileFacts) -> Decision:
    if facts.state == State.ADMITTED:
        return Decision(
            State.WITHDRAWN, "admitted file vanished upstream (pulled?); pending review", UPSTREAM
        )
    return Decision(State.WITHDRAWN, "gone upstream before admission", UPSTREAM)


def _by_age(
    facts: FileFacts, quarantine: timedelta, hold_without_upload_time: bool, now: datetime
) -> Decision | None:
    uploaded, clock = facts.upload_time, ""
    if uploaded is None:
        if hold_without_upload_time:
            return _unchanged_or(
                facts,
                Decision(
                    State.QUARANTINED, "upstream gives no upload time; held for review", POLICY
                ),
            )
        # The reason says which clock aged the file: the review and the audit trail show it.
        uploaded, clock = facts.first_seen_at, FIRST_SEEN_CLOCK
    release_at = uploaded + quarantine
    if now >= release_at and facts.waiting:
        # Held, not for review: the scheduler picks it up again (hold_until has passed) and
        # retries the missing checks every cycle.
        return Decision(
            State.QUARANTINED,
            f"quarantine of {_human(quarantine)}{clock} passed; awaiting checks: {facts.waiting}",
            POLICY,
            hold_until=release_at,
        )
    if now >= release_at:
        return _admitted(quarantine, clock)
    held = Decision(
        State.QUARANTINED,
        f"younger than the quarantine of {_human(quarantine)}{clock}",
        POLICY,
        hold_until=release_at,
    )
    return _unchanged_or(facts, held)


def _unchanged_or(facts: FileFacts, decision: Decision) -> Decision | None:
    if facts.state == decision.state and facts.hold_until == decision.hold_until:
        return None
    return decision


def admitted_by_age(quarantine: timedelta) -> Decision:
    """What ``decide`` answers for a pending file present upstream with nothing against it (no
    refusal, rejection, project hold, anomaly, hold reason or check waiting) whose upload time
    is at least ``quarantine`` ago: admitted by age. One object for every such file (a first
    look decides thousands)."""
    return _admitted(quarantine, "")


# A first look admits thousands of files with the same (immutable) decision.
@functools.lru_cache(maxsize=64)
def _admitted(quarantine: timedelta, clock: str) -> Decision:
    return Decision(State.ADMITTED, f"quarantine of {_human(quarantine)}{clock} passed", POLICY)


# Every file of a project names the same quarantine in its reason.
@functools.cache
def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
