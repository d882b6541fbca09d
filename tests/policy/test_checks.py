"""What evidence means for admission: baselines, needs and verdicts (pure)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mirror.checks.content import REPORT_VERSION
from mirror.policy import checks
from mirror.policy.admission import POLICY, FileFacts, State, decide
from mirror.policy.checks import Baseline, FileView

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
IDENTITY = "GitHub:owner/repo@release.yml"


def view(filename: str, version: str, **kw: Any) -> FileView:
    base: dict[str, Any] = {
        "filename": filename,
        "version": version,
        "state": State.QUARANTINED,
        "hold_until": NOW + timedelta(days=1),
        "present_upstream": True,
        "historic": False,
        "evidence": {},
    }
    base.update(kw)
    return FileView(**base)


def verified(identity: str = IDENTITY) -> dict[str, Any]:
    return {"provenance": {"status": "verified", "identity": identity, "pinned": None}}


def test_history_is_only_what_was_old_at_the_first_look() -> None:
    seen = NOW
    old, young = seen - timedelta(days=8), seen - timedelta(days=6)
    week = timedelta(days=7)
    assert checks.is_historic({checks.FIRST_LOOK: True}, old, seen, week)
    assert not checks.is_historic({checks.FIRST_LOOK: True}, young, seen, week)
    assert not checks.is_historic({}, old, seen, week)
    assert not checks.is_historic({checks.FIRST_LOOK: True}, None, seen, week)


def test_baseline_file_is_one_file_of_the_newest_settled_release() -> None:
    files = [
        view("p-1.0.tar.gz", "1.0", state=State.ADMITTED),
        view("p-1.10-py3-none-any.whl", "1.10", state=State.ADMITTED),
        view("p-1.10.tar.gz", "1.10", state=State.ADMITTED),
        view("p-2.0.tar.gz", "2.0"),  # quarantined: not settled
        view("p-1.9.tar.gz", "1.9", state=State.PENDING, historic=True),
    ]
    anchor = checks.baseline_file(files)
    assert anchor is not None and anchor.filename == "p-1.10.tar.gz"


def test_versions_equal_by_pep_440_are_one_release() -> None:
    files = [
        view("p-2.0-py3-none-any.whl", "2.0", state=State.ADMITTED),
        view("p-2.0.0.tar.gz", "2.0.0", state=State.ADMITTED),
        view("p-1.0.tar.gz", "1.0", state=State.ADMITTED),
    ]
    anchor = checks.baseline_file(files)
    assert anchor is not None and anchor.filename == "p-2.0.0.tar.gz"
    candidate = view("p-3.0-py3-none-any.whl", "3.0")
    older = view("p-2-py3-none-any.whl", "2", state=State.ADMITTED)
    previous = checks.content_baseline([*files, older], candidate)
    assert previous is not None and previous.filename == "p-2-py3-none-any.whl"


def test_a_review_hold_is_not_settled_history() -> None:
    held = view("p-1.0.tar.gz", "1.0", historic=True, hold_until=None)
    assert checks.baseline_file([held]) is None


def test_publisher_baseline_is_the_newest_settled_verified_file() -> None:
    files = [
        view("p-1.0.tar.gz", "1.0", state=State.ADMITTED, evidence=verified("GitHub:a/b@x.yml")),
        view("p-1.1.tar.gz", "1.1", state=State.ADMITTED, evidence=verified()),
        view("p-1.2.tar.gz", "1.2", state=State.ADMITTED),
        view("p-2.0.tar.gz", "2.0", evidence=verified("GitHub:evil/fork@x.yml")),
    ]
    assert checks.publisher_baseline(files) == Baseline("p-1.1.tar.gz", IDENTITY)


def test_content_baseline_is_the_previous_release_same_kind_same_tags() -> None:
    files = [
        view("p-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", "1.0", state=State.ADMITTED),
        view("p-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", "1.0", state=State.ADMITTED),
        view("p-1.0.tar.gz", "1.0", state=State.ADMITTED),
        view("p-0.9-cp312-cp312-manylinux_2_17_x86_64.whl", "0.9", state=State.ADMITTED),
        view("p-3.0-cp312-cp312-manylinux_2_17_x86_64.whl", "3.0", state=State.ADMITTED),
    ]
    wheel = view("p-2.0-cp312-cp312-manylinux_2_17_x86_64.whl", "2.0")
    sdist = view("p-2.0.tar.gz", "2.0")
    first = view("p-0.1.tar.gz", "0.1")
    found = checks.content_baseline(files, wheel)
    assert found is not None and found.filename == "p-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    found = checks.content_baseline(files, sdist)
    assert found is not None and found.filename == "p-1.0.tar.gz"
    assert checks.content_baseline(files, first) is None


@pytest.mark.parametrize(
    ("mode", "historic", "state", "needed"),
    [
        ("continuity", False, State.QUARANTINED, True),
        ("continuity", True, State.PENDING, False),
        ("required", True, State.PENDING, True),
        ("required", False, State.ADMITTED, False),
        ("off", False, State.QUARANTINED, False),
    ],
)
def test_which_files_need_provenance(mode: str, historic: bool, state: State, needed: bool) -> None:
    f = view("p-1.0.tar.gz", "1.0", historic=historic, state=state)
    assert checks.provenance_needed(mode, f, None) is needed  # type: ignore[arg-type]


def test_the_continuity_anchor_needs_provenance_even_when_historic() -> None:
    anchor = view("p-1.0.tar.gz", "1.0", historic=True, state=State.PENDING)
    assert checks.provenance_needed("continuity", anchor, anchor)


def verdict(f: FileView, mode: str = "continuity", **kw: Any) -> checks.Verdict:
    kw.setdefault("pinned", None)
    kw.setdefault("baseline", Baseline("p-1.0.tar.gz", IDENTITY))
    kw.setdefault("needed", True)
    return checks.provenance_verdict(mode, f, **kw)  # type: ignore[arg-type]


def record(status: str, **kw: Any) -> dict[str, Any]:
    return {"provenance": {"status": status, "pinned": None, "reason": "why", **kw}}


def test_missing_or_unavailable_provenance_waits() -> None:
    assert verdict(view("p-2.0.tar.gz", "2.0")).waiting == "provenance not checked yet"
    unavailable = view("p-2.0.tar.gz", "2.0", evidence=record("unavailable", reason="TUFError"))
    assert verdict(unavailable).waiting == "cannot verify provenance now: TUFError"
    assert verdict(unavailable, needed=False) == checks.Verdict()


def test_a_failed_verification_rejects_in_every_mode_but_off() -> None:
    failed = view("p-2.0.tar.gz", "2.0", historic=True, evidence=record("failed"))
    assert verdict(failed).rejection == "provenance verification failed: why"
    assert verdict(failed, "required").rejection is not None
    assert verdict(failed, "off") == checks.Verdict()


def test_continuity_holds_a_missing_or_changed_publisher() -> None:
    absent = view("p-2.0.tar.gz", "2.0", evidence=record("absent"))
    (reason,) = verdict(absent).hold_reasons
    assert f"p-1.0.tar.gz was published with attestations by {IDENTITY}" in reason
    other = view("p-2.0.tar.gz", "2.0", evidence=record("verified", identity="GitHub:x/y@z.yml"))
    (reason,) = verdict(other).hold_reasons
    assert reason.startswith("publisher changed to GitHub:x/y@z.yml from")
    same = view("p-2.0.tar.gz", "2.0", evidence=record("verified", identity=IDENTITY))
    assert verdict(same) == checks.Verdict()
    assert verdict(absent, baseline=None) == checks.Verdict()


def test_continuity_leaves_history_alone() -> None:
    old = view("p-0.5.tar.gz", "0.5", historic=True, evidence=record("absent"))
    assert verdict(old) == checks.Verdict()


def test_required_mode_holds_what_has_no_provenance_and_rechecks_a_new_pin() -> None:
    absent = view("p-2.0.tar.gz", "2.0", evidence=record("absent", reason="upstream has none"))
    expected = ("provenance required, but upstream has none",)
    assert verdict(absent, "required").hold_reasons == expected
    stale = view("p-2.0.tar.gz", "2.0", evidence=record("verified", identity=IDENTITY))
    assert verdict(stale, "required", pinned=IDENTITY).waiting == "provenance not checked yet"


def test_content_flags_hold_and_missing_inspection_waits() -> None:
    flags = [{"code": "executable-pth", "text": "x.pth runs code"}]
    flagged = {"content": {"flags": flags, "report": {"version": REPORT_VERSION}}}
    assert checks.content_verdict(view("p-2.0.tar.gz", "2.0", evidence=flagged)).hold_reasons == (
        "content: x.pth runs code",
    )
    # Flags from an older inspector's rules are not a verdict: the file is inspected again.
    older = {"content": {"flags": [], "report": {"version": REPORT_VERSION - 1}}}
    stale = checks.content_verdict(view("p-2.0.tar.gz", "2.0", evidence=older))
    assert stale.waiting == "content not inspected yet"
    error = {"content": {"error": "cannot inspect now: timeout"}}
    waiting = checks.content_verdict(view("p-2.0.tar.gz", "2.0", evidence=error)).waiting
    assert waiting == "content not inspected yet: cannot inspect now: timeout"
    assert checks.content_verdict(view("p-1.0.tar.gz", "1.0", historic=True)) == checks.Verdict()


def test_waiting_keeps_a_file_past_its_quarantine_held_but_not_for_review() -> None:
    facts = FileFacts(
        state=State.QUARANTINED,
        decided_by=POLICY,
        hold_until=NOW - timedelta(hours=1),
        upload_time=NOW - timedelta(days=8),
        first_seen_at=NOW - timedelta(days=8),
        present_upstream=True,
        waiting="content not inspected yet",
    )
    week = timedelta(days=7)
    decision = decide(facts, refusal=None, quarantine=week, hold_without_upload_time=True, now=NOW)
    assert decision is not None
    assert (decision.state, decision.hold_until) == (State.QUARANTINED, NOW - timedelta(days=1))
    assert decision.reason == "quarantine of 7d passed; awaiting checks: content not inspected yet"
