"""What evidence means for admission: baselines, needs and verdicts (pure)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import InvalidVersion, Version

from mirror.policy import verdicts
from mirror.policy.admission import FileFacts, State, decide
from mirror.policy.verdicts import Baseline, FileView
from mirror.publishers import ProvenanceMode

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
    assert verdicts.is_historic({verdicts.FIRST_LOOK: True}, old, seen, week)
    assert not verdicts.is_historic({verdicts.FIRST_LOOK: True}, young, seen, week)
    assert not verdicts.is_historic({}, old, seen, week)
    assert not verdicts.is_historic({verdicts.FIRST_LOOK: True}, None, seen, week)


def anchor(files: list[FileView], *, unlisted_may_attest: bool = False) -> FileView | None:
    return verdicts.anchor_file(files, unlisted_may_attest=unlisted_may_attest)


def test_the_anchor_is_one_file_of_the_newest_settled_release_listing_provenance() -> None:
    files = [
        view("p-1.0.tar.gz", "1.0", state=State.ADMITTED, listed=True),
        view("p-1.10-py3-none-any.whl", "1.10", state=State.ADMITTED, listed=True),
        view("p-1.10.tar.gz", "1.10", state=State.ADMITTED, listed=True),
        view("p-2.0.tar.gz", "2.0", listed=True),  # quarantined: not settled
        view("p-1.9.tar.gz", "1.9", state=State.PENDING, historic=True, listed=True),
        # Newer, but upstream lists no provenance for it: cannot bury the attested history.
        view("p-1.11.tar.gz", "1.11", state=State.PENDING, historic=True),
    ]
    found = anchor(files)
    assert found is not None and found.filename == "p-1.10.tar.gz"


def test_the_anchor_prefers_a_listed_file_of_its_release() -> None:
    files = [
        view("p-1.0.tar.gz", "1.0", state=State.ADMITTED),
        view("p-1.0-py3-none-any.whl", "1.0", state=State.ADMITTED, listed=True),
    ]
    found = anchor(files)
    assert found is not None and found.filename == "p-1.0-py3-none-any.whl"


def test_without_listed_provenance_there_is_no_anchor_unless_a_template_may_have_some() -> None:
    files = [
        view("p-1.0.tar.gz", "1.0", state=State.ADMITTED),
        view("p-1.1.tar.gz", "1.1", state=State.PENDING, historic=True),
    ]
    assert anchor(files) is None
    found = anchor(files, unlisted_may_attest=True)
    assert found is not None and found.filename == "p-1.1.tar.gz"


def test_a_rejected_anchor_gives_way_to_the_next_attested_release_below() -> None:
    files = [
        view("p-1.0.tar.gz", "1.0", state=State.ADMITTED, listed=True),
        view("p-1.1.tar.gz", "1.1", state=State.REJECTED, listed=True),
    ]
    found = anchor(files)
    assert found is not None and found.filename == "p-1.0.tar.gz"


def test_history_above_the_anchor_needs_provenance() -> None:
    base = view("p-1.0.tar.gz", "1.0", state=State.PENDING, historic=True, listed=True)
    newer = view("p-1.1.tar.gz", "1.1", state=State.PENDING, historic=True)
    beside = view("p-1.0-py3-none-any.whl", "1.0", state=State.PENDING, historic=True)
    listed_beside = beside._replace(listed=True)
    older = view("p-0.9.tar.gz", "0.9", state=State.PENDING, historic=True)
    for f in (newer, beside):
        assert verdicts.above_anchor(f, base) and verdicts.provenance_needed("continuity", f, base)
    for f in (base, listed_beside, older):
        assert not verdicts.above_anchor(f, base)
    assert not verdicts.provenance_needed("continuity", older, base)
    # Once the anchor failed, nothing else of its release passes as history.
    failed = base._replace(evidence=record("failed"))
    assert verdicts.above_anchor(listed_beside, failed)
    # An anchor upstream lists nothing for (the template's guess) holds no sibling.
    guessed = base._replace(listed=False)
    assert not verdicts.above_anchor(beside, guessed)
    assert not verdicts.above_anchor(newer, None)


def test_versions_equal_by_pep_440_are_one_release() -> None:
    files = [
        view("p-2.0-py3-none-any.whl", "2.0", state=State.ADMITTED),
        view("p-2.0.0.tar.gz", "2.0.0", state=State.ADMITTED),
        view("p-1.0.tar.gz", "1.0", state=State.ADMITTED),
    ]
    found = anchor(files, unlisted_may_attest=True)
    assert found is not None and found.filename == "p-2.0.0.tar.gz"
    candidate = view("p-3.0-py3-none-any.whl", "3.0")
    older = view("p-2-py3-none-any.whl", "2", state=State.ADMITTED)
    previous = verdicts.content_baseline([*files, older], candidate)
    assert previous is not None and previous.filename == "p-2-py3-none-any.whl"


def test_a_review_hold_is_not_settled_history() -> None:
    held = view("p-1.0.tar.gz", "1.0", historic=True, hold_until=None)
    assert anchor([held], unlisted_may_attest=True) is None


def test_publisher_baseline_is_the_newest_settled_verified_file() -> None:
    files = [
        view("p-1.0.tar.gz", "1.0", state=State.ADMITTED, evidence=verified("GitHub:a/b@x.yml")),
        view("p-1.1.tar.gz", "1.1", state=State.ADMITTED, evidence=verified()),
        view("p-1.2.tar.gz", "1.2", state=State.ADMITTED),
        view("p-2.0.tar.gz", "2.0", evidence=verified("GitHub:evil/fork@x.yml")),
    ]
    assert verdicts.publisher_baseline(files) == Baseline("p-1.1.tar.gz", IDENTITY)


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
    found = verdicts.content_baseline(files, wheel)
    assert found is not None and found.filename == "p-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    found = verdicts.content_baseline(files, sdist)
    assert found is not None and found.filename == "p-1.0.tar.gz"
    assert verdicts.content_baseline(files, first) is None


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
    assert verdicts.provenance_needed(mode, f, None) is needed  # type: ignore[arg-type]


@st.composite
def historic_files(draw: st.DrawFn) -> list[FileView]:
    """History as a first look lists it, some of it held, rejected or gone since."""
    versions = st.sampled_from(["0.9", "1.0", "1.0.0", "2.0rc1", "2.0", "not-a-version"])
    kinds = st.sampled_from(["py3-none-any.whl", "cp312-cp312-linux.whl", "tar.gz"])
    files = {}
    for version, kind in draw(st.lists(st.tuples(versions, kinds), max_size=12)):
        files[version, kind] = view(
            f"demo-{version}-{kind}",
            version,
            state=draw(st.sampled_from([State.PENDING, State.QUARANTINED, State.REJECTED])),
            hold_until=None,
            present_upstream=draw(st.booleans()),
            historic=True,
            listed=draw(st.booleans()),
            evidence=draw(st.sampled_from([{}, {"provenance": record("failed")}])),
        )
    return list(files.values())


@settings(max_examples=300, deadline=None)
@given(
    historic=historic_files(),
    mode=st.sampled_from(["off", "continuity", "required"]),
    unlisted_may_attest=st.booleans(),
)
def test_history_needing_provenance_is_what_each_file_needs(
    historic: list[FileView], mode: ProvenanceMode, unlisted_may_attest: bool
) -> None:
    """Asking per release gives what asking each file gives, and the anchor among settled
    files is the anchor of all of them."""
    found = anchor(historic, unlisted_may_attest=unlisted_may_attest)
    settled = [f for f in historic if f.settled]
    assert verdicts.anchor_among(settled, unlisted_may_attest=unlisted_may_attest) == found
    expected = [f for f in historic if verdicts.provenance_needed(mode, f, found)]
    assert verdicts.historic_needing_provenance(mode, historic, found) == expected


def test_the_continuity_anchor_needs_provenance_even_when_historic() -> None:
    anchor = view("p-1.0.tar.gz", "1.0", historic=True, state=State.PENDING)
    assert verdicts.provenance_needed("continuity", anchor, anchor)


def verdict(f: FileView, mode: str = "continuity", **kw: Any) -> verdicts.Verdict:
    kw.setdefault("pinned", None)
    kw.setdefault("baseline", Baseline("p-1.0.tar.gz", IDENTITY))
    kw.setdefault("anchor", None)
    kw.setdefault("needed", True)
    return verdicts.provenance_verdict(mode, f, **kw)  # type: ignore[arg-type]


def record(status: str, **kw: Any) -> dict[str, Any]:
    return {"provenance": {"status": status, "pinned": None, "reason": "why", **kw}}


def test_missing_or_unavailable_provenance_waits() -> None:
    assert verdict(view("p-2.0.tar.gz", "2.0")).waiting == "provenance not checked yet"
    unavailable = view("p-2.0.tar.gz", "2.0", evidence=record("unavailable", reason="TUFError"))
    assert verdict(unavailable).waiting == "cannot verify provenance now: TUFError"
    assert verdict(unavailable, needed=False) == verdicts.Verdict()


def test_a_failed_verification_rejects_in_every_mode_but_off() -> None:
    failed = view("p-2.0.tar.gz", "2.0", historic=True, evidence=record("failed"))
    assert verdict(failed).rejection == "provenance verification failed: why"
    assert verdict(failed, "required").rejection is not None
    assert verdict(failed, "off") == verdicts.Verdict()


def test_continuity_holds_a_missing_or_changed_publisher() -> None:
    absent = view("p-2.0.tar.gz", "2.0", evidence=record("absent"))
    (reason,) = verdict(absent).hold_reasons
    assert f"p-1.0.tar.gz was published with attestations by {IDENTITY}" in reason
    other = view("p-2.0.tar.gz", "2.0", evidence=record("verified", identity="GitHub:x/y@z.yml"))
    (reason,) = verdict(other).hold_reasons
    assert reason.startswith("publisher changed to GitHub:x/y@z.yml from")
    same = view("p-2.0.tar.gz", "2.0", evidence=record("verified", identity=IDENTITY))
    assert verdict(same) == verdicts.Verdict()
    assert verdict(absent, baseline=None) == verdicts.Verdict()


def test_continuity_leaves_history_below_the_anchor_alone() -> None:
    old = view("p-0.5.tar.gz", "0.5", historic=True, evidence=record("absent"))
    assert verdict(old) == verdicts.Verdict()
    base = view("p-1.0.tar.gz", "1.0", state=State.ADMITTED, listed=True)
    assert verdict(old, anchor=base) == verdicts.Verdict()


def test_continuity_holds_history_above_the_anchor_without_verified_provenance() -> None:
    base = view("p-1.0.tar.gz", "1.0", state=State.ADMITTED, listed=True)
    newer = view("p-1.1.tar.gz", "1.1", historic=True, evidence=record("absent"))
    (reason,) = verdict(newer, anchor=base).hold_reasons
    assert f"p-1.0.tar.gz was published with attestations by {IDENTITY}" in reason
    # The anchor not verified (failed, or 404): the listing still says the project attests.
    (reason,) = verdict(newer, anchor=base, baseline=None).hold_reasons
    assert (
        reason == "no verified attestations (why), but upstream lists attestations for p-1.0.tar.gz"
    )
    assert verdict(newer, anchor=base._replace(listed=False), baseline=None) == verdicts.Verdict()
    same = newer._replace(evidence=record("verified", identity=IDENTITY))
    assert verdict(same, anchor=base) == verdicts.Verdict()


def test_required_mode_holds_what_has_no_provenance_and_rechecks_a_new_pin() -> None:
    absent = view("p-2.0.tar.gz", "2.0", evidence=record("absent", reason="upstream has none"))
    expected = ("provenance required, but upstream has none",)
    assert verdict(absent, "required").hold_reasons == expected
    stale = view("p-2.0.tar.gz", "2.0", evidence=record("verified", identity=IDENTITY))
    assert verdict(stale, "required", pinned=IDENTITY).waiting == "provenance not checked yet"


def test_content_flags_hold_and_missing_inspection_waits() -> None:
    flags = [{"code": "executable-pth", "text": "x.pth runs code"}]
    content = {"content": {"flags": flags}}
    flagged = view("p-2.0.tar.gz", "2.0", evidence=content, report_current=True)
    assert verdicts.content_verdict(flagged).hold_reasons == ("content: x.pth runs code",)
    # Flags from an older inspector's rules are not a verdict: the file is inspected again.
    older = {"content": {"flags": [], "report": {"version": 1}}}
    stale = verdicts.content_verdict(view("p-2.0.tar.gz", "2.0", evidence=older))
    assert stale.waiting == "content not inspected yet"
    error = {"content": {"error": "cannot inspect now: timeout"}}
    waiting = verdicts.content_verdict(view("p-2.0.tar.gz", "2.0", evidence=error)).waiting
    assert waiting == "content not inspected yet: cannot inspect now: timeout"
    assert (
        verdicts.content_verdict(view("p-1.0.tar.gz", "1.0", historic=True)) == verdicts.Verdict()
    )


def test_waiting_keeps_a_file_past_its_quarantine_held_but_not_for_review() -> None:
    facts = FileFacts(
        state=State.QUARANTINED,
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


def test_content_baseline_is_the_closest_platform_when_the_tags_were_renamed() -> None:
    # A release that renamed its manylinux tags has no file with the same tag string below
    # it: comparing a Linux wheel with the first wheel by name (a macOS one, for another
    # Python) flagged every native library as new.
    previous = [
        "p-1.0-cp310-cp310-macosx_10_9_universal2.whl",
        "p-1.0-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "p-1.0-cp311-cp311-macosx_10_9_universal2.whl",
        "p-1.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
        "p-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "p-1.0-cp311-cp311-win_amd64.whl",
    ]
    files = [view(name, "1.0", state=State.ADMITTED) for name in previous]
    linux = "p-1.1-cp311-cp311-manylinux1_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl"
    expected = {
        linux: "p-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "p-1.1-cp312-cp312-manylinux_2_28_x86_64.whl": (
            "p-1.0-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
        ),
        "p-1.1-cp311-cp311-macosx_11_0_arm64.whl": "p-1.0-cp311-cp311-macosx_10_9_universal2.whl",
        "p-1.1-cp311-cp311-win32.whl": "p-1.0-cp311-cp311-win_amd64.whl",
    }
    for candidate, baseline in expected.items():
        found = verdicts.content_baseline(files, view(candidate, "1.1"))
        assert found is not None and found.filename == baseline, candidate


VERSION_TEXTS = st.one_of(
    st.from_regex(
        r"\A([1-9]!)?(0|1|10)(\.(0|1|10)){0,3}((a|b|rc)[0-9])?(\.post[0-9])?(\.dev[0-9])?"
        r"(\+[a-z0-9]{1,3}(\.[a-z0-9]{1,3})?)?\Z"
    ),
    st.sampled_from(["not-a-version", "", "1.0-", "latest"]),
)


@settings(max_examples=500, deadline=None)
@given(first=VERSION_TEXTS, second=VERSION_TEXTS)
def test_version_keys_order_as_versions_do(first: str, second: str) -> None:
    """The sort key orders and equates versions as PEP 440 does; a string that is no
    version sorts before every version, and among such strings as text."""

    def parsed(text: str) -> tuple[int, Version | str]:
        try:
            return (1, Version(text))
        except InvalidVersion:
            return (0, text)

    mine, theirs = verdicts.version_key(first), verdicts.version_key(second)
    assert (mine < theirs) == (parsed(first) < parsed(second))
    assert (mine == theirs) == (parsed(first) == parsed(second))
