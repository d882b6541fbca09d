from datetime import UTC, datetime, timedelta

from mirror.policy.admission import POLICY, RULE, Decision, FileFacts, Refusal, State, decide

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


def facts(**kw: object) -> FileFacts:
    base: dict[str, object] = {
        "state": State.PENDING,
        "hold_until": None,
        "upload_time": NOW - timedelta(days=1),
        "first_seen_at": NOW,
        "present_upstream": True,
    }
    base.update(kw)
    return FileFacts(**base)  # type: ignore[arg-type]


def run(
    f: FileFacts, *, refusal: Refusal | None = None, hold: bool = True, now: datetime = NOW
) -> Decision | None:
    return decide(f, refusal=refusal, quarantine=WEEK, hold_without_upload_time=hold, now=now)


def test_young_file_is_quarantined_until_upload_time_plus_delay() -> None:
    decision = run(facts())
    assert decision is not None
    assert decision.state == State.QUARANTINED
    assert decision.hold_until == NOW - timedelta(days=1) + WEEK


def test_old_file_is_admitted() -> None:
    decision = run(facts(upload_time=NOW - timedelta(days=8)))
    assert decision is not None and decision.state == State.ADMITTED


def test_quarantine_ends_exactly_at_the_release_time() -> None:
    held = facts(state=State.QUARANTINED, hold_until=NOW + timedelta(days=6))
    assert run(held) is None
    decision = run(held, now=NOW + timedelta(days=6))
    assert decision is not None and decision.state == State.ADMITTED


def test_missing_upload_time_fails_closed_unless_configured() -> None:
    decision = run(facts(upload_time=None))
    assert decision is not None
    assert decision.state == State.QUARANTINED and decision.hold_until is None
    admitted_later = run(facts(upload_time=None, first_seen_at=NOW - timedelta(days=8)), hold=False)
    assert admitted_later is not None and admitted_later.state == State.ADMITTED


def test_rule_beats_everything_even_an_approval() -> None:
    decision = run(facts(state=State.ADMITTED), refusal=Refusal("denied", RULE))
    assert decision is not None and decision.state == State.BLOCKED
    assert decision.decided_by == RULE


def test_rule_block_lifts_when_the_rule_is_gone() -> None:
    blocked = facts(state=State.BLOCKED, upload_time=NOW - timedelta(days=30))
    decision = run(blocked)
    assert decision is not None and decision.state == State.ADMITTED


def test_block_by_a_person_lifts_only_with_the_block() -> None:
    blocked = facts(state=State.BLOCKED, upload_time=NOW - timedelta(days=30))
    still = run(blocked, refusal=Refusal("incident 42", "admin:alice"))
    assert still is not None and (still.state, still.reason) == (State.BLOCKED, "incident 42")
    lifted = run(blocked)
    assert lifted is not None and lifted.state == State.ADMITTED


def test_rejection_is_final_for_policy() -> None:
    assert run(facts(state=State.REJECTED)) is None


def test_failed_check_rejects_even_an_old_file() -> None:
    rejection = Decision(State.REJECTED, "attestation does not verify", "provenance")
    decision = run(facts(upload_time=NOW - timedelta(days=90), rejection=rejection))
    assert decision == rejection


def test_vanished_files_are_withdrawn() -> None:
    pending = run(facts(present_upstream=False))
    assert pending is not None and pending.state == State.WITHDRAWN
    admitted = run(facts(state=State.ADMITTED, present_upstream=False))
    assert admitted is not None and admitted.state == State.WITHDRAWN
    assert "pending review" in admitted.reason


def test_reappearing_file_is_held_for_review() -> None:
    decision = run(facts(state=State.WITHDRAWN))
    assert decision is not None
    assert decision.state == State.QUARANTINED and decision.hold_until is None


def test_anomaly_holds_even_an_old_or_admitted_file() -> None:
    for state in (State.PENDING, State.ADMITTED):
        decision = run(
            facts(state=state, upload_time=NOW - timedelta(days=90), anomaly="from the past")
        )
        assert decision is not None
        assert (decision.state, decision.hold_until, decision.decided_by) == (
            State.QUARANTINED,
            None,
            POLICY,
        )


def test_review_hold_is_not_released_by_age() -> None:
    held = facts(state=State.QUARANTINED, hold_until=None, upload_time=NOW - timedelta(days=90))
    assert run(held) is None


def test_hold_reasons_from_checks_hold_for_review() -> None:
    decision = run(facts(upload_time=NOW - timedelta(days=30), hold_reasons=("executable .pth",)))
    assert decision is not None
    assert decision.state == State.QUARANTINED and decision.hold_until is None
