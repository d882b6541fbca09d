"""Choose the file of a pinned release that fits the target, from a signed PEP 691 page.

The page is already verified (it is a TUF target), so its hashes, ``requires-python`` and file
names can be trusted; the file itself is verified again when it is downloaded through TUF.
Wheels are ranked by the target's tag order (``packaging.tags.sys_tags()`` as the target
interpreter reports it), the order pip prefers; an sdist is the fallback when no wheel fits.

What a lock says narrows the choice: a lock that names files offers only those, and the chosen
file's locked sha256 must be the one the page signs; a requirements file's hashes choose among
the fitting files, and when none of them has a pinned hash that is a mismatch too.
"""

from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from mirror.pipeline.pins import Pin
from mirror.pipeline.target import Target


@dataclass(frozen=True)
class Candidate:
    filename: str
    sha256: str
    provenance: str | None


class HashMismatch(Exception):
    """The file the lock would install is signed with another sha256."""

    def __init__(self, locked: str, signed: str) -> None:
        super().__init__(f"sha256 mismatch: lock says {locked}, the mirror signs {signed}")


def release_files(page: dict[str, Any], pin: Pin) -> list[dict[str, Any]]:
    """The page's entries for exactly the pinned version."""
    wanted = Version(pin.version)
    return [entry for entry in page.get("files", []) if _version_of(entry, pin.project) == wanted]


def _version_of(entry: dict[str, Any], project: str) -> Version | None:
    filename = str(entry.get("filename", ""))
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return version if canonicalize_name(name) == project else None


def choose(entries: list[dict[str, Any]], pin: Pin, target: Target) -> Candidate | None:
    """The best file of ``entries`` for ``target`` that the pin allows; None when none fits.

    Raises:
        HashMismatch: the file the pin selects is signed with a sha256 it does not lock.
    """
    fitting = _fitting(entries, target)
    if pin.files:
        locked = {f.filename: f.sha256 for f in pin.files}
        offered = [e for e in fitting if e["filename"] in locked]
        if offered and offered[0]["hashes"]["sha256"] != locked[offered[0]["filename"]]:
            raise HashMismatch(locked[offered[0]["filename"]], offered[0]["hashes"]["sha256"])
        fitting = offered
    elif pin.hashes:
        matching = [e for e in fitting if e["hashes"]["sha256"] in pin.hashes]
        if fitting and not matching:
            raise HashMismatch(" or ".join(sorted(pin.hashes)), fitting[0]["hashes"]["sha256"])
        fitting = matching
    if not fitting:
        return None
    entry = fitting[0]
    provenance = entry.get("provenance")
    return Candidate(
        entry["filename"],
        entry["hashes"]["sha256"],
        provenance if isinstance(provenance, str) else None,
    )


def _fitting(entries: list[dict[str, Any]], target: Target) -> list[dict[str, Any]]:
    """The entries the target can install, best first."""
    ranks = {tag: rank for rank, tag in enumerate(target.tags)}
    ranked = []
    for entry in entries:
        sha256 = entry.get("hashes", {}).get("sha256")
        if not sha256 or not _python_fits(entry, target.python_version):
            continue
        rank = _rank(entry["filename"], ranks)
        if rank is not None:
            ranked.append((rank, entry["filename"], entry))
    return [entry for _, _, entry in sorted(ranked, key=lambda item: item[:2])]


def _rank(filename: str, ranks: dict[Tag, int]) -> int | None:
    if not filename.endswith(".whl"):
        return len(ranks)  # an sdist builds anywhere, after every fitting wheel
    tags = parse_wheel_filename(filename)[3]
    fitting = [ranks[tag] for tag in tags if tag in ranks]
    return min(fitting) if fitting else None


def _python_fits(entry: dict[str, Any], python_version: str) -> bool:
    requires = entry.get("requires-python")
    if not requires:
        return True
    try:
        return SpecifierSet(requires).contains(python_version, prereleases=True)
    except InvalidSpecifier:
        return False
