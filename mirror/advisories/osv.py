"""OSV advisories (the Open Source Vulnerability schema) reduced to what the mirror acts on.

Only ``PyPI`` entries are kept. Affected versions become PEP 440 specifiers, one per range
interval or listed version, so a malicious advisory blocks through the same ``blocks`` rows and
matching code as a person's block. The input is untrusted: every field is type-checked and a
violation raises one error naming where it is.

Not done here: GIT ranges (commit hashes say nothing about release versions) and ``limit``
events are ignored; severity scores are not kept.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from mirror.errors import MirrorError
from mirror.names import is_valid_project_name, normalize
from mirror.timeutil import parse_timestamp

ECOSYSTEM = "PyPI"
MALICIOUS_PREFIX = "MAL-"
# CWE-506 "Embedded Malicious Code": how malware advisories outside MAL- ids are classified.
MALICIOUS_CWE = "CWE-506"
# Set by the OpenSSF malicious-packages database on every report it merged.
MALICIOUS_ORIGINS = "malicious-packages-origins"
_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
_VERSION_RANGES = {"ECOSYSTEM", "SEMVER"}
_RANGE_TYPES = _VERSION_RANGES | {"GIT"}
# OSV ids are like "MAL-2026-1234", "GHSA-xxxx-xxxx-xxxx", "PYSEC-2026-1": kept to that shape
# because they end up in actor names, logs and terminal output.
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,199}")
_MAX_SUMMARY = 1000


class AdvisoryError(MirrorError):
    """An advisory file or document cannot be imported."""


@dataclass(frozen=True)
class Affected:
    """One affected interval of one project: a PEP 440 specifier, "" meaning every version."""

    project: str
    specifier: str


@dataclass(frozen=True)
class Advisory:
    osv_id: str
    modified: datetime
    published: datetime | None
    withdrawn: datetime | None
    summary: str
    details: str
    aliases: tuple[str, ...]
    links: tuple[str, ...]
    malicious: bool
    affected: tuple[Affected, ...]
    source: str

    @property
    def actor(self) -> str:
        """Who a block caused by this advisory is attributed to."""
        return f"advisory:{self.osv_id}"


def parse(document: Any, source: str, fallback_id: str | None = None) -> Advisory | None:
    """The advisory in one OSV document, or None when it names no PyPI package.

    ``fallback_id`` stands in for an empty ``id`` (the malicious-packages database's reports
    that wait for an id assignment are named after their file).

    Raises:
        AdvisoryError: the document is not a valid OSV object.
    """
    try:
        doc = _mapping(document, "advisory")
        osv_id = _text(doc, "id", "advisory") or fallback_id
    except AdvisoryError as exc:
        raise AdvisoryError(f"{source}: {exc}") from exc
    if not osv_id:
        raise AdvisoryError(f"{source}: advisory without an id")
    if not _ID_RE.fullmatch(osv_id):
        raise AdvisoryError(f"{source}: advisory id {osv_id[:60]!r} is not a valid OSV id")
    try:
        return _parse(doc, osv_id, source)
    except AdvisoryError as exc:
        raise AdvisoryError(f"{source}: {osv_id}: {exc}") from exc


def _parse(doc: Mapping[str, Any], osv_id: str, source: str) -> Advisory | None:
    entries = [
        _mapping(entry, f"affected[{i}]")
        for i, entry in enumerate(_list(doc, "affected", "advisory"))
    ]
    affected = tuple(
        item
        for i, entry in enumerate(entries)
        if _ecosystem(entry, f"affected[{i}]") == ECOSYSTEM
        for item in _affected(entry, f"affected[{i}]")
    )
    if not affected:
        return None
    modified = _timestamp(doc, "modified")
    if modified is None:
        raise AdvisoryError("modified is missing")
    return Advisory(
        osv_id=osv_id,
        modified=modified,
        published=_timestamp(doc, "published"),
        withdrawn=_timestamp(doc, "withdrawn"),
        summary=_one_line(_text(doc, "summary", "advisory"))[:_MAX_SUMMARY],
        details=_text(doc, "details", "advisory"),
        aliases=tuple(_strings(doc, "aliases", "advisory")),
        links=tuple(_links(doc)),
        malicious=_is_malicious(osv_id, doc, entries),
        affected=tuple(dict.fromkeys(affected)),
        source=source,
    )


def _is_malicious(osv_id: str, doc: Mapping[str, Any], entries: list[Mapping[str, Any]]) -> bool:
    if osv_id.startswith(MALICIOUS_PREFIX):
        return True
    specific = _mapping(doc.get("database_specific", {}), "database_specific")
    if MALICIOUS_ORIGINS in specific:
        return True
    cwes = [str(c) for c in _as_list(specific.get("cwe_ids", []), "database_specific.cwe_ids")]
    for i, entry in enumerate(entries):
        where = f"affected[{i}].database_specific"
        for cwe in _as_list(
            _mapping(entry.get("database_specific", {}), where).get("cwes", []), where
        ):
            cwes.append(str(cwe.get("cweId")) if isinstance(cwe, dict) else str(cwe))
    return MALICIOUS_CWE in cwes


def _ecosystem(entry: Mapping[str, Any], where: str) -> str:
    package = _mapping(entry.get("package"), f"{where}.package")
    return _text(package, "ecosystem", f"{where}.package")


def _affected(entry: Mapping[str, Any], where: str) -> list[Affected]:
    package = _mapping(entry.get("package"), f"{where}.package")
    name = _text(package, "name", f"{where}.package")
    if not is_valid_project_name(name):
        raise AdvisoryError(f"{where}.package.name {name[:100]!r} is not a valid project name")
    project = normalize(name)
    specifiers: list[str] = []
    has_version_data = False
    for i, item in enumerate(_list(entry, "ranges", where)):
        here = f"{where}.ranges[{i}]"
        range_ = _mapping(item, here)
        kind = _text(range_, "type", here)
        if kind not in _RANGE_TYPES:
            raise AdvisoryError(f"{here}.type {kind[:40]!r} is not an OSV range type")
        if kind in _VERSION_RANGES:
            has_version_data = True
            specifiers += _range_specifiers(_list(range_, "events", here), here)
    for version in _strings(entry, "versions", where):
        has_version_data = True
        specifiers.append(_exact(version, where))
    if not has_version_data:
        # No version information at all: every version (fail closed).
        specifiers.append("")
    return [Affected(project, spec) for spec in specifiers]


def _range_specifiers(events: list[Any], where: str) -> list[str]:
    """OSV's evaluation: sorted by version, "introduced" opens an affected interval, "fixed"
    (exclusive) or "last_affected" (inclusive) closes it. A range that starts with a closing
    event is affected from the lowest version on; one with no events at all, everywhere."""
    parsed: list[tuple[Version | None, str]] = []
    for i, raw in enumerate(events):
        event = _mapping(raw, f"{where}.events[{i}]")
        if len(event) != 1 or next(iter(event)) not in _EVENT_KINDS:
            raise AdvisoryError(f"{where}.events[{i}] must hold one of {', '.join(_EVENT_KINDS)}")
        kind, value = next(iter(event.items()))
        if not isinstance(value, str) or not value:
            raise AdvisoryError(f"{where}.events[{i}].{kind} must be a version string")
        if kind == "limit":
            continue
        lowest = kind == "introduced" and value == "0"
        parsed.append((None if lowest else _version(value, where), kind))
    parsed.sort(key=lambda event: (event[0] is not None, event[0] or Version("0")))
    specifiers: list[str] = []
    lower: str | None = None if parsed and parsed[0][1] == "introduced" else ""
    for version, kind in parsed:
        if kind == "introduced":
            if lower is None:
                lower = "" if version is None else f">={version}"
        elif lower is not None:
            specifiers.append(_join(lower, _upper(version, kind)))
            lower = None
    if lower is not None:
        specifiers.append(lower)
    return [_checked(spec, where) for spec in specifiers]


def _upper(version: Version | None, kind: str) -> str:
    if kind == "last_affected":
        return f"<={version}"
    # Not "<V": PEP 440 makes "<V" exclude V's own pre-releases, which OSV counts as below V.
    return f"<={version},!={version}"


def _join(*parts: str) -> str:
    return ",".join(part for part in parts if part)


def _exact(version: str, where: str) -> str:
    try:
        return f"=={Version(version)}"
    except InvalidVersion:
        # Not PEP 440: matched as the exact string (arbitrary equality).
        return _checked(f"==={version}", where)


def _version(text: str, where: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion as exc:
        raise AdvisoryError(
            f"{where}: range version {text[:60]!r} is not a PEP 440 version"
        ) from exc


def _checked(specifier: str, where: str) -> str:
    try:
        SpecifierSet(specifier)
    except InvalidSpecifier as exc:
        raise AdvisoryError(f"{where}: cannot express {specifier[:80]!r} as a specifier") from exc
    return specifier


def _one_line(text: str) -> str:
    # The summary becomes a block's reason, shown on terminals and pages: no control characters.
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _links(doc: Mapping[str, Any]) -> Iterable[str]:
    for i, item in enumerate(_list(doc, "references", "advisory")):
        url = _text(_mapping(item, f"references[{i}]"), "url", f"references[{i}]")
        if url:
            yield url


def _timestamp(doc: Mapping[str, Any], key: str) -> datetime | None:
    text = _text(doc, key, "advisory")
    if not text:
        return None
    try:
        return parse_timestamp(text)
    except ValueError as exc:
        raise AdvisoryError(f"{key} {text[:40]!r} is not an RFC 3339 timestamp") from exc


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise AdvisoryError(f"{where} must be an object")
    return value


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise AdvisoryError(f"{where} must be a list")
    return value


def _list(doc: Mapping[str, Any], key: str, where: str) -> list[Any]:
    return _as_list(doc.get(key, []), f"{where}.{key}")


def _text(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str):
        raise AdvisoryError(f"{where}.{key} must be a string")
    return value


def _strings(doc: Mapping[str, Any], key: str, where: str) -> list[str]:
    values = _list(doc, key, where)
    if not all(isinstance(value, str) for value in values):
        raise AdvisoryError(f"{where}.{key} must be a list of strings")
    return values
