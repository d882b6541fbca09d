"""`mirror lock-identities pylock.toml`: write into a lock the publisher identities the mirror
verified, so later installs enforce them (``attestation-identities``, PEP 751).

For each package without identities, every locked file the mirror's signed page links a
provenance object for is looked up as a TUF target (like `mirror install` does), and each
publisher named there becomes one ``[[packages.attestation-identities]]`` table. The tables are
inserted into the lock's text, leaving the rest as uv or pip wrote it; the result is parsed
again and must be the same lock plus those tables, or nothing is written.
"""

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mirror.pipeline.install import InstallError, Session, signed_page, signed_publishers
from mirror.pipeline.lockfields import array, parse_toml, table
from mirror.pipeline.pins import Pin, RequirementsError, describe_publisher
from mirror.pipeline.pylock import is_pylock, locked_package

_HEADER = re.compile(r"^\s*\[(\[)?\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
IDENTITIES = "attestation-identities"
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def lock_identities(path: Path, mirror: Session) -> Iterator[str]:
    """Fill ``path`` in place; yields a line per package."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise RequirementsError(f"cannot read {path}: {exc}") from exc
    data = parse_toml(str(path), text)
    if not is_pylock(data):
        raise RequirementsError(f"{path}: not a pylock.toml (no lock-version)")
    packages = [
        table(f"{path}: packages[{i}]", p)
        for i, p in enumerate(array(f"{path}: packages", data.get("packages", [])))
    ]
    found: dict[int, list[dict[str, str]]] = {}
    for index, package in enumerate(packages):
        pin = locked_package(f"{path}: packages[{index}]", package)
        if IDENTITIES in package:
            yield f"{pin}: keeps the identities it lists"
            continue
        publishers = _verified_publishers(mirror, pin)
        if publishers:
            found[index] = publishers
        named = "; ".join(describe_publisher(p) for p in publishers) or "no verified provenance"
        yield f"{pin}: {named}"
    if found:
        path.write_text(_with_identities(str(path), text, data, found))


def _verified_publishers(mirror: Session, pin: Pin) -> list[dict[str, str]]:
    entries = {e.get("filename"): e for e in signed_page(mirror.client, pin).get("files", [])}
    publishers: list[dict[str, str]] = []
    for locked in pin.files:
        entry = entries.get(locked.filename)
        if entry is None:
            raise InstallError(f"{pin}: {locked.filename} is not on the mirror's signed page")
        if not isinstance(entry.get("provenance"), str):
            continue
        target = f"packages/{pin.project}/{locked.filename}"
        for publisher in signed_publishers(mirror.client, pin, target):
            if publisher not in publishers:
                publishers.append(publisher)
    return publishers


def _with_identities(
    where: str, text: str, data: dict[str, Any], found: dict[int, list[dict[str, str]]]
) -> str:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    ends = _package_ends(where, lines, len(data["packages"]))
    for index in sorted(found, reverse=True):  # from the end, so earlier positions hold
        lines[ends[index] : ends[index]] = [_tables(found[index])]
    result = "".join(lines)
    expected = copy.deepcopy(data)
    for index, publishers in found.items():
        expected["packages"][index][IDENTITIES] = publishers
    if parse_toml(where, result) != expected:
        raise RequirementsError(f"{where}: cannot place the identities in this lock's layout")
    return result


def _package_ends(where: str, lines: list[str], count: int) -> list[int]:
    """For each ``[[packages]]`` table, the line before which its sub-tables end."""
    starts: list[int] = []
    ends: list[int] = []
    for number, line in enumerate(lines):
        match = _HEADER.match(line)
        if match is None:
            continue
        name = match.group(2).replace(" ", "")
        inside = name.startswith("packages.")
        if starts and len(ends) < len(starts) and not inside:
            ends.append(number)
        if match.group(1) and name == "packages":
            starts.append(number)
    if len(ends) < len(starts):
        ends.append(len(lines))
    if len(starts) != count:
        raise RequirementsError(f"{where}: write the packages as [[packages]] tables")
    return ends


def _tables(publishers: list[dict[str, str]]) -> str:
    return "".join(
        f"\n[[packages.{IDENTITIES}]]\n"
        + "".join(f"{_key(key)} = {json.dumps(value)}\n" for key, value in p.items())
        for p in publishers
    )


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)
