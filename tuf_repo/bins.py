"""Pure helpers: target paths, which hash bin a path falls in, and what a batch
of target changes does to which bins.

No I/O and no signing here. Bin names agree with python-tuf's
``SuccinctRoles`` (TAP 15): the leading ``bit_length`` bits of SHA-256 over
the target path, in zero-padded hex, after ``bin-``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Literal, NamedTuple

BIN_PREFIX = "bin"
DEFAULT_BIT_LENGTH = 8

# What `targets` delegates to `bins`. A `*` never crosses `/` (TUF spec 4.5,
# "paths"), so both segments need their own `*`.
DELEGATED_PATHS = ("packages/*/*", "simple/*/*")
# Where every project's pages are (``index_html_path``, ``index_json_path``).
PAGES_PREFIX = "simple/"
# A file's companions, signed beside it: its PEP 658 core metadata, the mirror's copy of its
# verified PEP 740 provenance, and the mirror's admission record (an in-toto statement).
METADATA_SUFFIX = ".metadata"
PROVENANCE_SUFFIX = ".provenance"
ADMISSION_SUFFIX = ".admission"

# Target path segments stay within characters that need no URL quoting:
# ngclient joins them into URLs as they are.
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._+!-]*")
# DELEGATED_PATHS with such segments; one match, as a batch checks thousands of paths.
_TARGET_PATH = re.compile(rf"(?:packages|simple)/{_SEGMENT.pattern}/{_SEGMENT.pattern}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PEP503_SEPARATORS = re.compile(r"[-_.]+")


def _suffix_len(bit_length: int) -> int:
    return len(f"{2**bit_length - 1:x}")


def bin_for_path(path: str, bit_length: int = DEFAULT_BIT_LENGTH) -> str:
    """Return the bin role responsible for target ``path``.

    Example: ``packages/demo/demo-1.0-py3-none-any.whl`` -> ``bin-88``.
    """
    return _bin_name(_bin_number(path, _shift(bit_length)), bit_length)


def _shift(bit_length: int) -> int:
    """How far to shift a path's leading 32 hash bits right to get its bin number."""
    if not 1 <= bit_length <= 32:
        raise ValueError("bit_length must be between 1 and 32")
    return 32 - bit_length


def _bin_number(path: str, shift: int) -> int:
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:4], "big") >> shift


def _bin_name(number: int, bit_length: int) -> str:
    return f"{BIN_PREFIX}-{number:0{_suffix_len(bit_length)}x}"


def bin_names(bit_length: int = DEFAULT_BIT_LENGTH) -> list[str]:
    """Return every bin role name, ``bin-00`` first."""
    width = _suffix_len(bit_length)
    return [f"{BIN_PREFIX}-{i:0{width}x}" for i in range(2**bit_length)]


def _check_project(project: str) -> None:
    # PEP 503: target paths use the normalized name, so one project has one path.
    if project != _PEP503_SEPARATORS.sub("-", project).lower() or not _SEGMENT.fullmatch(project):
        raise ValueError(f"project name {project!r} is not PEP 503 normalized")


def package_path(project: str, filename: str) -> str:
    """Return the target path of one distribution (or ``.metadata``) file."""
    return file_path(package_prefix(project), filename)


def package_prefix(project: str) -> str:
    """Return the folder of a project's files under ``packages/``, with its slash."""
    _check_project(project)
    return f"packages/{project}/"


def file_path(prefix: str, filename: str) -> str:
    """``package_path`` given the project's ``package_prefix``: a project of thousands of
    files has its name checked once."""
    if not _SEGMENT.fullmatch(filename):
        raise ValueError(f"invalid file name {filename!r}")
    return prefix + filename


def companion_of(filename: str) -> tuple[str, str]:
    """(the distribution's filename, the companion suffix or "") of a name under ``packages/``."""
    for suffix in (METADATA_SUFFIX, PROVENANCE_SUFFIX, ADMISSION_SUFFIX):
        if filename.endswith(suffix):
            return filename.removesuffix(suffix), suffix
    return filename, ""


def index_html_path(project: str) -> str:
    """Return the target path of a project's PEP 503 page."""
    _check_project(project)
    return f"{PAGES_PREFIX}{project}/index.html"


def index_json_path(project: str) -> str:
    """Return the target path of a project's PEP 691 page."""
    _check_project(project)
    return f"{PAGES_PREFIX}{project}/index.json"


def check_target_path(path: str) -> None:
    """Raise ValueError unless ``path`` matches one of ``DELEGATED_PATHS``.

    A path outside them would be signed into a bin yet never found by a
    client, because ``targets`` only delegates these patterns to ``bins``.
    """
    if not _TARGET_PATH.fullmatch(path):
        raise ValueError(f"target path {path!r} is outside {' or '.join(DELEGATED_PATHS)}")


class _TargetChangeFields(NamedTuple):
    op: Literal["add", "remove"]
    path: str
    length: int = 0
    sha256: str = ""


class TargetChange(_TargetChangeFields):
    """One pending change: add (or replace) a target, or remove it.

    ``length`` and ``sha256`` describe the bytes for ``add``; ``remove``
    ignores them. A named tuple checked when made, not a frozen dataclass:
    as immutable, and made several times faster, which counts for a batch of
    tens of thousands of targets.
    """

    __slots__ = ()

    def __new__(
        cls, op: Literal["add", "remove"], path: str, length: int = 0, sha256: str = ""
    ) -> TargetChange:
        check_target_path(path)
        if op == "add":
            if length < 0:
                raise ValueError(f"{path}: negative length")
            if not _SHA256.fullmatch(sha256):
                raise ValueError(f"{path}: sha256 must be 64 lowercase hex digits")
        elif op != "remove":
            raise ValueError(f"{path}: unknown op {op!r}")
        return super().__new__(cls, op, path, length, sha256)

    @classmethod
    def add(cls, path: str, length: int, sha256: str) -> TargetChange:
        return cls("add", path, length, sha256)

    @classmethod
    def remove(cls, path: str) -> TargetChange:
        return cls("remove", path)


def group_by_bin(
    changes: Iterable[TargetChange], bit_length: int = DEFAULT_BIT_LENGTH
) -> dict[str, list[TargetChange]]:
    """Group a batch by bin, keeping only the last change to each path.

    Pending rows are applied in order, so within one batch a later change to a
    path supersedes an earlier one (admit then block -> removed).
    """
    last: dict[str, TargetChange] = {}
    for change in changes:
        last[change.path] = change
    shift = _shift(bit_length)
    grouped: dict[int, list[TargetChange]] = {}  # by bin number: each bin is named once
    for change in last.values():
        grouped.setdefault(_bin_number(change.path, shift), []).append(change)
    return {_bin_name(number, bit_length): group for number, group in grouped.items()}
