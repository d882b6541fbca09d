"""Read a ``pylock.toml`` (PEP 751) for one target interpreter.

The lock's ``environments`` and ``requires-python`` must admit the target, each package's
``marker`` decides whether it is installed (with the lock's default dependency groups and no
extras), and each installed package's wheels and sdist are its only candidates, by file name
and sha256. URLs, paths and ``index`` say where the lock's author downloaded from; they are not
used. A package from a VCS, a directory or an archive URL cannot come from the mirror and is
refused. ``attestation-identities`` are kept for `mirror install` to enforce.
"""

import re
from typing import Any

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

from mirror.pipeline.lockfields import (
    Environment,
    array,
    filename_of,
    marker_holds,
    optional_string,
    project_name,
    python_fits,
    sha256_hex,
    string,
    table,
)
from mirror.pipeline.pins import Identity, LockedFile, Pin, RequirementsError

NAME = re.compile(r"pylock\.([^.]+\.)?toml")
_NOT_FROM_AN_INDEX = ("vcs", "directory", "archive")


def is_pylock(data: dict[str, Any]) -> bool:
    return "lock-version" in data


def read_pylock(where: str, data: dict[str, Any], environment: Environment) -> list[Pin]:
    version = string(f"{where}: lock-version", data.get("lock-version"))
    if version.split(".")[0] != "1":
        raise RequirementsError(f"{where}: lock-version {version} is not supported (1.x is)")
    _check_environments(where, data, environment)
    groups = array(f"{where}: default-groups", data.get("default-groups", []))
    context = {
        **environment,
        "extras": frozenset(),
        "dependency_groups": frozenset(string(f"{where}: default-groups", g) for g in groups),
    }
    pins: dict[str, Pin] = {}
    for index, value in enumerate(array(f"{where}: packages", data.get("packages", []))):
        package = table(f"{where}: packages[{index}]", value)
        here = f"{where}: packages[{index}]"
        if not marker_holds(f"{here}.marker", package.get("marker"), context):
            continue
        pin = locked_package(here, package)
        if pin.project in pins:
            raise RequirementsError(f"{here}: {pin.project} is locked twice for this target")
        pins[pin.project] = pin
    return list(pins.values())


def _check_environments(where: str, data: dict[str, Any], environment: Environment) -> None:
    if not python_fits(f"{where}: requires-python", data.get("requires-python"), environment):
        raise RequirementsError(
            f"{where}: requires-python {data['requires-python']} excludes the target's "
            f"Python {environment['python_full_version']}"
        )
    markers = data.get("environments")
    if markers is None:
        return
    if not any(
        marker_holds(f"{where}: environments", m, environment)
        for m in array(f"{where}: environments", markers)
    ):
        raise RequirementsError(f"{where}: none of the lock's environments is the target's")


def locked_package(here: str, package: dict[str, Any]) -> Pin:
    """The pin of one ``[[packages]]`` table, whatever its marker."""
    name = project_name(f"{here}.name", package.get("name"))
    here = f"{here} ({name})"
    for key in _NOT_FROM_AN_INDEX:
        if key in package:
            raise RequirementsError(f"{here}: a {key} source cannot come from the mirror")
    files = [
        _file(f"{here}.wheels[{i}]", table(f"{here}.wheels[{i}]", w))
        for i, w in enumerate(array(f"{here}.wheels", package.get("wheels", [])))
    ]
    if "sdist" in package:
        files.append(_file(f"{here}.sdist", table(f"{here}.sdist", package["sdist"])))
    if not files:
        raise RequirementsError(f"{here}: no wheels or sdist to install")
    version = optional_string(f"{here}.version", package.get("version"))
    return Pin.locked(
        name,
        version or _version_from(here, name, files),
        tuple(files),
        _identities(here, package.get("attestation-identities", [])),
    )


def _file(here: str, entry: dict[str, Any]) -> LockedFile:
    location = entry.get("name") or entry.get("url") or entry.get("path")
    hashes = table(f"{here}.hashes", entry.get("hashes"))
    if "sha256" not in hashes:
        raise RequirementsError(f"{here}: no sha256 (the mirror signs sha256)")
    return LockedFile(filename_of(here, location), sha256_hex(f"{here}.sha256", hashes["sha256"]))


def _version_from(here: str, name: str, files: list[LockedFile]) -> str:
    filename = files[0].filename
    try:
        if filename.endswith(".whl"):
            found, version, _, _ = parse_wheel_filename(filename)
        else:
            found, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise RequirementsError(f"{here}: no version, and {exc}") from None
    if found != name:
        raise RequirementsError(f"{here}: {filename} is not a file of {name}")
    return str(version)


def _identities(here: str, value: Any) -> tuple[Identity, ...]:
    found = []
    for index, entry in enumerate(array(f"{here}.attestation-identities", value)):
        where = f"{here}.attestation-identities[{index}]"
        fields = table(where, entry)
        kind = string(f"{where}.kind", fields.get("kind"))
        others = tuple(
            sorted((key, string(f"{where}.{key}", v)) for key, v in fields.items() if key != "kind")
        )
        found.append(Identity(kind, others))
    return tuple(found)
