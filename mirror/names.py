"""Project names and filenames: normalisation (PEP 503) and validation of upstream data."""

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

# PEP 508 names: ASCII letters, digits, and . _ - inside; bounded so hostile input stays small.
# re.ASCII: without it IGNORECASE folds "\u017f" to "s" and "\u0131" to "i", so a name that
# no other component would accept as valid, nor normalise, got through.
_NAME_RE = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]{0,198}[A-Z0-9]", re.IGNORECASE | re.ASCII)
_FILENAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]{0,254}")
_SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar")
_GLOB_CHARS = frozenset("*?[")
_GLOB_RE = re.compile(r"[A-Za-z0-9._*?\[\]!-]+")
# Upload grants' patterns: bounded, since they are matched on every upload and listed.
MAX_UPLOAD_PATTERNS = 50
_UPLOAD_PATTERN = re.compile(r"[a-z0-9*?]|[a-z0-9*?][a-z0-9._*?-]{0,198}[a-z0-9*?]")
_SEPARATORS = re.compile(r"[-_.]+")


def is_valid_project_name(name: str) -> bool:
    return bool(_NAME_RE.fullmatch(name))


def normalize(name: str) -> str:
    """PEP 503 normalised form of a valid project name."""
    return canonicalize_name(name)


def is_glob(text: str) -> bool:
    """Whether a configured entry is a glob over project names (``acme-*``)."""
    return bool(_GLOB_CHARS & set(text))


def is_valid_glob(text: str) -> bool:
    """Whether a glob may match a project name: name characters and ``* ? [ ] !`` only (any
    other character would make it a rule that silently matches nothing)."""
    return bool(_GLOB_RE.fullmatch(text))


def upload_patterns(projects: Sequence[str], *, upload: bool) -> tuple[str, ...]:
    """The project name patterns an upload grant may publish, as stored: normalised, each a
    name with ``*``/``?`` globs, duplicates dropped. An upload grant needs them (they are all
    it may do) and no other grant may have them. Raises ValueError saying which rule failed.

    One rule for the tokens an operator creates and for the CI identities of
    ``[[auth.oidc.trust]]`` (docs/private-packages.md, "Trusted publishing")."""
    if not upload:
        if projects:
            raise ValueError("project name patterns are for the upload scope only")
        return ()
    patterns = tuple(dict.fromkeys(_upload_pattern(text) for text in projects))
    if not patterns or len(patterns) > MAX_UPLOAD_PATTERNS:
        raise ValueError(f"the upload scope needs 1 to {MAX_UPLOAD_PATTERNS} project name patterns")
    return patterns


def _upload_pattern(text: str) -> str:
    pattern = text.strip().lower()
    if not _UPLOAD_PATTERN.fullmatch(pattern):
        raise ValueError(f"{text!r} is no project name pattern (a name, with * and ? globs)")
    # Normalised as names are (PEP 503), so "Acme_*" matches what "acme-*" does.
    return _SEPARATORS.sub("-", pattern)


def version_from_filename(project: str, filename: str) -> str | None:
    """The release version a distribution filename belongs to, or None when it is not one of
    ``project``'s wheels or sdists (a hostile upstream may list anything on a page)."""
    if not _FILENAME_RE.fullmatch(filename):
        return None
    if filename.endswith(".whl"):
        if filename.count("-") not in (4, 5):
            return None
        # Name, version and build tag decide; the three compatibility tags are not read. A
        # large project lists each release for many platforms: read it once.
        return _wheel_release_version(project, filename[:-4].rsplit("-", 3)[0])
    for suffix in _SDIST_SUFFIXES:
        if filename.endswith(suffix):
            return release_version(project, filename[: -len(suffix)], wheel=False)
    return None


@functools.lru_cache(maxsize=4096)
def _wheel_release_version(project: str, release: str) -> str | None:
    return release_version(project, release, wheel=True)


# The usual release names, read without packaging's parsers (every file of a page asks): a
# version already in the form packaging writes back (no leading zeros, epoch, local part or
# spelled-out pre-release), so it is its own str(Version); a wheel's name with single
# separators and its build tag starting with a digit, as packaging requires. Any other name
# takes packaging's path, which answers the same for these (tests/test_names.py compares).
_NUMBER = "(?:0|[1-9][0-9]*)"
CANONICAL_VERSION = re.compile(
    rf"{_NUMBER}(?:\.{_NUMBER})*(?:(?:a|b|rc){_NUMBER})?(?:\.post{_NUMBER})?(?:\.dev{_NUMBER})?"
)
USUAL_WHEEL_RELEASE = re.compile(
    rf"([A-Za-z0-9]+(?:[._][A-Za-z0-9]+)*)-({CANONICAL_VERSION.pattern})(?:-[0-9][A-Za-z0-9._]*)?"
)
# An sdist splits at its last "-" (a version has none), and its name is any text.
USUAL_SDIST_RELEASE = re.compile(rf"(.+)-({CANONICAL_VERSION.pattern})")


def release_version(project: str, release: str, *, wheel: bool) -> str | None:
    """The version of ``project``'s release ``<name>-<version>`` (a wheel's may end with
    ``-<build tag>``), the filename without its suffix and a wheel's tags; else None."""
    usual = (USUAL_WHEEL_RELEASE if wheel else USUAL_SDIST_RELEASE).fullmatch(release)
    if usual is None:
        return parsed_release_version(project, release, wheel=wheel)
    name, version = usual.group(1, 2)
    return version if _normalized(name) == _normalized(project) else None


def parsed_release_version(project: str, release: str, *, wheel: bool) -> str | None:
    """``release_version`` read by packaging's parsers, for any release name."""
    try:
        # packaging only knows .tar.gz and .zip; any sdist suffix reads as .tar.gz.
        name, version = (
            parse_wheel_filename(f"{release}-py3-none-any.whl")[:2]
            if wheel
            else parse_sdist_filename(f"{release}.tar.gz")
        )
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    # ``name`` is normalised already (packaging's parsers return it so).
    return str(version) if name == _normalized(project) else None


# A page's files all ask for the same project's normalised name (and name part of its sdists).
@functools.lru_cache(maxsize=1024)
def _normalized(project: str) -> str:
    return normalize(project)


# Wheels by the systems they run on (PEP 425 platform tags): the review folds a release's
# wheels by family, and a wheel's content is compared with the closest one of the release
# before (docs/admission.md, "Content inspection").
PLATFORM_FAMILIES = ("sdist", "pure Python", "Linux", "macOS", "Windows", "other")
_FAMILY_PREFIXES: tuple[tuple[str, str], ...] = (
    ("manylinux", "Linux"),
    ("musllinux", "Linux"),
    ("linux", "Linux"),
    ("macosx", "macOS"),
    ("win", "Windows"),
    ("any", "pure Python"),
)
# What a platform tag says besides its family's name and version: the architecture
# (manylinux_2_17_x86_64 and manylinux2014_x86_64 are both x86_64).
_PLATFORM_PREFIX = re.compile(r"^(?:manylinux\d*|musllinux|linux|macosx)(?:_\d+_\d+)?_|^win_?")


@dataclass(frozen=True)
class WheelPlatform:
    """A distribution file's family, Python tags and architectures (none for an sdist)."""

    family: str
    pythons: frozenset[str] = frozenset()
    arches: frozenset[str] = frozenset()

    def distance(self, other: "WheelPlatform") -> tuple[bool, bool, bool]:
        """How far ``other`` is from this, to sort by: another family, then no architecture
        in common, then no Python tag in common."""
        return (
            self.family != other.family,
            not self.arches & other.arches,
            not self.pythons & other.pythons,
        )


@functools.lru_cache(maxsize=8192)
def wheel_platform(filename: str) -> WheelPlatform:
    if not filename.endswith(".whl"):
        return WheelPlatform("sdist")
    try:
        tags = parse_wheel_filename(filename)[3]
    except InvalidWheelFilename:
        return WheelPlatform("other")
    platforms = {tag.platform for tag in tags}
    family = next(
        (
            family
            for prefix, family in _FAMILY_PREFIXES
            if any(platform.startswith(prefix) for platform in platforms)
        ),
        "other",
    )
    return WheelPlatform(
        family,
        frozenset(tag.interpreter for tag in tags),
        frozenset(_PLATFORM_PREFIX.sub("", platform) for platform in platforms),
    )
