"""The admission record's format (docs/tuf.md, "Admission records"), shared by the mirror that
writes it and the pipeline client that reads it: an in-toto Statement v1 whose predicate is a
SLSA verification summary, with what the mirror checked in an extension field."""

import json
from typing import Any

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/verification_summary/v1"
# The predicate allows extension fields named by URIs; this one holds the checks in detail.
ADMISSION_EXTENSION = "urn:signed-mirror:admission:v1"
MEDIA_TYPE = "application/vnd.in-toto+json"
PASSED = "PASSED"


def statement_bytes(statement: dict[str, Any]) -> bytes:
    """The record as stored and signed: sorted keys, no whitespace, ASCII only."""
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


def admitted_subject(data: bytes) -> tuple[str, str]:
    """(name, sha256) of the file a record says the mirror admitted.

    Raises:
        ValueError: not an admission record, or not one that passed.
    """
    statement = json.loads(data)
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise ValueError("not an in-toto Statement v1")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise ValueError("not a SLSA verification summary")
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict) or predicate.get("verificationResult") != PASSED:
        raise ValueError("the verification did not pass")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise ValueError("a record names exactly one subject")
    name, digest = subjects[0].get("name"), subjects[0].get("digest")
    if not isinstance(name, str) or not isinstance(digest, dict):
        raise ValueError("malformed subject")
    sha256 = digest.get("sha256")
    if not isinstance(sha256, str):
        raise ValueError("the subject has no sha256")
    return name, sha256
