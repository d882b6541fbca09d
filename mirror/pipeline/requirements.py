"""Read a requirements file that pins every requirement (``name==version``, ``--hash``es).

Only exact pins are accepted: a range would let the mirror's page, not the file, decide what
is installed, and the point of `mirror install` is an inventory fixed in advance. Environment
markers are evaluated here; a requirement whose marker is false for this interpreter is
dropped. Options that change where packages come from (``--index-url``, ``-f``, ``-e``, ...)
are refused, because the mirror is the only source.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from mirror.errors import MirrorError

_HASH = re.compile(r"--hash[= ]\s*(\S+)")
_PIN_OPERATORS = ("==", "===")


class RequirementsError(MirrorError):
    """The requirements file is unreadable, malformed or not fully pinned."""


@dataclass(frozen=True)
class Pin:
    """One pinned requirement, as the file states it."""

    project: str
    version: str
    extras: tuple[str, ...]
    hashes: frozenset[str]
    line: int

    def __str__(self) -> str:
        return f"{self.project}=={self.version}"

    def as_pip_line(self, sha256: str) -> str:
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        return f"{self.project}{extras}=={self.version} --hash=sha256:{sha256}"


def read_pins(path: Path) -> list[Pin]:
    """The pins of ``path`` that apply to this interpreter.

    Raises:
        RequirementsError: naming the first offending line.
    """
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise RequirementsError(f"cannot read {path}: {exc}") from exc
    pins: list[Pin] = []
    unpinned: list[str] = []
    for number, line in _logical_lines(text):
        pin = _parse(path, number, line, unpinned)
        if pin is not None:
            pins.append(pin)
    if unpinned:
        raise RequirementsError(
            f"{path}: not fully pinned; every requirement needs name==version "
            f"(unpinned: {', '.join(unpinned)})"
        )
    if not pins:
        raise RequirementsError(f"{path}: no requirements for this interpreter")
    return pins


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) with continuations joined and comments removed."""
    result: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw)
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        if buffer.strip():
            result.append((start, buffer.strip()))
        buffer = ""
    if buffer.strip():
        result.append((start, buffer.strip()))
    return result


def _parse(path: Path, number: int, line: str, unpinned: list[str]) -> Pin | None:
    where = f"{path}:{number}"
    hashes = _HASH.findall(line)
    spec = _HASH.sub("", line).strip()
    if spec.startswith("-"):
        option = spec.split()[0]
        raise RequirementsError(f"{where}: option {option} is not allowed; the mirror is the index")
    try:
        requirement = Requirement(spec)
    except InvalidRequirement as exc:
        raise RequirementsError(f"{where}: invalid requirement: {exc}") from exc
    if requirement.marker is not None and not requirement.marker.evaluate():
        return None
    if requirement.url:
        raise RequirementsError(f"{where}: {requirement.name}: direct URLs are not allowed")
    specifiers = list(requirement.specifier)
    pinned = (
        len(specifiers) == 1
        and specifiers[0].operator in _PIN_OPERATORS
        and "*" not in specifiers[0].version
    )
    if not pinned:
        unpinned.append(f"{requirement.name}{requirement.specifier}")
        return None
    digests = set()
    for value in hashes:
        algorithm, _, digest = value.partition(":")
        if algorithm != "sha256" or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
            raise RequirementsError(f"{where}: only --hash=sha256:<64 hex> is supported")
        digests.add(digest.lower())
    return Pin(
        project=canonicalize_name(requirement.name),
        version=specifiers[0].version,
        extras=tuple(sorted(requirement.extras)),
        hashes=frozenset(digests),
        line=number,
    )
