"""Import OSV advisories, keep them as evidence, and block what malicious-package entries name.

A malicious advisory blocks through the same ``blocks`` rows and code as a person's block
(``review.record_blocks``), attributed to ``advisory:<id>`` with the advisory's summary as the
reason: matching files are blocked at once, admitted ones too, and files that appear later are
blocked on first sight. Other advisories are stored and shown, never blocking.

An import is one transaction: every file is read and validated first, then the advisories, the
blocks they cause and the re-decided files of known projects are written together, so a bad
file leaves nothing behind. Re-importing is idempotent: an advisory is replaced only when its
OSV ``modified`` time moved forward.
"""

import logging
from dataclasses import astuple, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Row

from mirror.advisories.osv import Advisory, Affected, parse
from mirror.advisories.reader import read_documents
from mirror.db import advisory_rows, block_rows, file_rows, project_rows
from mirror.db.engine import writing
from mirror.names import is_valid_project_name, normalize
from mirror.policy.rules import parse_specifier, version_in
from mirror.services import notify, review
from mirror.services.backends import Backends

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredAdvisory:
    """An advisory as the mirror keeps it (what the API and UI show)."""

    osv_id: str
    summary: str
    details: str
    malicious: bool
    modified: datetime
    published: datetime | None
    withdrawn: datetime | None
    aliases: tuple[str, ...]
    links: tuple[str, ...]
    affected: tuple[Affected, ...]
    source: str
    imported_at: datetime


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # Documents that name no PyPI package.
    ignored: int = 0
    # Files whose admission state changed because of the import.
    changed_files: list[str] = field(default_factory=list)


def import_path(backends: Backends, path: str | Path) -> ImportReport:
    """Import every OSV document under ``path`` (a ``.json`` file, a folder or a zip).

    Raises:
        AdvisoryError: a file is unreadable, too large, not JSON or not OSV; nothing is stored.
    """
    report = ImportReport()
    incoming = _newest(_parse_all(Path(path), report))
    now = backends.clock.now()
    with writing(backends.engine) as conn:
        touched = _store(conn, list(incoming.values()), now, report)
        known = set(project_rows.project_names(conn))
        for project in sorted(touched & known):
            report.changed_files += review.reevaluate(conn, backends, project, now)
        for osv_id in report.added + report.updated:
            _record_matches(conn, incoming[osv_id], known, now)
    log.info(
        "advisories imported",
        extra={
            "path": str(path),
            "added": len(report.added),
            "updated": len(report.updated),
            "unchanged": len(report.unchanged),
            "changed_files": report.changed_files,
        },
    )
    return report


def _parse_all(path: Path, report: ImportReport) -> list[Advisory]:
    parsed: list[Advisory] = []
    for document in read_documents(path):
        advisory = parse(document.content, document.name, document.stem)
        if advisory is None:
            report.ignored += 1
        else:
            parsed.append(advisory)
    return parsed


def _newest(advisories: list[Advisory]) -> dict[str, Advisory]:
    """One advisory per id: the latest ``modified`` (a folder may hold several copies)."""
    newest: dict[str, Advisory] = {}
    for advisory in advisories:
        seen = newest.get(advisory.osv_id)
        if seen is None or advisory.modified > seen.modified:
            newest[advisory.osv_id] = advisory
    return newest


def _store(
    conn: Connection, incoming: list[Advisory], now: datetime, report: ImportReport
) -> set[str]:
    """Write what is new or newer than what is stored; the projects whose blocks changed.

    New advisories are written in bulk (a feed holds tens of thousands, and SQLite holds its
    write lock for the whole import); updates, rare, one by one.
    """
    stored = advisory_rows.advisory_versions(conn)
    fresh = [a for a in incoming if a.osv_id not in stored]
    newer = [a for a in incoming if a.osv_id in stored and stored[a.osv_id][1] < a.modified]
    report.added += [a.osv_id for a in fresh]
    report.updated += [a.osv_id for a in newer]
    written = set(report.added) | set(report.updated)
    report.unchanged += [a.osv_id for a in incoming if a.osv_id not in written]
    advisory_rows.add_advisories(conn, [_values(a, now) for a in fresh])
    ids = {osv_id: key for osv_id, (key, _) in advisory_rows.advisory_versions(conn).items()}
    lifts: set[tuple[str, str, str]] = set()
    blocks: set[review.NewBlock] = {b for a in fresh for b in _blocks_of(a)}
    for advisory in newer:
        key = ids[advisory.osv_id]
        before = {r.project for r in advisory_rows.advisory_ranges_of(conn, key)}
        advisory_rows.update_advisory(conn, key, _values(advisory, now))
        active = _active_blocks(conn, advisory, before)
        wanted = _blocks_of(advisory)
        lifts |= {(b.project, b.specifier, b.actor) for b in active - wanted}
        blocks |= wanted - active
    advisory_rows.add_advisory_ranges(
        conn,
        [
            {"advisory_id": ids[a.osv_id], "project": item.project, "specifier": item.specifier}
            for a in fresh + newer
            for item in a.affected
        ],
    )
    for project, specifier, actor in sorted(lifts):
        review.record_lift(
            conn,
            project,
            specifier,
            by=actor,
            reason="advisory withdrawn or changed",
            now=now,
            placed_by=actor,
        )
    review.record_blocks(conn, sorted(blocks, key=astuple), now)
    return {project for project, _, _ in lifts} | {b.project for b in blocks}


def _record_matches(conn: Connection, advisory: Advisory, known: set[str], now: datetime) -> None:
    """An ``advisory_match`` event per known project with releases the advisory covers."""
    if advisory.withdrawn is not None:
        return
    kind = "malicious-package advisory" if advisory.malicious else "advisory"
    for project in sorted({item.project for item in advisory.affected} & known):
        ranges = [parse_specifier(i.specifier) for i in advisory.affected if i.project == project]
        versions = [
            version
            for version in file_rows.project_versions(conn, project)
            if any(version_in(specifier, version) for specifier in ranges)
        ]
        if versions:
            event = notify.Event(
                kind=notify.ADVISORY_MATCH,
                project=project,
                summary=f"{kind} {advisory.osv_id} covers {project} {', '.join(versions)}: "
                f"{advisory.summary}",
                details={
                    "advisory": advisory.osv_id,
                    "malicious": advisory.malicious,
                    "summary": advisory.summary,
                    "project": project,
                    "versions": versions,
                },
            )
            notify.record(conn, event, now)


def _values(advisory: Advisory, now: datetime) -> dict[str, Any]:
    return {
        "osv_id": advisory.osv_id,
        "modified": advisory.modified,
        "published": advisory.published,
        "withdrawn": advisory.withdrawn,
        "summary": advisory.summary,
        "details": advisory.details,
        "aliases": list(advisory.aliases),
        "links": list(advisory.links),
        "malicious": advisory.malicious,
        "source": advisory.source,
        "imported_at": now,
    }


def _blocks_of(advisory: Advisory) -> set[review.NewBlock]:
    """The blocks a malicious advisory asks for: one per affected range, none once withdrawn."""
    if not advisory.malicious or advisory.withdrawn is not None:
        return set()
    reason = advisory.summary or f"malicious package ({advisory.osv_id})"
    return {
        review.NewBlock(item.project, item.specifier, advisory.actor, reason)
        for item in advisory.affected
    }


def _active_blocks(conn: Connection, advisory: Advisory, before: set[str]) -> set[review.NewBlock]:
    return {
        review.NewBlock(b.project, b.specifier, b.actor, b.reason)
        for project in sorted(before)
        for b in block_rows.active_blocks(conn, project)
        if b.actor == advisory.actor
    }


def list_advisories(backends: Backends, project: str | None = None) -> list[StoredAdvisory]:
    """Every stored advisory, newest first; only those naming ``project`` when given."""
    name = _normalized(project) if project is not None else None
    with backends.engine.connect() as conn:
        rows = advisory_rows.list_advisories(conn, name)
        ranges = advisory_rows.list_advisory_ranges(conn, name)
    by_advisory: dict[int, list[Affected]] = {}
    for item in ranges:
        by_advisory.setdefault(item.advisory_id, []).append(Affected(item.project, item.specifier))
    return [_stored(row, by_advisory.get(row.id, [])) for row in rows]


def advisories_for(backends: Backends, project: str, version: str) -> list[StoredAdvisory]:
    """The advisories (malicious or not, withdrawn ones excluded) that cover one release."""
    name = _normalized(project)
    return [a for a in list_advisories(backends, name) if covers(a, name, version)]


def covers(advisory: StoredAdvisory, project: str, version: str) -> bool:
    """Whether ``advisory`` (not withdrawn) covers ``project`` (normalised) at ``version``."""
    return advisory.withdrawn is None and any(
        item.project == project and version_in(parse_specifier(item.specifier), version)
        for item in advisory.affected
    )


def _normalized(project: str) -> str:
    return normalize(project) if is_valid_project_name(project) else project


def _stored(row: Row[Any], affected: list[Affected]) -> StoredAdvisory:
    return StoredAdvisory(
        osv_id=row.osv_id,
        summary=row.summary,
        details=row.details,
        malicious=row.malicious,
        modified=row.modified,
        published=row.published,
        withdrawn=row.withdrawn,
        aliases=tuple(row.aliases),
        links=tuple(row.links),
        affected=tuple(affected),
        source=row.source,
        imported_at=row.imported_at,
    )
