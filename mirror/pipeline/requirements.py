"""Read a requirements file that pins every requirement (``name==version``, ``--hash``es).

Only exact pins are accepted: a range would let the mirror's page, not the file, decide what
is installed, and the point of `mirror install` is an inventory fixed in advance. Environment
markers are evaluated for the target interpreter; a requirement whose marker is false there is
dropped. Options that change where packages come from (``--index-url``, ``-f``, ``-e``, ...)
are refused, because the mirror is the only source.
"""

import re

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from mirror.pipeline.lockfields import Environment, marker_holds, one_line
from mirror.pipeline.pins import Pin, RequirementsError

_HASH = re.compile(r"--hash[= ]\s*(\S+)")
_PIN_OPERATORS = ("==", "===")


def parse_pins(where: str, text: str, environment: Environment) -> list[Pin]:
    """The pins of the requirements ``text`` that apply to the target ``environment``.

    Raises:
        RequirementsError: naming the first offending line.
    """
    pins: list[Pin] = []
    unpinned: list[str] = []
    for number, line in _logical_lines(text):
        pin = _parse(f"{where}:{number}", number, line, unpinned, environment)
        if pin is not None:
            pins.append(pin)
    if unpinned:
        raise RequirementsError(
            f"{where}: not fully pinned; every requirement needs name==version "
            f"(unpinned: {', '.join(unpinned)})"
        )
    if not pins:
        raise RequirementsError(f"{where}: no requirements for the target interpreter")
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


def _parse(
    where: str, number: int, line: str, unpinned: list[str], environment: Environment
) -> Pin | None:
    hashes = _HASH.findall(line)
    spec = _HASH.sub("", line).strip()
    if spec.startswith("-"):
        option = spec.split()[0]
        raise RequirementsError(f"{where}: option {option} is not allowed; the mirror is the index")
    try:
        requirement = Requirement(spec)
    except InvalidRequirement as exc:
        raise RequirementsError(f"{where}: invalid requirement: {one_line(exc)}") from None
    marker = requirement.marker
    if marker is not None and not marker_holds(where, str(marker), environment):
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
