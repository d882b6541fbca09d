"""A strict check of an in-toto Statement v1 carrying a SLSA verification summary (v1), written
from the two specifications: every required field, its type and form, and no field the
specifications do not define except extension fields named by URIs."""

import re
from typing import Any

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
HEX = re.compile(r"[0-9a-f]+")
URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")
STATEMENT_KEYS = {"_type", "subject", "predicateType", "predicate"}
REQUIRED = {"verifier", "timeVerified", "resourceUri", "policy", "verificationResult"}
REQUIRED |= {"verifiedLevels"}
OPTIONAL = {"inputAttestations", "dependencyLevels", "slsaVersion"}
DESCRIPTOR_KEYS = {"uri", "digest", "name", "downloadLocation", "mediaType", "content"}
DESCRIPTOR_KEYS |= {"annotations"}


def check_vsa_statement(statement: Any) -> None:
    """Raise AssertionError naming the first field that breaks the shape."""
    assert isinstance(statement, dict), "a statement is an object"
    assert set(statement) == STATEMENT_KEYS, sorted(statement)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    subjects = statement["subject"]
    assert isinstance(subjects, list) and subjects, "subject: a non-empty list"
    for subject in subjects:
        assert isinstance(subject, dict) and set(subject) <= {"name", "digest", "uri"}, subject
        assert isinstance(subject["name"], str) and subject["name"], subject
        _digest_set(subject["digest"], "subject.digest")
    assert statement["predicateType"] == "https://slsa.dev/verification_summary/v1"
    _predicate(statement["predicate"])


def _predicate(predicate: Any) -> None:
    assert isinstance(predicate, dict), "predicate: an object"
    missing = REQUIRED - set(predicate)
    assert not missing, f"predicate lacks {sorted(missing)}"
    for key in set(predicate) - REQUIRED - OPTIONAL:
        assert URI.fullmatch(key), f"predicate.{key}: an extension field must be named by a URI"
    verifier = predicate["verifier"]
    assert isinstance(verifier, dict) and URI.fullmatch(verifier["id"]), verifier
    if "version" in verifier:
        assert all(isinstance(v, str) for v in verifier["version"].values()), verifier
    assert TIMESTAMP.fullmatch(predicate["timeVerified"]), predicate["timeVerified"]
    assert URI.fullmatch(predicate["resourceUri"]), predicate["resourceUri"]
    _descriptor(predicate["policy"], "policy")
    assert "uri" in predicate["policy"], "policy: MUST contain a uri"
    for index, entry in enumerate(predicate.get("inputAttestations", [])):
        _descriptor(entry, f"inputAttestations[{index}]")
        assert "digest" in entry, f"inputAttestations[{index}]: MUST contain a digest"
    assert predicate["verificationResult"] in ("PASSED", "FAILED")
    levels = predicate["verifiedLevels"]
    assert isinstance(levels, list) and all(isinstance(level, str) for level in levels)
    for level in levels:
        assert not level.startswith("SLSA_") or re.fullmatch(r"SLSA_BUILD_LEVEL_[0-3]", level)
    if predicate["verificationResult"] == "FAILED":
        assert levels == ["FAILED"], levels
    for result, count in predicate.get("dependencyLevels", {}).items():
        assert isinstance(result, str) and isinstance(count, int) and count >= 0
    if "slsaVersion" in predicate:
        assert re.fullmatch(r"\d+\.\d+", predicate["slsaVersion"]), predicate["slsaVersion"]


def _descriptor(entry: Any, where: str) -> None:
    assert isinstance(entry, dict) and set(entry) <= DESCRIPTOR_KEYS, f"{where}: {entry}"
    assert entry, f"{where}: empty resource descriptor"
    if "uri" in entry:
        assert isinstance(entry["uri"], str) and URI.fullmatch(entry["uri"]), f"{where}.uri"
    if "name" in entry:
        assert isinstance(entry["name"], str) and entry["name"], f"{where}.name"
    if "digest" in entry:
        _digest_set(entry["digest"], f"{where}.digest")


def _digest_set(digest: Any, where: str) -> None:
    assert isinstance(digest, dict) and digest, f"{where}: a non-empty DigestSet"
    for algorithm, value in digest.items():
        assert isinstance(algorithm, str) and isinstance(value, str), where
        assert HEX.fullmatch(value), f"{where}.{algorithm}: lowercase hex"
    if "sha256" in digest:
        assert len(digest["sha256"]) == 64, f"{where}.sha256"
