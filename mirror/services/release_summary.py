"""The head of a release page (docs/review.md, "Release"): the decision to make, and the
evidence summarised once per release rather than per file.

A check's line is "changed" only when what it means changed against the previous admitted
release (another publisher, a new flag), never because a timestamp such as ``checked_at``
moved. Pure: reads file rows and their evidence.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mirror import scanner_rules
from mirror.db.records import FileRow
from mirror.policy.admission import State, is_review_hold
from mirror.policy.verdicts import FIRST_LOOK
from mirror.services.advisories import StoredAdvisory
from mirror.services.release_diff import (
    ReleaseDiff,
    family_order,
    platform_family,
    proven_publisher,
)

_OPEN = (State.QUARANTINED, State.PENDING)
_RELEASED_BY = {
    State.PENDING: "the next check cycle, once its evidence is in",
    State.BLOCKED: "lifting the block that covers it",
    State.REJECTED: "nothing automatic: the file failed a check that cannot pass later",
    State.WITHDRAWN: "the file reappearing upstream, then the quarantine",
    State.ADMITTED: "nothing to do: it is on the index",
}


@dataclass(frozen=True)
class DecisionView:
    """The state of the release, why, until when and what would release it."""

    states: list[tuple[str, int]]
    why: list[str]
    until: datetime | None
    released_by: str

    @property
    def headline(self) -> str:
        return self.states[0][0] if self.states else "unknown"


@dataclass(frozen=True)
class FileGroup:
    kind: str
    family: str
    count: int
    size: int


@dataclass(frozen=True)
class CheckLine:
    name: str
    text: str
    changed: bool


def decision(files: Sequence[FileRow]) -> DecisionView:
    """Open files (pending, quarantined) decide the headline; otherwise the commonest state."""
    counts = Counter(row.state for row in files)
    open_rows = [row for row in files if row.state in _OPEN]
    focus = open_rows or list(files)
    ranked = sorted(counts.items(), key=lambda item: (item[0] not in _OPEN, -item[1]))
    return DecisionView(
        states=ranked,
        why=list(dict.fromkeys(row.reason for row in focus)),
        until=_until(open_rows),
        released_by=_released_by(focus),
    )


def _until(open_rows: Sequence[FileRow]) -> datetime | None:
    times = [row.hold_until for row in open_rows if row.state == State.QUARANTINED]
    if not times or None in times:
        return None
    return max(t for t in times if t is not None)


def _released_by(rows: Sequence[FileRow]) -> str:
    states = {State(row.state) for row in rows}
    if any(is_review_hold(State(row.state), row.hold_until) for row in rows):
        return "a person: approve (or block) this release; nothing releases it by itself"
    if State.QUARANTINED in states:
        return (
            "time: admitted automatically when the quarantine ends, if no check holds it; "
            "or approve it now"
        )
    return _RELEASED_BY[min(states, key=list(State).index)] if states else ""


def file_groups(files: Sequence[FileRow]) -> list[FileGroup]:
    groups: dict[tuple[str, str], list[FileRow]] = {}
    for row in files:
        family = platform_family(row.filename)
        kind = "sdist" if family == "sdist" else "wheel"
        groups.setdefault((kind, family), []).append(row)
    return [
        FileGroup(kind, family, len(rows), sum(row.size or 0 for row in rows))
        for (kind, family), rows in sorted(groups.items(), key=lambda i: family_order(i[0][1]))
    ]


def check_lines(
    files: Sequence[FileRow],
    previous: Sequence[FileRow],
    diff: ReleaseDiff,
    advisories: Sequence[StoredAdvisory],
) -> list[CheckLine]:
    lines = [_provenance_line(files, previous), _content_line(files, diff)]
    lines.append(_advisory_line(advisories))
    scanned = _external_line(files)
    if scanned is not None:
        lines.append(scanned)
    first_look = sum(bool((row.evidence or {}).get(FIRST_LOOK)) for row in files)
    if first_look:
        text = f"{_files(first_look)} listed when the mirror first read the project"
        lines.append(CheckLine("first look", text, changed=False))
    return lines


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


_UNCHECKED = "not checked"


def _provenance_line(files: Sequence[FileRow], previous: Sequence[FileRow]) -> CheckLine:
    now, before = _provenance_meaning(files), _provenance_meaning(previous)
    statuses, identities = now
    parts = [", ".join(f"{status} ({_files(n)})" for status, n in sorted(statuses.items()))]
    if identities:
        parts.append("publisher " + " / ".join(sorted(identities)))
    # A release never checked (history at a first look) has no meaning to compare with.
    checked, checked_before = set(statuses) - {_UNCHECKED}, set(before[0]) - {_UNCHECKED}
    compared = bool(checked) and bool(checked_before)
    changed = compared and (checked, identities) != (checked_before, before[1])
    if compared and not changed:
        parts.append("same as previous")
    elif changed and before[1] != identities:
        parts.append("previous: " + (" / ".join(sorted(before[1])) or "no verified publisher"))
    return CheckLine("provenance", "; ".join(p for p in parts if p), changed)


def _provenance_meaning(rows: Sequence[FileRow]) -> tuple[Counter[str], frozenset[str]]:
    statuses: Counter[str] = Counter()
    for row in rows:
        record = _record(row, "provenance")
        statuses[str(record.get("status") or _UNCHECKED) if record else _UNCHECKED] += 1
    identities = frozenset(found.identity for row in rows if (found := proven_publisher(row)))
    return statuses, identities


def _content_line(files: Sequence[FileRow], diff: ReleaseDiff) -> CheckLine:
    codes: Counter[str] = Counter()
    inspected = 0
    for row in files:
        record = _record(row, "content")
        if record and "flags" in record:
            inspected += 1
            codes.update(flag.get("code", "") for flag in record["flags"] or [])
    if not inspected:
        return CheckLine("content", "not inspected yet", changed=False)
    startup = diff.total("new_startup_texts")
    parts = [
        f"{startup} new or changed .pth / startup hook" if startup else "no new .pth",
        _counted(diff.total("entry_points_added"), "new entry point", "new entry points"),
        _counted(diff.total("native_added"), "new native binary", "new native binaries"),
    ]
    if codes:
        parts.append("flags: " + ", ".join(f"{code} ({n})" for code, n in sorted(codes.items())))
    if inspected < len(files):
        parts.append(f"{_files(len(files) - inspected)} not inspected yet")
    return CheckLine("content", "; ".join(parts), changed=bool(codes))


def _counted(count: int, one: str, many: str) -> str:
    if count == 0:
        return f"no {one}"
    return f"{count} {one}" if count == 1 else f"{count} {many}"


def _external_line(files: Sequence[FileRow]) -> CheckLine | None:
    """Each external scanner in words: its verdict for a one-file release, else how many files
    it held or failed on. Advisory: changed only when it holds a file."""
    by_scanner: dict[str, list[Mapping[str, Any]]] = {}
    for row in files:
        for name, entry in (_record(row, "external") or {}).items():
            if isinstance(entry, Mapping):
                by_scanner.setdefault(name, []).append(entry)
    if not by_scanner:
        return None
    parts = []
    for name, entries in sorted(by_scanner.items()):
        if len(entries) == 1:
            parts.append(f"{name}: {scanner_rules.outcome_text(entries[0])}")
            continue
        held = [entry["hold"] for entry in entries if entry.get("hold")]
        failed = [entry.get("error") for entry in entries if entry.get("status") == "failed"]
        words = [f"{_files(len(entries))} scanned"]
        if held:
            words.append(f"{len(held)} held for review ({held[0]})")
        if failed:
            words.append(f"scanner failed on {len(failed)} ({failed[0]})")
        if not held and not failed:
            words.append("none matched a hold condition")
        parts.append(f"{name}: " + ", ".join(words))
    holds = any(entry.get("hold") for entries in by_scanner.values() for entry in entries)
    return CheckLine("external scanners", "; ".join(parts), changed=holds)


def _advisory_line(advisories: Sequence[StoredAdvisory]) -> CheckLine:
    live = [a for a in advisories if not a.withdrawn]
    if not live:
        return CheckLine("advisories", "none", changed=False)
    malicious = sum(a.malicious for a in live)
    ids = ", ".join(a.osv_id for a in live[:5]) + (" …" if len(live) > 5 else "")
    kind = f"{malicious} malicious, " if malicious else ""
    return CheckLine("advisories", f"{len(live)} ({kind}{ids})", changed=True)


def _record(row: FileRow, key: str) -> Mapping[str, Any] | None:
    value = (row.evidence or {}).get(key)
    return value if isinstance(value, Mapping) else None
