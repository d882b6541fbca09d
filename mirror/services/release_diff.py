"""What changed between a release and the previous admitted one, from the inspected archives
(docs/review.md, "What changed").

Each file of the candidate is paired with the previous release's file it was inspected
against (its content evidence names it), else the one with the same tags, else one of the
same kind; the pair's stored content reports give the members added, removed and changed
(by size and CRC-32), the ``.pth`` and startup hook texts, entry points and native binaries.
METADATA facts, sizes and the publisher are compared over the whole release. Files are
grouped by platform family so a release of a hundred wheels reads as a few groups.

Pure: reads file rows and their evidence, touches no database.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from mirror.checks.content import (
    ContentReport,
    PthFile,
    StartupHook,
    member_table,
    printable,
    report_is_current,
    stable_member_name,
)
from mirror.db.records import FileRow
from mirror.names import PLATFORM_FAMILIES, wheel_platform
from mirror.publishers import PinnedPublisher

METADATA_FIELDS = {
    "requires_dist": "dependencies",
    "requires_python": "Requires-Python",
    "maintainers": "maintainers",
    "project_urls": "project URLs",
}
# Forge paths a link is built from; anything else is shown as text, never linked.
_FORGE_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)+")
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_FORGES = {"GitHub": "https://github.com/", "GitLab": "https://gitlab.com/"}


def platform_family(filename: str) -> str:
    return wheel_platform(filename).family


def family_order(family: str) -> int:
    return PLATFORM_FAMILIES.index(family)


@dataclass(frozen=True)
class MemberChange:
    name: str
    before: int | None  # size in bytes; None: not in the previous file
    after: int | None  # None: not in this file


@dataclass(frozen=True)
class StartupText:
    """A ``.pth`` file or startup hook of the candidate, its text escaped for display."""

    name: str
    text: str
    status: str  # "new", "changed" or "unchanged"


@dataclass
class FileDiff:
    filename: str
    baseline: str | None
    inspected: bool  # both reports are there, made by today's inspector
    added: list[MemberChange] = field(default_factory=list)
    removed: list[MemberChange] = field(default_factory=list)
    changed: list[MemberChange] = field(default_factory=list)
    startup_texts: list[StartupText] = field(default_factory=list)
    entry_points_added: list[str] = field(default_factory=list)
    entry_points_removed: list[str] = field(default_factory=list)
    native_added: list[str] = field(default_factory=list)
    native_removed: list[str] = field(default_factory=list)
    size_before: int | None = None
    size_after: int | None = None

    @property
    def new_startup_texts(self) -> list[StartupText]:
        return [text for text in self.startup_texts if text.status != "unchanged"]


@dataclass(frozen=True)
class FamilyDiff:
    family: str
    files: list[FileDiff]

    def count(self, attribute: str) -> int:
        return sum(len(getattr(diff, attribute)) for diff in self.files)


@dataclass(frozen=True)
class ValueChange:
    """A METADATA field: what the candidate adds and drops against the previous release."""

    label: str
    added: list[str]
    removed: list[str]


@dataclass(frozen=True)
class Link:
    label: str
    text: str
    url: str | None


@dataclass(frozen=True)
class Publisher:
    """The release's proven publisher beside the previous release's."""

    current: str | None
    previous: str | None
    links: list[Link]

    @property
    def changed(self) -> bool:
        return self.current != self.previous


@dataclass(frozen=True)
class ReleaseDiff:
    previous_version: str | None
    families: list[FamilyDiff]
    metadata: list[ValueChange]
    size_before: int
    size_after: int
    publisher: Publisher

    def total(self, attribute: str) -> int:
        return sum(family.count(attribute) for family in self.families)

    @property
    def not_inspected(self) -> int:
        return sum(not diff.inspected for family in self.families for diff in family.files)


def release_diff(
    files: Sequence[FileRow], previous_version: str | None, previous: Sequence[FileRow]
) -> ReleaseDiff:
    by_family: dict[str, list[FileDiff]] = {}
    for row in files:
        baseline = _paired(row, previous)
        diff = file_diff(row, baseline)
        by_family.setdefault(platform_family(row.filename), []).append(diff)
    families = [
        FamilyDiff(family, sorted(diffs, key=lambda d: d.filename))
        for family, diffs in sorted(by_family.items(), key=lambda item: family_order(item[0]))
    ]
    return ReleaseDiff(
        previous_version=previous_version,
        families=families,
        metadata=metadata_changes(_reports(files), _reports(previous)) if previous else [],
        size_before=sum(row.size or 0 for row in previous),
        size_after=sum(row.size or 0 for row in files),
        publisher=publisher(files, previous),
    )


def _paired(row: FileRow, previous: Sequence[FileRow]) -> FileRow | None:
    """The previous release's file this one is compared with."""
    content = _content(row)
    named = content.get("baseline") if content else None
    same_kind = [
        p for p in previous if p.filename.endswith(".whl") == row.filename.endswith(".whl")
    ]
    tags = _tags(row.filename)
    ranked = sorted(same_kind, key=lambda p: (p.filename != named, _tags(p.filename) != tags))
    return ranked[0] if ranked else None


def _tags(filename: str) -> str:
    return filename.split("-", 2)[-1] if filename.endswith(".whl") else "sdist"


def _content(row: FileRow) -> Mapping[str, Any] | None:
    content = (row.evidence or {}).get("content")
    return content if isinstance(content, Mapping) else None


def _report(row: FileRow) -> ContentReport | None:
    """The file's stored report, when today's inspector made it."""
    content = _content(row)
    stored = content.get("report") if content else None
    return ContentReport.from_dict(stored) if report_is_current(stored) and stored else None


def _reports(rows: Iterable[FileRow]) -> list[ContentReport]:
    return [report for row in rows if (report := _report(row)) is not None]


def file_diff(row: FileRow, baseline: FileRow | None) -> FileDiff:
    current = _report(row)
    before = _report(baseline) if baseline is not None else None
    diff = FileDiff(
        filename=row.filename,
        baseline=baseline.filename if baseline else None,
        inspected=current is not None and (baseline is None or before is not None),
        size_before=baseline.size if baseline else None,
        size_after=row.size,
    )
    if current is None:
        return diff
    empty = ContentReport(filename="", kind=current.kind)
    _member_changes(diff, before or empty, current)
    diff.startup_texts = _startup_texts(before or empty, current)
    diff.entry_points_added, diff.entry_points_removed = _added_removed(
        _entry_points(before or empty), _entry_points(current)
    )
    diff.native_added, diff.native_removed = _added_removed(
        {stable_member_name(n) for n in (before or empty).native_binaries},
        {stable_member_name(n) for n in current.native_binaries},
    )
    return diff


def _member_changes(diff: FileDiff, before: ContentReport, after: ContentReport) -> None:
    old = {stable_member_name(name): facts for name, facts in member_table(before).items()}
    new = {stable_member_name(name): facts for name, facts in member_table(after).items()}
    diff.added = [MemberChange(name, None, new[name][0]) for name in sorted(new.keys() - old)]
    diff.removed = [MemberChange(name, old[name][0], None) for name in sorted(old.keys() - new)]
    diff.changed = [
        MemberChange(name, old[name][0], new[name][0])
        for name in sorted(new.keys() & old.keys())
        if old[name] != new[name]
    ]


def _startup_files(report: ContentReport) -> list[PthFile | StartupHook]:
    return [*report.pth_files, *report.startup_hooks]


def _startup_texts(before: ContentReport, after: ContentReport) -> list[StartupText]:
    earlier = {stable_member_name(item.name): item.sha256 for item in _startup_files(before)}
    texts = []
    for item in _startup_files(after):
        name = stable_member_name(item.name)
        status = "new" if name not in earlier else "changed"
        if name in earlier and item.sha256 is not None and earlier[name] == item.sha256:
            status = "unchanged"
        texts.append(StartupText(item.name, printable(item.text, keep="\n"), status))
    return texts


def _entry_points(report: ContentReport) -> set[str]:
    return {
        f"{name} = {target}"
        for group in report.entry_points.values()
        for name, target in group.items()
    }


def _added_removed(before: set[str], after: set[str]) -> tuple[list[str], list[str]]:
    return sorted(after - before), sorted(before - after)


def metadata_changes(
    current: Sequence[ContentReport], previous: Sequence[ContentReport]
) -> list[ValueChange]:
    """Per METADATA field, the values over all inspected files added and dropped."""
    changes = []
    for key, label in METADATA_FIELDS.items():
        now, before = _metadata_values(current, key), _metadata_values(previous, key)
        if current and previous and now != before:
            added, removed = _added_removed(before, now)
            changes.append(ValueChange(label, added, removed))
    return changes


def _metadata_values(reports: Sequence[ContentReport], key: str) -> set[str]:
    values: set[str] = set()
    for report in reports:
        value = report.metadata.get(key)
        items = value if isinstance(value, list) else [] if value is None else [value]
        values.update(printable(str(item)) for item in items)
    return values


def publisher(files: Sequence[FileRow], previous: Sequence[FileRow]) -> Publisher:
    current = _identities(files)
    return Publisher(
        current=" / ".join(sorted(current)) or None,
        previous=" / ".join(sorted(_identities(previous))) or None,
        links=_links(files),
    )


def proven_publisher(row: FileRow) -> PinnedPublisher | None:
    """The publisher a verified provenance names; None when unverified or malformed."""
    record = (row.evidence or {}).get("provenance")
    if not isinstance(record, Mapping) or record.get("status") != "verified":
        return None
    fields = record.get("publisher")
    try:
        return PinnedPublisher.from_fields(fields) if isinstance(fields, Mapping) else None
    except (ValueError, TypeError, KeyError):
        return None


def _identities(rows: Iterable[FileRow]) -> set[str]:
    return {printable(found.identity) for row in rows if (found := proven_publisher(row))}


def _links(rows: Sequence[FileRow]) -> list[Link]:
    """Repository, workflow and commit of the first verified file, linked on the forges
    whose URLs the mirror can build; upstream text is only ever a path of a fixed prefix."""
    for row in rows:
        found = proven_publisher(row)
        if found is None or found.repository is None:
            continue
        commit = _commit(row)
        workflow = found.workflow or found.workflow_filepath
        forge = _FORGES.get(found.kind) if _FORGE_PATH.fullmatch(found.repository) else None
        base = f"{forge}{quote(found.repository)}" if forge else None
        blob = "/blob/" if found.kind == "GitHub" else "/-/blob/"
        folder = ".github/workflows/" if found.kind == "GitHub" else ""
        links = [Link("repository", printable(found.repository), base)]
        if workflow:
            url = f"{base}{blob}{commit or 'HEAD'}/{folder}{quote(workflow)}" if base else None
            links.append(Link("workflow", printable(workflow), url))
        if commit:
            sep = "/commit/" if found.kind == "GitHub" else "/-/commit/"
            links.append(Link("commit", commit, f"{base}{sep}{commit}" if base else None))
        return links
    return []


def _commit(row: FileRow) -> str | None:
    record = (row.evidence or {}).get("provenance") or {}
    for attestation in record.get("attestations") or []:
        digest = attestation.get("source_digest") if isinstance(attestation, Mapping) else None
        if isinstance(digest, str) and _COMMIT.fullmatch(digest):
            return digest
    return None
