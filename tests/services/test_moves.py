"""What a project's moves give rise to (notifications, log lines, audit events), sorted out in
one pass over a first look's thousands of moves, is what the plain filters over the moves
give: the oracle here is each rule written out on its own."""

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from mirror.db.records import FileRecord
from mirror.policy.admission import STATES, Decision, State
from mirror.services import notify, state_changes
from mirror.services.exposure import EXPOSED_STATES, ExposedFile
from tests.support.file_records import file_record

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HOLDS = st.sampled_from([None, NOW + timedelta(days=7)])
# Stored states as the database gives them (strings) and as deciding gives them (``State``).
ROW_STATES = st.sampled_from([*STATES, *STATES.values()])
DECISIONS = st.builds(
    Decision,
    state=st.sampled_from(list(State)),
    reason=st.sampled_from(["quarantine of 7d passed", "incident"]),
    decided_by=st.sampled_from(["policy", "admin:a"]),
    hold_until=HOLDS,
)


@st.composite
def _moves(draw: st.DrawFn) -> list[tuple[FileRecord, Decision]]:
    # Shared decisions, as judging shares them (one admitted-by-age for thousands).
    decisions = draw(st.lists(DECISIONS, min_size=1, max_size=4))
    count = draw(st.integers(0, 12))
    return [
        (
            file_record(
                f"p-{index}.tar.gz",
                version=draw(st.sampled_from(["1.0", "2.0"])),
                state=draw(ROW_STATES),
                hold_until=draw(HOLDS),
            ),
            draw(st.sampled_from(decisions)),
        )
        for index in range(count)
    ]


def _review_hold(state: str, hold_until: datetime | None) -> bool:
    return state == State.QUARANTINED and hold_until is None


@settings(max_examples=300, deadline=None)
@given(moves=_moves())
def test_the_notable_moves_are_those_each_rule_picks(
    moves: list[tuple[FileRecord, Decision]],
) -> None:
    held = [
        (row, d)
        for row, d in moves
        if _review_hold(d.state, d.hold_until) and not _review_hold(row.state, row.hold_until)
    ]
    blocked = [(row, d) for row, d in moves if d.state == State.BLOCKED and row.state != d.state]
    left = [
        ExposedFile(row.filename, row.version, d.state, d.reason, d.decided_by)
        for row, d in moves
        if d.state in EXPOSED_STATES and row.state not in EXPOSED_STATES | {State.PENDING}
    ]
    assert notify._notable(moves) == (held, blocked, left)


@settings(max_examples=300, deadline=None)
@given(moves=_moves())
def test_the_moves_logged_are_counted_or_logged_one_by_one(
    moves: list[tuple[FileRecord, Decision]],
) -> None:
    def routine(row: FileRecord, d: Decision) -> bool:
        timed_hold = d.state == State.QUARANTINED and d.hold_until is not None
        return row.state == State.PENDING and (d.state == State.ADMITTED or timed_hold)

    counts = Counter(f"{row.state}->{d.state}" for row, d in moves if routine(row, d))
    lines = [f"p: {dict(counts)}"] if counts else []
    lines += [
        f"{row.filename}: {row.state} -> {d.state} ({d.reason})"
        for row, d in moves
        if not routine(row, d)
    ]
    with pytest.MonkeyPatch.context() as patch:
        records: list[logging.LogRecord] = []
        patch.setattr(state_changes.log, "handle", records.append)
        patch.setattr(state_changes.log, "isEnabledFor", lambda level: True)
        state_changes.log_moves("p", moves)
    assert [record.getMessage() for record in records] == lines
    if counts:
        assert records[0].moves == counts  # type: ignore[attr-defined]


@settings(max_examples=200, deadline=None)
@given(moves=_moves())
def test_a_first_look_counts_its_admissions_and_lists_its_other_moves(
    moves: list[tuple[FileRecord, Decision]],
) -> None:
    admitted = Counter((d.decided_by, d.reason) for _, d in moves if d.state == State.ADMITTED)
    summaries = [
        (
            None,
            State.PENDING,
            State.ADMITTED,
            actor,
            f"{count} file{'s' if count != 1 else ''} admitted at the first look: {reason}",
        )
        for (actor, reason), count in sorted(admitted.items())
    ]
    others = [
        (row.filename, row.state, d.state, d.decided_by, d.reason)
        for row, d in moves
        if d.state != State.ADMITTED
    ]
    expected = state_changes._prepared_events(sqlite.dialect(), "p", [*summaries, *others], NOW)
    made = state_changes.prepare_first_look_events(sqlite.dialect(), "p", moves, NOW)
    assert made == expected
