"""Whether the mirror may serve a project, or one of its files, now (docs/admission.md,
"Refusals").

One answer for every route that serves a page, a file or a companion, and for everything that
would contact upstream on a project's behalf. It combines the configured rules, evaluated at
the moment of asking (a rule added since a file was admitted applies at once, before any
decision is recorded again), with the file's recorded state: blocks by people and advisories,
withdrawals, rejections and holds all leave a file in a state other than ``admitted``.

No file's bytes go out uninspected: history (admitted at a first look without checks) is
inspected at its first download (``servable_distribution``), and a flagged file is held for
review instead of served.

``apply_rules`` records the rules in the decisions: when the configured rules are not those the
recorded decisions were made under, it decides again every project they can move, so the TUF
targets of refused files, and the pages of refused projects, leave at the next publish.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from mirror.db import file_rows, private_rows, project_rows, status_rows
from mirror.db.engine import writing
from mirror.db.records import FileRow, NamedRow
from mirror.errors import MirrorError, NotFoundError, UpstreamError
from mirror.not_served import why_not_served
from mirror.policy import verdicts
from mirror.policy.admission import POLICY, RULE, Decision, State
from mirror.policy.rules import Rules
from mirror.services import evidence, files, pages, state_changes, targets
from mirror.services.backends import Backends
from mirror.services.single_flight import single_flight
from mirror.timeutil import format_timestamp

log = logging.getLogger(__name__)

# The status key holding the fingerprint of the rules the recorded decisions follow.
RULES_STATUS = "rules"
PRIVATE = "a private project (uploaded to this mirror): never looked up upstream"


class Kind(StrEnum):
    """What kind of refusal: each is a problem type clients can tell apart (docs/admission.md,
    "Problem types")."""

    HELD = "held"  # quarantined: until a time, or until a person decides
    BLOCKED = "blocked"  # a rule, an advisory or a person refuses it
    INTERNAL = "internal"  # an internal name: never taken from upstream
    UNKNOWN = "unknown"  # neither the mirror nor upstream has it
    REJECTED = "rejected"  # a check failed
    WITHDRAWN = "withdrawn"  # gone upstream


# A file's recorded state, as the kind of refusal it makes.
_KIND_OF_STATE = {
    State.PENDING: Kind.HELD,
    State.QUARANTINED: Kind.HELD,
    State.BLOCKED: Kind.BLOCKED,
    State.REJECTED: Kind.REJECTED,
    State.WITHDRAWN: Kind.WITHDRAWN,
}


@dataclass(frozen=True)
class Refusal:
    """What is refused (a project, a filename or a release), why, of which kind, and until
    when (None: no time is known; a person or a change decides)."""

    subject: str
    reason: str
    kind: Kind
    until: datetime | None = None

    @property
    def detail(self) -> str:
        """The one sentence every answer gives: what, why and until when."""
        return f"{self.subject}: {self.reason}"

    def error(self) -> "RefusedError":
        return RefusedError(self)


class RefusedError(NotFoundError):
    """A refusal raised on the way to serving: the web answers it as a problem document."""

    def __init__(self, refused: Refusal) -> None:
        super().__init__(refused.detail)
        self.refusal = refused


def refusal(backends: Backends, project: str, row: FileRow | None = None) -> Refusal | None:
    """Why ``project``, or with ``row`` that file of it, must not be served now; else None."""
    if row is None:
        reason = backends.rules.project_refusal(project)
        return Refusal(project, reason, _rule_kind(backends, project)) if reason else None
    reason = backends.rules.file_refusal(project, row.version)
    if reason:
        return Refusal(row.filename, reason, _rule_kind(backends, project))
    if row.state != State.ADMITTED:
        kind = _KIND_OF_STATE[State(row.state)]
        until = row.hold_until if kind == Kind.HELD else None
        return Refusal(row.filename, f"not admitted ({_explain(row)})", kind, until)
    return None


def unknown(subject: str, reason: str) -> Refusal:
    return Refusal(subject, reason, Kind.UNKNOWN)


def _rule_kind(backends: Backends, project: str) -> Kind:
    return Kind.INTERNAL if backends.rules.is_internal(project) else Kind.BLOCKED


# Which file's refusal speaks for a release none of whose files is served: the one a person
# most needs to know of first.
_RELEASE_ORDER = [Kind.BLOCKED, Kind.REJECTED, Kind.HELD, Kind.WITHDRAWN]


def release_refusal(backends: Backends, project: str, version: str) -> Refusal | None:
    """Why no file of ``project`` ``version`` is served now, or None when one is."""
    subject = f"{project}=={version}"
    refused = refusal(backends, project)
    if refused is not None:
        return Refusal(subject, refused.reason, refused.kind)
    with backends.engine.connect() as conn:
        rows = file_rows.release_files(conn, project, version)
        known = rows or project_rows.get_project(conn, project) is not None
    if not rows:
        what = "no such release" if known else "no such project"
        return unknown(subject, f"{what} known to this mirror")
    refusals = [refusal(backends, project, row) for row in rows]
    chosen = [r for r in refusals if r is not None]
    if len(chosen) < len(refusals):
        return None
    # Of held files, the one released first (timed holds before holds for a person).
    first = min(chosen, key=lambda r: (_RELEASE_ORDER.index(r.kind), r.until is None, r.until))
    return Refusal(subject, f"{first.subject} {first.reason}", first.kind, first.until)


def upstream_refusal(backends: Backends, project: str) -> Refusal | None:
    """Why upstream must not be asked about ``project``: the rules refuse it, or it is a
    private project, whose files come only from uploads (docs/private-packages.md). At least
    as strong as ``policy.internal``: nothing upstream lists under a private name is fetched,
    recorded or served."""
    refused = refusal(backends, project)
    if refused is not None:
        return refused
    with backends.engine.connect() as conn:
        private = private_rows.is_private(conn, project)
    return Refusal(project, PRIVATE, Kind.INTERNAL) if private else None


def _explain(row: FileRow) -> str:
    until = format_timestamp(row.hold_until) if row.hold_until else None
    return why_not_served(row.state, row.reason, until)


def check_project(backends: Backends, project: str) -> None:
    """Raises NotFoundError (with the reason) when ``project`` is refused."""
    refused = refusal(backends, project)
    if refused is not None:
        raise refused.error()


def servable_file(backends: Backends, project: str, filename: str) -> NamedRow:
    """The file's row when it may be served now; otherwise a NotFoundError that says why."""
    check_project(backends, project)
    with backends.engine.connect() as conn:
        row = file_rows.file_by_name(conn, project, filename)
    if row is None:
        raise unknown(filename, "not known to this mirror").error()
    refused = refusal(backends, project, row)
    if refused is not None:
        raise refused.error()
    return row


def servable_distribution(
    backends: Backends, row: NamedRow, extracted: Callable[[bytes], None] | None = None
) -> files.Blob:
    """The bytes of a servable file (``servable_file``), as ``files.distribution`` gives them,
    once its content was inspected: a file never inspected is inspected now, and one the
    inspection flags is held for review (404 with the reason) instead of served.

    Raises:
        NotFoundError: the inspection holds the file.
        UpstreamError: it cannot be inspected now (the previous release cannot be fetched).
    """
    blob = files.distribution(backends, row, extracted)
    if not _inspected(backends, row):
        # Concurrent first downloads inspect once: the others wait, then find its outcome.
        with single_flight(backends, f"inspect-{row.sha256}"):
            current = servable_file(backends, row.project, row.filename)
            if not _inspected(backends, current):
                _inspect_first(backends, current)
    return blob


def _inspected(backends: Backends, row: NamedRow) -> bool:
    view = state_changes.file_view(row, backends.config.quarantine_for(row.project))
    return verdicts.content_current(view)


def _inspect_first(backends: Backends, row: NamedRow) -> None:
    project, filename = row.project, row.filename
    gathered = evidence.inspect_before_serving(backends, project, filename)
    found = gathered.records.get(filename, {})
    record = found.get("content")
    if record is None or "flags" not in record:
        why = record.get("error") if record else "the previous release could not be inspected"
        raise UpstreamError(f"{filename}: not inspected yet ({why}); retry later")
    reasons = verdicts.content_hold_reasons(found)
    now = backends.clock.now()
    with writing(backends.engine) as conn:
        rows = [file_rows.file_by_name(conn, project, name) for name in gathered.records]
        evidence.record(conn, [r for r in rows if r is not None], gathered)
        current = file_rows.file_by_name(conn, project, filename)
        if reasons and current is not None and current.state == State.ADMITTED:
            held = Decision(State.QUARANTINED, "; ".join(reasons), POLICY)
            state_changes.apply_decision(conn, project, current, held, now)
            pages.render_and_queue(conn, backends.blobs, current.project_id, project, now)
    if reasons:
        raise Refusal(filename, f"held for review: {'; '.join(reasons)}", Kind.HELD).error()


def apply_rules(backends: Backends) -> list[str]:
    """Decide again, once per change of the configured rules, every project the change can
    move; the projects decided. A project refused as a whole has every target queued for
    removal (its pages too); any other has its pages rendered and its targets queued again."""
    fingerprint = backends.rules.fingerprint
    with backends.engine.connect() as conn:
        if status_rows.get_status(conn, RULES_STATUS) == fingerprint:
            return []
        releases = file_rows.ruled_releases(conn, RULE)
        names = project_rows.project_names(conn)
    rules = backends.rules
    affected = {r.project for r in releases if _moves(rules, r)}
    affected |= {name for name in names if rules.project_refusal(name)}
    now = backends.clock.now()
    failed = [project for project in sorted(affected) if not _decide_again(backends, project, now)]
    if failed:
        return sorted(affected)  # the next cycle tries again; this one still publishes
    with writing(backends.engine) as conn:
        status_rows.set_status(conn, RULES_STATUS, fingerprint, now)
    if affected:
        log.info("rules changed; projects decided again", extra={"projects": len(affected)})
    return sorted(affected)


def _decide_again(backends: Backends, project: str, now: datetime) -> bool:
    """Decide ``project``'s files under the rules and queue its targets; False if that failed."""
    try:
        with writing(backends.engine) as conn:
            row = project_rows.get_project(conn, project)
            if row is None:
                return True
            recorded = file_rows.project_files(conn, row.id)
            state_changes.evaluate(conn, backends, project, recorded, now)
            if backends.rules.project_refusal(project):
                targets.queue_project(conn, project, {}, now)
            else:
                pages.render_and_queue(conn, backends.blobs, row.id, project, now)
    except MirrorError as exc:
        log.error("project not decided again", extra={"project": project, "error": str(exc)})
        return False
    return True


def _moves(rules: Rules, release: Any) -> bool:
    """Whether the rules now decide ``release`` (a ``file_rows.ruled_releases`` row) otherwise."""
    reason = rules.file_refusal(release.project, release.version)
    return reason != release.reason if release.blocked else reason is not None
