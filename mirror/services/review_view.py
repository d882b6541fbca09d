"""What reviewers see: the queue, one release with its evidence beside the previous admitted
release of the project, the active blocks, and the audit trail.

Read-only; decisions go through :mod:`mirror.services.review`.
"""

import fnmatch
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from packaging.version import InvalidVersion, Version
from sqlalchemy import Row

from mirror.db import block_rows, event_rows, file_rows, project_rows
from mirror.db.event_rows import EventFilter
from mirror.db.records import FileRecord, FileRow, NamedRow
from mirror.names import is_valid_project_name, normalize
from mirror.policy.admission import POLICY, RULE, UPSTREAM, State
from mirror.policy.rules import parse_specifier, version_in
from mirror.services import advisories, audit, refusal, review, tokens
from mirror.services.advisories import StoredAdvisory
from mirror.services.audit import Download
from mirror.services.backends import Backends
from mirror.simple_api import ProjectStatus

# A file as a review hands it to the web: a record, or a row of a query that joins its project.
ReviewedFile = FileRow


@dataclass(frozen=True)
class ReleaseReport:
    project: str
    version: str
    files: list[NamedRow]
    previous_version: str | None
    previous_files: list[FileRecord]
    blocks: list[Row[Any]]
    advisories: list[StoredAdvisory]
    events: list[Row[Any]]
    now: datetime
    upstream_status: ProjectStatus  # the project's status marker upstream (PEP 792)


@dataclass(frozen=True)
class ReleaseSummary:
    """One line of the queue: a release and its files in the states asked for."""

    project: str
    version: str
    files: list[NamedRow]

    @property
    def first_seen_at(self) -> datetime:
        return max(row.first_seen_at for row in self.files)

    @property
    def uploaded_at(self) -> datetime | None:
        """The earliest upload time upstream gave for the release's files."""
        return min((row.upload_time for row in self.files if row.upload_time), default=None)

    @property
    def hold_until(self) -> datetime | None:
        """When the last held file may be admitted; None while any waits for a person."""
        times = [row.hold_until for row in self.files]
        return None if None in times else max(t for t in times if t is not None)


def canonical_version(version: str) -> str:
    """The form the mirror stores versions in ("2.0.0" stays, "v2.0" becomes "2.0")."""
    parsed = _parsed(version)
    return str(parsed) if parsed is not None else version


def why(backends: Backends, project: str, version: str) -> refusal.Refusal | None:
    """Why ``project`` ``version`` is not installable through the mirror now, or None when it
    is (a file of it is served): the refusal every route would answer with."""
    if not is_valid_project_name(project) or not version.isprintable() or len(version) > 100:
        return refusal.unknown(f"{project[:100]}=={version[:100]}", "no such release")
    name, version = normalize(project), canonical_version(version)
    return refusal.release_refusal(backends, name, version)


def report(backends: Backends, project: str, version: str) -> ReleaseReport:
    """Raises NotFoundError for a release the mirror has not seen."""
    version = canonical_version(version)
    rows, project_events = review.release(backends, project, version)
    name = rows[0].project
    with backends.engine.connect() as conn:
        siblings = file_rows.project_files(conn, rows[0].project_id)
        blocks = block_rows.active_blocks(conn, name)
        upstream_status = project_rows.upstream_status(conn, name)
    previous = _previous_admitted(siblings, version)
    filenames = {row.filename for row in rows}
    return ReleaseReport(
        project=name,
        version=version,
        files=rows,
        previous_version=previous,
        previous_files=[r for r in siblings if r.version == previous and r.state == "admitted"],
        blocks=[b for b in blocks if _covers(b.specifier, version)],
        advisories=advisories.advisories_for(backends, name, version),
        events=[e for e in project_events if e.filename is None or e.filename in filenames],
        now=backends.clock.now(),
        upstream_status=upstream_status,
    )


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows: a project name or glob (``num*``), a text the hold reason
    contains (case-insensitive), and the order (one of ``SORTS``)."""

    project: str | None = None
    reason: str | None = None
    sort: str = "seen"

    def keeps(self, row: NamedRow) -> bool:
        if self.project and not fnmatch.fnmatchcase(row.project, self.project):
            return False
        return not self.reason or self.reason.casefold() in row.reason.casefold()


_FAR = datetime.max.replace(tzinfo=UTC)
# Each order's key; every one ends with project and version so ties read the same each time.
SORTS: dict[str, Callable[[ReleaseSummary], tuple[Any, ...]]] = {
    "seen": lambda s: (-s.first_seen_at.timestamp(), s.project, s.version),
    "time-left": lambda s: (s.hold_until or _FAR, s.project, s.version),
    "uploaded": lambda s: (-(s.uploaded_at or _FAR).timestamp(), s.project, s.version),
    "project": lambda s: (s.project, s.version),
}


def queue(
    backends: Backends,
    states: Iterable[str],
    project: str | None = None,
    limit: int = 500,
    only: QueueFilter = QueueFilter(),
) -> list[ReleaseSummary]:
    """Releases with files in ``states``, in ``only.sort`` order (default: newest first by
    when the mirror first saw them); ``project`` is one exact (normalised) name."""
    grouped: dict[tuple[str, str], list[NamedRow]] = {}
    for row in review.queue(backends, [State(s) for s in states]):
        if (project is None or row.project == project) and only.keeps(row):
            grouped.setdefault((row.project, row.version), []).append(row)
    summaries = [ReleaseSummary(p, v, rows) for (p, v), rows in grouped.items()]
    summaries.sort(key=SORTS[only.sort])
    return summaries[:limit]


def _previous_admitted(rows: Sequence[FileRow], version: str) -> str | None:
    """The highest admitted version below ``version`` (PEP 440 order)."""
    current = _parsed(version)
    if current is None:
        return None
    candidates = {
        parsed: row.version
        for row in rows
        if row.state == State.ADMITTED
        and (parsed := _parsed(row.version)) is not None
        and parsed < current
    }
    return candidates[max(candidates)] if candidates else None


def _parsed(version: str) -> Version | None:
    try:
        return Version(version)
    except InvalidVersion:
        return None


def _covers(specifier: str, version: str) -> bool:
    return version_in(parse_specifier(specifier), version)


def blocked(backends: Backends) -> list[Row[Any]]:
    """Active blocks, by people and advisories, oldest first."""
    with backends.engine.connect() as conn:
        return block_rows.active_blocks(conn)


# Who decides without a person: the policy, configured rules, upstream, advisories.
AUTOMATIC_ACTORS = (POLICY, RULE, UPSTREAM, "advisory:")


def audit_log(
    backends: Backends,
    *,
    project: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
    only: EventFilter | None = None,
) -> list[Row[Any]]:
    """Recorded state changes and decisions, newest first."""
    with backends.engine.connect() as conn:
        return event_rows.events_log(
            conn, project=project, before_id=before_id, limit=limit, only=only
        )


@dataclass(frozen=True)
class AuditGroup:
    """Events of one automatic pass over a project (a first look or a cycle: one time), or
    one person's decision on its own."""

    events: list[Row[Any]]
    automatic: bool

    @property
    def first(self) -> Row[Any]:
        return self.events[0]

    @property
    def moves(self) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for event in self.events:
            move = f"{event.from_state or '—'} → {event.to_state or 'decision'}"
            counts[move] = counts.get(move, 0) + 1
        return sorted(counts.items(), key=lambda item: -item[1])


def grouped_events(rows: Sequence[Row[Any]]) -> list[AuditGroup]:
    """Consecutive automatic events of one project at one time become one group."""
    groups: list[AuditGroup] = []
    for row in rows:
        automatic = _is_automatic(row.actor)
        last = groups[-1] if groups else None
        if (
            last is not None
            and automatic
            and last.automatic
            and (last.first.project, last.first.at) == (row.project, row.at)
        ):
            last.events.append(row)
        else:
            groups.append(AuditGroup([row], automatic))
    return groups


def _is_automatic(actor: str) -> bool:
    return actor in AUTOMATIC_ACTORS or any(
        actor.startswith(prefix) for prefix in AUTOMATIC_ACTORS if prefix.endswith(":")
    )


def downloads(
    backends: Backends, project: str, version: str | None, limit: int
) -> tuple[list[Download], dict[str, str]]:
    """Who pulled a project or one release, newest first, and the names of the tokens used."""
    pulled = audit.downloads(backends, project, version, limit=limit)
    names = {row.id: row.name for row in tokens.listing(backends)} if pulled else {}
    return pulled, names
