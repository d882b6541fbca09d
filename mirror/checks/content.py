"""Content inspection of wheels and sdists (SPEC "Admission policy", check "content").

What is looked for, and why:

* ``.pth`` files that execute code. ``site.py`` runs every line of a ``.pth`` file in
  site-packages that starts with ``import `` or ``import\\t``, at every interpreter start
  (the 2026 LiteLLM compromise shipped such a file). In a wheel only the files that install
  into site-packages count: the wheel root, ``*.data/purelib|platlib/`` and
  ``*.data/data/**/site-packages/``. In an sdist every ``.pth`` is read.
* Console and GUI entry points (the commands an install puts on ``PATH``).
* Native binaries: by suffix (``.so``, ``.pyd``, ``.dylib``, ``.dll``) or, for any other
  member, by ELF / Mach-O / PE magic in its first bytes.
* Sdist build hooks, i.e. code that runs when the sdist is built: a ``setup.py``, one that
  overrides setuptools commands (``cmdclass``), and an in-tree build backend
  (``[build-system] backend-path`` in ``pyproject.toml``).

Archives are read member by member and each read is capped, so a huge or hostile archive
costs bounded memory: wheels and ``.zip`` sdists through the zip central directory (the
source must be seekable), ``.tar.*`` sdists in tar stream mode. A corrupt archive gives a
report with ``errors``, never an exception.

Not done here: entry points declared in ``setup.py``/``setup.cfg`` (only running the build
would tell), and any judgement beyond the flags of ``compare``.
"""

from __future__ import annotations

import functools
import lzma
import os
import re
import tarfile
import tomllib
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import IO, Any, BinaryIO, Literal

__all__ = [
    "MAX_MEMBERS",
    "MAX_TEXT_BYTES",
    "ContentReport",
    "Flag",
    "PthFile",
    "compare",
    "inspect_distribution",
]

# Text members we parse (.pth, entry_points.txt, setup.py, pyproject.toml) are read up to
# this size; real ones are a few KiB.
MAX_TEXT_BYTES = 1024 * 1024
# Large real wheels hold a few tens of thousands of files.
MAX_MEMBERS = 200_000
# Evidence is stored and shown; keep what one .pth contributes small.
_MAX_LINES_KEPT = 10
_MAX_LINE_CHARS = 300

_SCRIPT_GROUPS = ("console_scripts", "gui_scripts")
_PYPROJECT_SCRIPT_TABLES = {"scripts": "console_scripts", "gui-scripts": "gui_scripts"}
_NATIVE_SUFFIX = re.compile(r"\.(so(\.\d+)*|pyd|dylib|dll)$", re.IGNORECASE)
_MAGIC_BYTES = 4
_NATIVE_MAGICS = (
    b"\x7fELF",  # ELF
    b"\xfe\xed\xfa\xce",  # Mach-O 32-bit, big-endian
    b"\xfe\xed\xfa\xcf",  # Mach-O 64-bit, big-endian
    b"\xce\xfa\xed\xfe",  # Mach-O 32-bit, little-endian
    b"\xcf\xfa\xed\xfe",  # Mach-O 64-bit, little-endian
    b"\xca\xfe\xba\xbe",  # Mach-O universal (fat) binary
    b"MZ",  # PE (Windows .exe/.dll)
)
_CMDCLASS = re.compile(r"\bcmdclass\b")
# Archive libraries signal damage with many exception types; all mean "corrupt archive".
_ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    RuntimeError,
    NotImplementedError,
    ValueError,
)

Kind = Literal["wheel", "sdist"]
Source = str | os.PathLike[str] | BinaryIO
_Opener = Callable[[], IO[bytes]]


@dataclass
class PthFile:
    """A ``.pth`` file and the lines ``site.py`` would execute (the first few, shortened)."""

    name: str
    executable_lines: list[str] = field(default_factory=list)


@dataclass
class ContentReport:
    """What one distribution file contains that can run code; stored as evidence."""

    filename: str
    kind: Kind
    pth_files: list[PthFile] = field(default_factory=list)
    entry_points: dict[str, dict[str, str]] = field(default_factory=dict)
    native_binaries: list[str] = field(default_factory=list)
    sdist_hooks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContentReport:
        return cls(
            filename=data["filename"],
            kind=data["kind"],
            pth_files=[PthFile(p["name"], list(p["executable_lines"])) for p in data["pth_files"]],
            entry_points={g: dict(e) for g, e in data["entry_points"].items()},
            native_binaries=list(data["native_binaries"]),
            sdist_hooks=list(data["sdist_hooks"]),
            errors=list(data["errors"]),
        )


@dataclass(frozen=True)
class Flag:
    """A reason to hold a file for review.

    ``code`` is one of "executable-pth", "new-entry-point", "new-native-binary",
    "sdist-install-hook", "inspection-error".
    """

    code: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def inspect_distribution(filename: str, source: Source) -> ContentReport:
    """Inspect a wheel or sdist given as a path or a binary file object (left open).

    The format comes from ``filename``: ``.whl``, ``.zip`` or a tar archive (``.tar.gz``
    and the other compressions tarfile reads).
    """
    kind: Kind = "wheel" if filename.endswith(".whl") else "sdist"
    report = ContentReport(filename=filename, kind=kind)
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as stream:
            _inspect_stream(report, stream)
    else:
        _inspect_stream(report, source)
    report.pth_files.sort(key=lambda pth: pth.name)
    report.native_binaries.sort()
    report.sdist_hooks = sorted(set(report.sdist_hooks))
    return report


def _inspect_stream(report: ContentReport, stream: IO[bytes]) -> None:
    name = report.filename
    if name.endswith((".whl", ".zip")):
        members = _zip_members(stream)
    elif ".tar" in name or name.endswith(".tgz"):
        members = _tar_members(stream)
    else:
        report.errors.append(f"unknown distribution format: {name}")
        return
    try:
        for count, (member, opener) in enumerate(members):
            if count == MAX_MEMBERS:
                report.errors.append(f"more than {MAX_MEMBERS} members; the rest not inspected")
                break
            path = member if report.kind == "wheel" else _sdist_path(member)
            _inspect_member(report, path, opener)
    except _ARCHIVE_ERRORS as error:
        report.errors.append(f"corrupt archive: {type(error).__name__}: {error}")


def _zip_members(stream: IO[bytes]) -> Iterator[tuple[str, _Opener]]:
    # The central directory lists members; each is opened (and decompressed) lazily.
    with zipfile.ZipFile(stream) as archive:
        for info in archive.infolist():
            if not info.is_dir():
                yield info.filename, functools.partial(archive.open, info)


def _tar_members(stream: IO[bytes]) -> Iterator[tuple[str, _Opener]]:
    # Stream mode ("r|*") never seeks back: a member is opened at most once, before the next.
    with tarfile.open(fileobj=stream, mode="r|*") as archive:
        for member in archive:
            if member.isfile():
                yield member.name, functools.partial(_extract, archive, member)


def _extract(archive: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    extracted = archive.extractfile(member)
    if extracted is None:  # only for non-files, which are skipped; keeps the type honest
        raise tarfile.TarError(f"cannot read {member.name}")
    return extracted


def _sdist_path(name: str) -> str:
    """The path inside the sdist's ``{name}-{version}/`` root, so releases compare."""
    parts = name.removeprefix("./").split("/")
    return "/".join(parts[1:]) if len(parts) > 1 else parts[0]


def _inspect_member(report: ContentReport, name: str, opener: _Opener) -> None:
    """Read the member once (tar streams cannot go back): its head, or all of a text we parse."""
    role = _text_role(report.kind, name)
    with opener() as member:
        data = member.read((MAX_TEXT_BYTES if role else _MAGIC_BYTES) + 1)
    if _NATIVE_SUFFIX.search(name) or data.startswith(_NATIVE_MAGICS):
        report.native_binaries.append(name)
    if role is None:
        return
    if len(data) > MAX_TEXT_BYTES:
        report.errors.append(f"{name} is larger than {MAX_TEXT_BYTES} bytes; read in part")
    # utf-8-sig: since Python 3.13 site.py strips a BOM, so "\ufeffimport" executes too.
    _TEXT_HANDLERS[role](report, name, data[:MAX_TEXT_BYTES].decode("utf-8-sig", "replace"))


def _text_role(kind: Kind, name: str) -> str | None:
    """Which parser a member needs, if any."""
    if kind == "wheel":
        if name.endswith(".pth") and _installs_to_site_packages(name):
            return "pth"
        parts = name.split("/")
        is_dist_info = len(parts) == 2 and parts[0].endswith(".dist-info")
        return "entry_points" if is_dist_info and parts[1] == "entry_points.txt" else None
    if name.endswith(".pth"):
        return "pth"
    return name if name in ("setup.py", "pyproject.toml") else None


def _installs_to_site_packages(name: str) -> bool:
    """Whether a wheel member lands directly in site-packages (PEP 427 install scheme)."""
    parts = name.split("/")
    if len(parts) == 1:
        return True
    in_data = parts[0].endswith(".data")
    if in_data and len(parts) == 3 and parts[1] in ("purelib", "platlib"):
        return True
    # The "data" scheme installs relative to sys.prefix, which contains site-packages.
    return in_data and parts[1] == "data" and parts[-2] in ("site-packages", "dist-packages")


def _record_pth(report: ContentReport, name: str, text: str) -> None:
    lines = _executable_pth_lines(text)
    kept = [line[:_MAX_LINE_CHARS] for line in lines[:_MAX_LINES_KEPT]]
    report.pth_files.append(PthFile(name, kept))


def _executable_pth_lines(text: str) -> list[str]:
    """The lines site.py's ``addpackage`` would ``exec``: exactly its test, no stripping.

    ``splitlines`` splits at more characters than site.py's universal newlines, so it can
    only find more executable lines, never fewer.
    """
    return [line for line in text.splitlines() if line.startswith(("import ", "import\t"))]


def _record_entry_points(report: ContentReport, name: str, text: str) -> None:
    """The script groups of an ``entry_points.txt`` (the INI-like format importlib reads)."""
    group = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
            continue
        script, sep, target = line.partition("=")
        if sep and group in _SCRIPT_GROUPS:
            report.entry_points.setdefault(group, {})[script.strip()] = target.strip()


def _record_setup_py(report: ContentReport, name: str, text: str) -> None:
    # setuptools executes setup.py to build; `cmdclass` replaces its build/install commands.
    report.sdist_hooks.append("setup.py")
    if _CMDCLASS.search(text):
        report.sdist_hooks.append("setup.py-cmdclass")


def _record_pyproject(report: ContentReport, name: str, text: str) -> None:
    try:
        pyproject = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        report.errors.append(f"{name}: {error}")
        return
    # PEP 517: `backend-path` puts the sdist's own directories first on the backend's path,
    # so the build backend is code shipped in this very sdist.
    build_system = pyproject.get("build-system")
    if isinstance(build_system, dict) and build_system.get("backend-path"):
        report.sdist_hooks.append("in-tree-backend")
    project = pyproject.get("project")
    for table, group in _PYPROJECT_SCRIPT_TABLES.items():
        scripts = project.get(table) if isinstance(project, dict) else None
        if isinstance(scripts, dict):
            entries = {str(script): str(target) for script, target in scripts.items()}
            report.entry_points.setdefault(group, {}).update(entries)


_TEXT_HANDLERS: dict[str, Callable[[ContentReport, str, str], None]] = {
    "pth": _record_pth,
    "entry_points": _record_entry_points,
    "setup.py": _record_setup_py,
    "pyproject.toml": _record_pyproject,
}


def compare(previous: ContentReport | None, current: ContentReport) -> list[Flag]:
    """Hold reasons for ``current`` against the previous admitted release's report.

    ``previous`` should be the same kind of file (wheel against wheel). An incomplete
    inspection always flags. An executable ``.pth`` flags unless ``previous`` shipped the same
    file with the same executable lines: a project that has always installed one (setuptools'
    ``distutils-precedence.pth``) is not held at every release, but a new one or a changed one
    is. Entry points, native binaries and sdist hooks flag only when new relative to
    ``previous``; with no previous release there is no baseline and they do not flag (the
    quarantine delay still applies).
    """
    known_pth = [(pth.name, pth.executable_lines) for pth in previous.pth_files] if previous else []
    flags = [
        _pth_flag(pth)
        for pth in current.pth_files
        if pth.executable_lines and (pth.name, pth.executable_lines) not in known_pth
    ]
    if current.errors:
        flags.append(Flag("inspection-error", "; ".join(current.errors)))
    if previous is None:
        return flags
    return flags + _entry_point_flags(previous, current) + _new_item_flags(previous, current)


def _pth_flag(pth: PthFile) -> Flag:
    return Flag(
        "executable-pth",
        f"{pth.name} runs code at every Python start: {pth.executable_lines[0]}",
    )


def _entry_point_flags(previous: ContentReport, current: ContentReport) -> list[Flag]:
    flags = []
    for group, entries in sorted(current.entry_points.items()):
        before = previous.entry_points.get(group, {})
        for name, target in sorted(entries.items()):
            if name not in before:
                flags.append(Flag("new-entry-point", f"new {group} {name} = {target}"))
            elif before[name] != target:
                text = f"{group} {name} now runs {target} (was {before[name]})"
                flags.append(Flag("new-entry-point", text))
    return flags


def _new_item_flags(previous: ContentReport, current: ContentReport) -> list[Flag]:
    known = {_stable_name(name) for name in previous.native_binaries}
    flags = [
        Flag("new-native-binary", f"new native binary {name}")
        for name in current.native_binaries
        if _stable_name(name) not in known
    ]
    flags += [
        Flag("sdist-install-hook", f"new build-time hook: {hook}")
        for hook in current.sdist_hooks
        if hook not in previous.sdist_hooks
    ]
    return flags


def _stable_name(name: str) -> str:
    """A wheel path without the versioned ``{name}-{version}.data`` directory name."""
    first, sep, rest = name.partition("/")
    return f"*.data/{rest}" if sep and first.endswith(".data") else name
