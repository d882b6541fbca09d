"""PEP 517 build backend of signed-mirror-client (docs/tuf.md, "The light client").

The wheel holds the first-party modules its console scripts reach by import, found by reading
the repository's source (the folder above this one), with their packages' ``__init__.py``:
the client gets ``mirror.pipeline``, the vocabulary modules it imports and ``tuf_repo``, and
none of the server. Standard library only, so building it installs nothing; the wheel is
reproducible (sorted members, fixed timestamps).
"""

import ast
import base64
import hashlib
import io
import tomllib
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent  # the repository: one source tree for the server and the client
FIRST_PARTY = ("mirror", "tuf_repo")
EPOCH = (1980, 1, 1, 0, 0, 0)


def _project() -> dict[str, object]:
    with (HERE / "pyproject.toml").open("rb") as handle:
        project: dict[str, object] = tomllib.load(handle)["project"]
    return project


def _module_file(name: str) -> Path | None:
    base = SOURCE.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported(path: Path) -> set[str]:
    """First-party modules ``path`` imports (a ``from P import N`` may name a module N)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] in FIRST_PARTY and _module_file(name)}


def modules(entries: list[str]) -> set[Path]:
    """The files of ``entries`` and of every first-party module they reach by import."""
    seen: set[str] = set()
    pending = list(entries)
    while pending:
        name = pending.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # a module's packages run first
            package = ".".join(parts[:depth])
            if package not in seen:
                seen.add(package)
                found = _module_file(package)
                if found is None:
                    raise FileNotFoundError(f"no module {package} under {SOURCE}")
                pending.extend(_imported(found))
    return {file for name in seen if (file := _module_file(name)) is not None}


def _scripts(project: dict[str, object]) -> dict[str, str]:
    scripts = project.get("scripts", {})
    assert isinstance(scripts, dict)
    return {str(k): str(v) for k, v in scripts.items()}


def _metadata(project: dict[str, object]) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project['description']}",
        f"Requires-Python: {project['requires-python']}",
    ]
    dependencies = project.get("dependencies", [])
    assert isinstance(dependencies, list)
    lines += [f"Requires-Dist: {requirement}" for requirement in dependencies]
    return "\n".join(lines) + "\n"


def _dist_info(project: dict[str, object]) -> dict[str, str]:
    """The .dist-info members but RECORD."""
    entry_points = "[console_scripts]\n" + "".join(
        f"{name} = {target}\n" for name, target in sorted(_scripts(project).items())
    )
    wheel = (
        "Wheel-Version: 1.0\nGenerator: build_client\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    return {"METADATA": _metadata(project), "WHEEL": wheel, "entry_points.txt": entry_points}


def _stem(project: dict[str, object]) -> str:
    return f"{str(project['name']).replace('-', '_')}-{project['version']}"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\n"


def get_requires_for_build_wheel(config_settings: object = None) -> list[str]:
    return []


def build_wheel(
    wheel_directory: str, config_settings: object = None, metadata_directory: object = None
) -> str:
    project = _project()
    entries = [target.split(":")[0] for target in _scripts(project).values()]
    members = {path.relative_to(SOURCE).as_posix(): path.read_bytes() for path in modules(entries)}
    info = f"{_stem(project)}.dist-info"
    members |= {f"{info}/{name}": text.encode() for name, text in _dist_info(project).items()}
    record = "".join(_record_line(name, data) for name, data in sorted(members.items()))
    members[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    filename = f"{_stem(project)}-py3-none-any.whl"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in sorted(members.items()):
            member = zipfile.ZipInfo(name, EPOCH)
            member.external_attr = 0o644 << 16
            wheel.writestr(member, data, zipfile.ZIP_DEFLATED)
    Path(wheel_directory, filename).write_bytes(buffer.getvalue())
    return filename
