"""OSV documents to advisories: malicious detection, ranges as PEP 440 specifiers, bad input."""

from typing import Any

import pytest

from mirror.advisories.osv import Advisory, AdvisoryError, parse
from mirror.policy.rules import parse_specifier, version_in
from tests.support.osv import malicious, npm_malicious, vulnerability


def affected(advisory: Advisory | None, version: str) -> bool:
    assert advisory is not None
    return any(version_in(parse_specifier(a.specifier), version) for a in advisory.affected)


def with_events(*events: dict[str, str], kind: str = "ECOSYSTEM") -> Advisory | None:
    doc = malicious("MAL-2026-1", "Evil_Pkg", ranges=[{"type": kind, "events": list(events)}])
    return parse(doc, "t.json")


def test_malicious_report_is_recognised_and_normalised() -> None:
    advisory = parse(malicious("MAL-2026-10", "Evil_Pkg", versions=["1.0.0"]), "t.json")
    assert advisory is not None
    assert advisory.malicious and advisory.actor == "advisory:MAL-2026-10"
    assert [(a.project, a.specifier) for a in advisory.affected] == [("evil-pkg", "==1.0.0")]
    assert advisory.summary == "Malicious code in Evil_Pkg (PyPI)"
    assert advisory.links == ("https://security.example/reports/Evil_Pkg",)


def test_malicious_flags_beyond_the_id() -> None:
    origins = malicious("GHSA-aaaa-bbbb-cccc", "evil", versions=["1.0"])
    assert parse(origins, "t.json").malicious  # type: ignore[union-attr]
    ghsa = vulnerability("GHSA-mv6c-59h7-fp7x", "evil", introduced="0", fixed="2")
    ghsa["affected"][0]["database_specific"] = {"cwes": [{"cweId": "CWE-506"}]}
    assert parse(ghsa, "t.json").malicious  # type: ignore[union-attr]
    plain = vulnerability("PYSEC-2026-1", "requests-like", introduced="1.0", fixed="1.5")
    assert not parse(plain, "t.json").malicious  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("events", "inside", "outside"),
    [
        ([{"introduced": "0"}], ["0.1", "99"], []),
        ([{"introduced": "1.0"}, {"fixed": "1.2"}], ["1.0", "1.1.9", "1.2rc1"], ["0.9", "1.2"]),
        ([{"introduced": "1.0"}, {"last_affected": "1.2"}], ["1.2"], ["1.2.post1", "1.3"]),
        ([{"fixed": "2.0"}], ["0.1", "1.9"], ["2.0"]),
        (
            [{"introduced": "3.0"}, {"fixed": "3.1"}, {"introduced": "1.0"}, {"fixed": "1.5"}],
            ["1.0", "1.4", "3.0.5"],
            ["0.5", "1.5", "2.0", "3.1"],
        ),
        ([{"introduced": "1.0"}, {"limit": "9"}], ["1.0", "10"], ["0.9"]),
    ],
)
def test_ranges_follow_osv_evaluation(
    events: list[dict[str, str]], inside: list[str], outside: list[str]
) -> None:
    advisory = with_events(*events)
    assert all(affected(advisory, v) for v in inside)
    assert not any(affected(advisory, v) for v in outside)


def test_semver_ranges_and_odd_versions() -> None:
    advisory = with_events({"introduced": "1.0.0-beta.1"}, {"fixed": "1.0.1"}, kind="SEMVER")
    assert affected(advisory, "1.0.0b1") and not affected(advisory, "1.0.1")
    listed = parse(malicious("MAL-2026-2", "evil", versions=["1.0-final-x", "2.0"]), "t.json")
    assert affected(listed, "1.0-final-x") and affected(listed, "2.0")
    assert not affected(listed, "3.0")


def test_entry_without_version_information_covers_every_version() -> None:
    doc = malicious("MAL-2026-3", "evil")
    assert affected(parse(doc, "t.json"), "7.7")


def test_other_ecosystems_are_ignored_and_git_ranges_say_nothing() -> None:
    assert parse(npm_malicious("MAL-2026-4", "left-pad-evil"), "t.json") is None
    vuln = parse(vulnerability("PYSEC-1", "lib", introduced="1.0", fixed="1.5"), "t.json")
    assert vuln is not None and not affected(vuln, "2.0")


def test_empty_id_takes_the_file_name() -> None:
    doc = malicious("", "evil", versions=["1.0"])
    advisory = parse(doc, "x/MAL-0000-src-1.json", "MAL-0000-src-1")
    assert advisory is not None and advisory.osv_id == "MAL-0000-src-1" and advisory.malicious
    with pytest.raises(AdvisoryError, match="advisory without an id"):
        parse(doc, "list.json[0]", None)
    with pytest.raises(AdvisoryError, match="is not a valid OSV id"):
        parse(dict(doc, id="MAL-1\x1b[2J"), "x.json")
    with pytest.raises(AdvisoryError, match="is not a valid OSV id"):
        parse(dict(doc, id="MAL-1\n"), "x.json")  # "$" matched before a final newline


def test_summary_is_one_printable_line() -> None:
    doc = malicious("MAL-2026-6", "evil", summary="Malicious\n code\x1b[31m in\tevil")
    advisory = parse(doc, "t.json")
    assert advisory is not None and advisory.summary == "Malicious code [31m in evil"


def _broken(change: str) -> dict[str, Any]:
    doc = malicious("MAL-2026-5", "evil", versions=["1.0"])
    if change == "affected":
        doc["affected"] = "evil"
    elif change == "versions":
        doc["affected"][0]["versions"] = [1.0]
    elif change == "event":
        doc["affected"][0]["ranges"] = [{"type": "ECOSYSTEM", "events": [{"introduced": 1}]}]
    elif change == "range-version":
        doc["affected"][0]["ranges"] = [{"type": "ECOSYSTEM", "events": [{"fixed": "not a v"}]}]
    elif change == "range-type":
        doc["affected"][0]["ranges"] = [{"type": "DATE", "events": []}]
    elif change == "modified":
        doc["modified"] = "yesterday"
    elif change == "name":
        doc["affected"][0]["package"]["name"] = "../../etc"
    return doc


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("affected", "advisory.affected must be a list"),
        ("versions", "affected[0].versions must be a list of strings"),
        ("event", "affected[0].ranges[0].events[0].introduced must be a version string"),
        ("range-version", "is not a PEP 440 version"),
        ("range-type", "is not an OSV range type"),
        ("modified", "not an RFC 3339 timestamp"),
        ("name", "is not a valid project name"),
    ],
)
def test_wrong_types_name_the_file_and_field(change: str, message: str) -> None:
    with pytest.raises(AdvisoryError) as caught:
        parse(_broken(change), "feed/evil.json")
    assert str(caught.value).startswith("feed/evil.json: MAL-2026-5: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_document_that_is_not_an_object() -> None:
    with pytest.raises(AdvisoryError, match=r"^feed/x\.json: advisory must be an object$"):
        parse(["MAL-1"], "feed/x.json")
