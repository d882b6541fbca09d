"""Read a ``poetry.lock`` (lock-version 2.1, Poetry 2) for one target interpreter.

Poetry 2 records for each package the groups that need it and the marker under which they do,
so what to install is every package of the ``main`` group whose marker (for ``main``) holds for
the target; optional packages (extras) are left out. Each package's ``files`` are its only
candidates, by file name and sha256. A ``[package.source]`` URL is not used; a package from
git, a directory, a file or a URL cannot come from the mirror and is refused.
"""

from typing import Any

from mirror.pipeline.lockfields import (
    Environment,
    array,
    filename_of,
    marker_holds,
    prefixed_sha256,
    project_name,
    string,
    table,
)
from mirror.pipeline.pins import LockedFile, Pin, RequirementsError

NAME = "poetry.lock"
GROUP = "main"
_FROM_AN_INDEX = ("legacy", "pypi")


def is_poetry_lock(data: dict[str, Any]) -> bool:
    metadata = data.get("metadata")
    return isinstance(metadata, dict) and "content-hash" in metadata


def read_poetry_lock(where: str, data: dict[str, Any], environment: Environment) -> list[Pin]:
    metadata = table(f"{where}: metadata", data["metadata"])
    version = string(f"{where}: metadata.lock-version", metadata.get("lock-version"))
    if version != "2.1":
        raise RequirementsError(
            f"{where}: lock-version {version} is not supported; `poetry lock` with Poetry 2 "
            "writes 2.1, which records each package's groups and markers"
        )
    pins = []
    for index, value in enumerate(array(f"{where}: package", data.get("package", []))):
        package = table(f"{where}: package[{index}]", value)
        here = f"{where}: package[{index}]"
        if package.get("optional") is True or not _needed(here, package, environment):
            continue
        pins.append(_pin(here, package))
    return pins


def _needed(here: str, package: dict[str, Any], environment: Environment) -> bool:
    groups = [string(f"{here}.groups", g) for g in array(f"{here}.groups", package.get("groups"))]
    if GROUP not in groups:
        return False
    markers = package.get("markers")
    if isinstance(markers, dict):
        markers = markers.get(GROUP)
    return marker_holds(f"{here}.markers", markers, environment)


def _pin(here: str, package: dict[str, Any]) -> Pin:
    name = project_name(f"{here}.name", package.get("name"))
    here = f"{here} ({name})"
    source = package.get("source")
    if source is not None:
        kind = string(f"{here}.source.type", table(f"{here}.source", source).get("type"))
        if kind not in _FROM_AN_INDEX:
            raise RequirementsError(f"{here}: a {kind} source cannot come from the mirror")
    files = tuple(
        _file(f"{here}.files[{i}]", table(f"{here}.files[{i}]", f))
        for i, f in enumerate(array(f"{here}.files", package.get("files")))
    )
    if not files:
        raise RequirementsError(f"{here}: no files to install")
    return Pin.locked(name, string(f"{here}.version", package.get("version")), files)


def _file(here: str, entry: dict[str, Any]) -> LockedFile:
    location = entry.get("file")
    return LockedFile(
        filename_of(here, location), prefixed_sha256(f"{here}.hash", entry.get("hash"))
    )
