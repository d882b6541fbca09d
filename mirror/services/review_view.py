"""What reviewers see: the queue, one release with its evidence beside the previous admitted
release of the project, the active blocks, and the audit trail.

Read-only; decisions go through :mod:`mirror.services.review`.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version
from sqlalchemy import Row

from mirror.db import block_rows, event_rows, file_rows, project_rows
from mirror.db.records import FileRecord, FileRow
from mirror.names import is_valid_project_name, normalize
from mirror.policy.admission import State
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
    files: list[Row[Any]]
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
    files: list[Row[Any]]

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


def queue(
    backends: Backends, states: Iterable[str], project: str | None = None, limit: int = 500
) -> list[ReleaseSummary]:
    """Releases with files in ``states``, newest first (by when the mirror first saw them)."""
    grouped: dict[tuple[str, str], list[Row[Any]]] = {}
    for row in review.queue(backends, [State(s) for s in states]):
        if project is None or row.project == project:
            grouped.setdefault((row.project, row.version), []).append(row)
    summaries = [ReleaseSummary(p, v, rows) for (p, v), rows in grouped.items()]
    summaries.sort(key=lambda s: (s.first_seen_at, s.project, s.version), reverse=True)
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


def audit_log(
    backends: Backends,
    *,
    project: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[Row[Any]]:
    """Recorded state changes and decisions, newest first."""
    with backends.engine.connect() as conn:
        return event_rows.events_log(conn, project=project, before_id=before_id, limit=limit)


def release_facts(rows: Sequence[FileRow]) -> dict[str, list[str]]:
    """A release's comparable facts: each name maps to the distinct values over its files."""
    if not rows:
        return {}
    facts: dict[str, set[str]] = {
        "distributions": {_kind(row.filename) for row in rows},
        "requires-python": {row.requires_python or "(none)" for row in rows},
        "yanked upstream": {(row.yanked_reason or "yes") if row.yanked else "no" for row in rows},
    }
    for row in rows:
        for key, value in (row.evidence or {}).items():
            facts.setdefault(f"evidence: {key}", set()).add(
                json.dumps(value, sort_keys=True, indent=1, default=str)
            )
    return {key: sorted(values) for key, values in facts.items()}


def _kind(filename: str) -> str:
    if not filename.endswith(".whl"):
        return "sdist"
    try:
        tags = parse_wheel_filename(filename)[3]
    except InvalidWheelFilename:
        return "wheel"
    return "wheel " + ".".join(sorted({str(tag) for tag in tags}))


def downloads(
    backends: Backends, project: str, version: str | None, limit: int
) -> tuple[list[Download], dict[str, str]]:
    """Who pulled a project or one release, newest first, and the names of the tokens used."""
    pulled = audit.downloads(backends, project, version, limit=limit)
    names = {row.id: row.name for row in tokens.listing(backends)} if pulled else {}
    return pulled, names
