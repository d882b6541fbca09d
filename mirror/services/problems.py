"""Refusals as RFC 9457 problem details (docs/admission.md, "Problem types").

One refusal (``refusal.Refusal``) makes one problem: its ``type`` is a URI reference under the
mirror's ``/problems/`` path, one per kind, its ``title`` the kind's short sentence, its
``detail`` the refusal's own sentence (what, why and until when). The web answers it as
``application/problem+json`` or as that sentence in plain text; ``mirror why`` prints it and
``GET /api/v1/why/...`` returns it, so every reader gets the same words.

Details carry text that came from upstream (a status reason, a filename) or from people (a
block reason): control and bidirectional-override characters are written as escapes, so the
sentence cannot move a terminal's cursor, forge a log line or reorder what a reader sees.
"""

import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from mirror.services.refusal import Kind, Refusal
from mirror.timeutil import format_timestamp

PROBLEMS_PATH = "/problems/"
PROBLEM_JSON = "application/problem+json"
# C0 and C1 controls, and the bidirectional embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class ProblemType:
    title: str
    meaning: str  # what the kind means, for the page at its type URI


TYPES: dict[Kind, ProblemType] = {
    Kind.HELD: ProblemType(
        "Held in quarantine",
        "The file is held: it waits for its quarantine to pass (the detail says until when), "
        "for a check that cannot be done yet, or for a person to review it.",
    ),
    Kind.BLOCKED: ProblemType(
        "Blocked",
        "A configured rule, an advisory or a person refuses it; it is served again only "
        "when that block is lifted.",
    ),
    Kind.INTERNAL: ProblemType(
        "Internal name",
        "The name is reserved for internal packages and is never taken from upstream.",
    ),
    Kind.UNKNOWN: ProblemType(
        "Unknown",
        "Neither the mirror nor its upstream knows this project, release or file.",
    ),
    Kind.REJECTED: ProblemType(
        "Rejected",
        "A check failed (the bytes do not match upstream's digest, or an attestation does "
        "not verify); it is never admitted by age.",
    ),
    Kind.WITHDRAWN: ProblemType(
        "Withdrawn upstream",
        "The file is gone upstream; if it reappears it is held for review.",
    ),
}


@dataclass(frozen=True)
class Problem:
    """An RFC 9457 problem detail."""

    type: str
    title: str
    status: int
    detail: str
    until: str | None = None  # extension member: when a held file may be admitted

    def document(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.until is not None:
            shown["until"] = self.until
        return shown

    def text(self) -> str:
        """The plain text answer: the detail sentence, one line."""
        return f"{self.detail}\n"


def type_uri(kind: Kind) -> str:
    return f"{PROBLEMS_PATH}{kind.value}"


def problem_for(refused: Refusal, status: int = HTTPStatus.NOT_FOUND) -> Problem:
    return Problem(
        type=type_uri(refused.kind),
        title=TYPES[refused.kind].title,
        status=status,
        detail=inert(refused.detail),
        until=format_timestamp(refused.until) if refused.until else None,
    )


def untyped(status: int, detail: str) -> Problem:
    """A problem with no meaning beyond its HTTP status (RFC 9457's ``about:blank``)."""
    return Problem("about:blank", HTTPStatus(status).phrase, status, inert(detail))


def inert(text: str) -> str:
    """``text`` with control and bidirectional-override characters written as escapes."""
    return _UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
