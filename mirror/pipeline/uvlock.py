"""Read a ``uv.lock`` for one target interpreter.

A ``uv.lock`` is a graph: the project itself (an editable or virtual root) and its locked
dependencies, each edge with a marker. What to install is what the target reaches from the
roots' dependencies (not their dependency groups or extras), following only edges whose marker
holds for the target. Each reached package must come from a registry; its wheels and sdist are
its only candidates, by file name and sha256. Registry URLs are not used. The roots themselves
are the project being built, not dependencies, and are not installed.
"""

from typing import Any

from mirror.pipeline.lockfields import (
    Environment,
    array,
    filename_of,
    marker_holds,
    optional_string,
    prefixed_sha256,
    project_name,
    python_fits,
    string,
    table,
)
from mirror.pipeline.pins import LockedFile, Pin, RequirementsError

NAME = "uv.lock"
_ROOTS = ("editable", "virtual")


def is_uv_lock(data: dict[str, Any]) -> bool:
    return isinstance(data.get("version"), int) and isinstance(data.get("package"), list)


def read_uv_lock(where: str, data: dict[str, Any], environment: Environment) -> list[Pin]:
    if data["version"] != 1:
        raise RequirementsError(f"{where}: uv.lock version {data['version']} is not supported")
    if not python_fits(f"{where}: requires-python", data.get("requires-python"), environment):
        raise RequirementsError(
            f"{where}: requires-python {data['requires-python']} excludes the target's "
            f"Python {environment['python_full_version']}"
        )
    packages = [
        table(f"{where}: package[{i}]", p)
        for i, p in enumerate(array(f"{where}: package", data["package"]))
    ]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for index, package in enumerate(packages):
        by_name.setdefault(
            project_name(f"{where}: package[{index}].name", package.get("name")), []
        ).append(package)
    roots = [p for p in packages if _source_kind(where, p) in _ROOTS]
    if not roots:
        raise RequirementsError(f"{where}: no editable or virtual root project")
    context = {**environment, "extra": ""}
    reached: dict[int, dict[str, Any]] = {}
    waiting = [dep for root in roots for dep in _dependencies(where, root)]
    while waiting:
        edge = waiting.pop()
        if not marker_holds(f"{where}: dependency marker", edge.get("marker"), context):
            continue
        package = _resolve(where, edge, by_name)
        if id(package) in reached or _source_kind(where, package) in _ROOTS:
            continue
        reached[id(package)] = package
        waiting.extend(_dependencies(where, package))
    return [_pin(where, package) for package in reached.values()]


def _source_kind(where: str, package: dict[str, Any]) -> str:
    source = table(f"{where}: {package.get('name')!r}.source", package.get("source"))
    if len(source) != 1:
        raise RequirementsError(f"{where}: {package.get('name')!r}: one source expected")
    return next(iter(source))


def _dependencies(where: str, package: dict[str, Any]) -> list[dict[str, Any]]:
    here = f"{where}: {package.get('name')!r}.dependencies"
    return [table(here, edge) for edge in array(here, package.get("dependencies", []))]


def _resolve(
    where: str, edge: dict[str, Any], by_name: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """The package an edge names: by name, then by version where uv locked several."""
    name = project_name(f"{where}: dependency name", edge.get("name"))
    candidates = by_name.get(name, [])
    version = optional_string(f"{where}: {name} version", edge.get("version"))
    if version is not None:
        candidates = [p for p in candidates if p.get("version") == version]
    if edge.get("source") is not None:
        candidates = [p for p in candidates if p.get("source") == edge["source"]]
    if len(candidates) != 1:
        raise RequirementsError(f"{where}: dependency {name} matches {len(candidates)} packages")
    return candidates[0]


def _pin(where: str, package: dict[str, Any]) -> Pin:
    name = project_name(f"{where}: package name", package.get("name"))
    here = f"{where}: {name}"
    kind = _source_kind(where, package)
    if kind != "registry":
        raise RequirementsError(f"{here}: a {kind} source cannot come from the mirror")
    entries = [
        (f"{here}.wheels[{i}]", w)
        for i, w in enumerate(array(f"{here}.wheels", package.get("wheels", [])))
    ]
    if "sdist" in package:
        entries.append((f"{here}.sdist", package["sdist"]))
    files = tuple(_file(spot, table(spot, entry)) for spot, entry in entries)
    if not files:
        raise RequirementsError(f"{here}: no wheels or sdist to install")
    return Pin.locked(name, string(f"{here}.version", package.get("version")), files)


def _file(here: str, entry: dict[str, Any]) -> LockedFile:
    location = entry.get("url") or entry.get("path") or entry.get("filename")
    return LockedFile(
        filename_of(here, location), prefixed_sha256(f"{here}.hash", entry.get("hash"))
    )
