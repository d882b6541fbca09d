"""Choose the file of a pinned release that fits this interpreter, from a signed PEP 691 page.

The page is already verified (it is a TUF target), so its hashes, ``requires-python`` and file
names can be trusted; the file itself is verified again when it is downloaded through TUF.
Wheels are ranked by ``packaging.tags.sys_tags()`` order, the order pip prefers; an sdist is
the fallback when no wheel fits.
"""

import platform
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, sys_tags
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from mirror.pipeline.requirements import Pin


@dataclass(frozen=True)
class Candidate:
    filename: str
    sha256: str
    provenance: str | None


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


def choose(entries: list[dict[str, Any]], pin: Pin) -> Candidate | None:
    """The best file of ``entries`` for this interpreter that matches the pinned hashes."""
    ranks = {tag: rank for rank, tag in enumerate(sys_tags())}
    best: tuple[int, dict[str, Any]] | None = None
    for entry in entries:
        sha256 = entry.get("hashes", {}).get("sha256")
        if not sha256 or (pin.hashes and sha256 not in pin.hashes) or not _python_fits(entry):
            continue
        rank = _rank(entry["filename"], ranks)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, entry)
    if best is None:
        return None
    entry = best[1]
    provenance = entry.get("provenance")
    return Candidate(
        entry["filename"],
        entry["hashes"]["sha256"],
        provenance if isinstance(provenance, str) else None,
    )


def _rank(filename: str, ranks: dict[Tag, int]) -> int | None:
    if not filename.endswith(".whl"):
        return len(ranks)  # an sdist builds anywhere, after every fitting wheel
    tags = parse_wheel_filename(filename)[3]
    fitting = [ranks[tag] for tag in tags if tag in ranks]
    return min(fitting) if fitting else None


def _python_fits(entry: dict[str, Any]) -> bool:
    requires = entry.get("requires-python")
    if not requires:
        return True
    try:
        return SpecifierSet(requires).contains(platform.python_version(), prereleases=True)
    except InvalidSpecifier:
        return False
