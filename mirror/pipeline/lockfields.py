"""Typed reads of a parsed lock, shared by the lock parsers. A lock is data from outside: any
value of the wrong type, any unparsable marker or hash is one ``RequirementsError`` naming
where it is, never a traceback."""

import re
import tomllib
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidName, canonicalize_name

from mirror.pipeline.pins import RequirementsError

# What markers are evaluated against: the target interpreter's marker environment, plus the
# lock-file names (``extras``, ``dependency_groups``) where a lock uses them.
Environment = Mapping[str, Any]

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def one_line(exc: Exception) -> str:
    """An exception's first line: packaging's parse errors add a caret drawing below it."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def parse_toml(where: str, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RequirementsError(f"{where}: not valid TOML: {one_line(exc)}") from None


def table(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequirementsError(f"{where}: expected a table")
    return value


def array(where: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise RequirementsError(f"{where}: expected an array")
    return value


def string(where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise RequirementsError(f"{where}: expected a string")
    return value


def optional_string(where: str, value: Any) -> str | None:
    return None if value is None else string(where, value)


def project_name(where: str, value: Any) -> str:
    name = string(where, value)
    try:
        return canonicalize_name(name, validate=True)
    except InvalidName:
        raise RequirementsError(f"{where}: invalid project name {name!r}") from None


def sha256_hex(where: str, value: Any) -> str:
    digest = string(where, value)
    if not _SHA256.fullmatch(digest):
        raise RequirementsError(f"{where}: a sha256 is 64 hex digits")
    return digest.lower()


def prefixed_sha256(where: str, value: Any) -> str:
    """The hex digest of ``sha256:<hex>``, the form uv and Poetry write."""
    algorithm, _, digest = string(where, value).partition(":")
    if algorithm != "sha256":
        raise RequirementsError(f"{where}: only sha256 hashes are supported")
    return sha256_hex(where, digest)


def marker_holds(where: str, text: Any, environment: Environment) -> bool:
    """Whether the marker ``text`` is true for the target; a missing marker always is."""
    if text is None:
        return True
    try:
        return Marker(string(where, text)).evaluate(dict(environment), "lock_file")
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName) as exc:
        raise RequirementsError(f"{where}: marker {text!r}: {one_line(exc)}") from None


def python_fits(where: str, specifier: Any, environment: Environment) -> bool:
    if specifier is None:
        return True
    try:
        allowed = SpecifierSet(string(where, specifier))
    except InvalidSpecifier:
        raise RequirementsError(f"{where}: invalid requires-python {specifier!r}") from None
    return allowed.contains(str(environment["python_full_version"]), prereleases=True)


def filename_of(where: str, location: Any) -> str:
    """The file name a lock's URL or path ends in (its host and folders are not used: the
    mirror is the only source)."""
    path = unquote(urlsplit(string(where, location)).path)
    name = PurePosixPath(path.replace("\\", "/")).name
    if not name or name in (".", ".."):
        raise RequirementsError(f"{where}: {location!r} names no file")
    return name
