"""Content inspection of wheels and sdists (docs/admission.md, "Content inspection").

What is looked for, and why:

* Member paths read the way installers read them (``_wheel_member``): ``.``, ``..``,
  repeated slashes, backslashes (a separator on Windows, a plain character on POSIX: both
  readings count) and the ``<name>.data/<scheme>/`` directories. A member that would be
  written outside its directory is a hold reason of its own.
* ``.pth`` files that execute code. ``site.py`` runs every line of a ``.pth`` file in
  site-packages' top level that starts with ``import `` or ``import\\t``, at every interpreter
  start (the 2026 LiteLLM compromise shipped such a file). In a wheel only the files that
  land there count: from the wheel root, ``*.data/purelib|platlib/``,
  ``*.data/data/**/site-packages/`` and ``*.data/data/`` itself (the environment's prefix,
  a site directory on Windows). In an sdist every ``.pth`` is read.
* Startup hooks: a ``sitecustomize`` or ``usercustomize`` module landing in site-packages'
  top level, which ``site.py`` imports at every interpreter start.
* Console and GUI entry points (the commands an install puts on ``PATH``).
* Native binaries: by suffix (``.so``, ``.pyd``, ``.dylib``, ``.dll``) or, for any other
  member, by ELF / Mach-O / PE magic in its first bytes.
* Sdist build hooks, i.e. code that runs when the sdist is built: a ``setup.py``, one that
  overrides setuptools commands (``cmdclass``), and an in-tree build backend
  (``[build-system] backend-path`` in ``pyproject.toml``).

For the review page's diff against the previous release (docs/review.md) the report also
keeps every member's size and CRC-32 (compressed, ``member_table`` reads it), the facts of
METADATA (PKG-INFO in an sdist) a reviewer compares, and the text of ``.pth`` files and
startup hooks, shortened.

Archives are read member by member and each read is capped, so a huge or hostile archive
costs bounded memory: wheels and ``.zip`` sdists through the zip central directory (the
source must be seekable), ``.tar.*`` sdists in tar stream mode. A corrupt archive gives a
report with ``errors``, never an exception.

Not done here: entry points declared in ``setup.py``/``setup.cfg`` (only running the build
would tell), and any judgement beyond the flags of ``compare``.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import functools
import hashlib
import lzma
import os
import re
import tarfile
import tomllib
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any, BinaryIO, Literal

__all__ = [
    "MAX_MEMBERS",
    "MAX_TEXT_BYTES",
    "REPORT_VERSION",
    "ContentReport",
    "Flag",
    "NoCoreMetadataError",
    "PthFile",
    "StartupHook",
    "compare",
    "core_metadata",
    "inspect_distribution",
    "member_table",
    "printable",
    "report_is_current",
    "stable_member_name",
]

# Text members we parse (.pth, entry_points.txt, setup.py, pyproject.toml) are read up to
# this size; real ones are a few KiB.
MAX_TEXT_BYTES = 1024 * 1024
# Large real wheels hold a few tens of thousands of files.
MAX_MEMBERS = 200_000
# Evidence is stored and shown; keep what one .pth contributes small. Sameness is judged
# on the digest of the whole member, never on this excerpt.
_MAX_LINES_KEPT = 10
_MAX_LINE_CHARS = 300
_CHUNK = 64 * 1024
# The text of a .pth file or a startup hook shown on the review page; the digest covers all.
_MAX_TEXT_KEPT = 4000
# METADATA entries kept per field, and characters per entry.
_MAX_METADATA_ENTRIES = 200
# 2: paths normalised as installers read them, digests, startup hooks, path escapes.
# 3: names read as Windows does without a backslash too; the data scheme's own top level;
#    a .data directory in any case.
# 4: members with sizes and CRC-32, METADATA facts, .pth and startup hook text.
REPORT_VERSION = 4

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
_MemberRow = tuple[str, int, int | None]  # name, size, CRC-32 (None: not known without reading)


@dataclass
class PthFile:
    """A ``.pth`` file: the member, where it lands, its digest and an excerpt for display.

    ``sha256`` covers the whole member, so any change is seen, including a changed path line
    (it changes what ``sys.path`` holds, hence what gets imported); ``executable_lines`` are
    the first few lines ``site.py`` would execute, shortened, and only say that it runs code.
    """

    name: str
    executable_lines: list[str]
    installed_as: list[str]
    sha256: str | None  # None in reports stored before digests: vouches for nothing
    text: str = ""  # the member's text, shortened to _MAX_TEXT_KEPT


@dataclass
class StartupHook:
    """A ``sitecustomize``/``usercustomize`` module file landing in site-packages' top level."""

    name: str
    installed_as: list[str]
    sha256: str | None
    text: str = ""


@dataclass
class ContentReport:
    """What one distribution file contains that can run code; stored as evidence.

    ``version`` says which rules made it: a report made by older rules is made again
    (``report_is_current``) rather than trusted as a baseline or as a verdict.
    """

    filename: str
    kind: Kind
    pth_files: list[PthFile] = field(default_factory=list)
    startup_hooks: list[StartupHook] = field(default_factory=list)
    path_escapes: list[str] = field(default_factory=list)
    entry_points: dict[str, dict[str, str]] = field(default_factory=dict)
    native_binaries: list[str] = field(default_factory=list)
    sdist_hooks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # "name\tsize\tcrc32" lines, zlib-compressed and base64-encoded: a large wheel lists
    # thousands of members, and the report is stored with every file.
    members: str = ""
    # requires_dist, requires_python, maintainers, project_urls (see _record_metadata).
    metadata: dict[str, Any] = field(default_factory=dict)
    version: int = REPORT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ContentReport:
        """A stored report; one from before digests reads with ``sha256`` None."""
        return cls(
            filename=data["filename"],
            kind=data["kind"],
            pth_files=[
                PthFile(
                    pth["name"],
                    list(pth["executable_lines"]),
                    list(pth.get("installed_as", [pth["name"]])),
                    pth.get("sha256"),
                    pth.get("text", ""),
                )
                for pth in data["pth_files"]
            ],
            startup_hooks=[
                StartupHook(
                    hook["name"], list(hook["installed_as"]), hook["sha256"], hook.get("text", "")
                )
                for hook in data.get("startup_hooks", [])
            ],
            path_escapes=list(data.get("path_escapes", [])),
            entry_points={g: dict(e) for g, e in data["entry_points"].items()},
            native_binaries=list(data["native_binaries"]),
            sdist_hooks=list(data["sdist_hooks"]),
            errors=list(data["errors"]),
            members=data.get("members", ""),
            metadata=dict(data.get("metadata", {})),
            version=data.get("version", 1),
        )


def member_table(report: ContentReport) -> dict[str, tuple[int, int | None]]:
    """The report's members: name to (size, CRC-32; None where it was not read)."""
    if not report.members:
        return {}
    table: dict[str, tuple[int, int | None]] = {}
    text = zlib.decompress(base64.b64decode(report.members)).decode("utf-8", "replace")
    for line in text.splitlines():
        name, size, crc = line.rsplit("\t", 2)
        table[name] = (int(size), int(crc) if crc else None)
    return table


def _packed_members(rows: Sequence[tuple[str, int, int | None]]) -> str:
    text = "".join(f"{name}\t{size}\t{'' if crc is None else crc}\n" for name, size, crc in rows)
    return base64.b64encode(zlib.compress(text.encode("utf-8", "replace"), 9)).decode("ascii")


def report_is_current(data: Mapping[str, Any] | None) -> bool:
    """Whether a stored report was made by the rules of this version of the inspector."""
    return data is not None and data.get("version") == REPORT_VERSION


@dataclass(frozen=True)
class Flag:
    """A reason to hold a file for review.

    ``code`` is one of "executable-pth", "startup-hook", "path-escape", "new-entry-point",
    "new-native-binary", "sdist-install-hook", "inspection-error".
    """

    code: str
    text: str

    def __post_init__(self) -> None:
        # Member names and .pth lines come from the archive and end up in hold reasons that
        # `mirror review` prints on a terminal: escape what would act on it (ESC, CR, bidi
        # overrides), so a reason stays one line that shows what the archive holds.
        object.__setattr__(self, "text", printable(self.text))

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def printable(text: str, keep: str = "") -> str:
    """``text`` with what would act on a terminal (ESC, CR, bidi overrides) escaped as
    ``\\x1b``..., except the characters in ``keep`` (a newline, for text shown in lines)."""
    return "".join(
        char if char.isprintable() or char in keep else char.encode("unicode_escape").decode()
        for char in text
    )


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
    report.startup_hooks.sort(key=lambda hook: hook.name)
    report.path_escapes.sort()
    report.native_binaries.sort()
    report.sdist_hooks = sorted(set(report.sdist_hooks))
    return report


# A real METADATA or PKG-INFO is a few KiB to a few hundred (long descriptions).
MAX_CORE_METADATA_BYTES = 16 << 20


class NoCoreMetadataError(Exception):
    """The archive holds no single readable core metadata file; the message says why."""


def core_metadata(filename: str, source: BinaryIO) -> bytes:
    """The core metadata of a wheel (its one top-level ``*.dist-info/METADATA``) or an sdist
    (its one ``<root>/PKG-INFO``), read member by member as ``inspect_distribution`` reads.

    Raises:
        NoCoreMetadataError: none, several, a huge one, or an archive that cannot be read.
    """
    wanted = ".dist-info/METADATA" if filename.endswith(".whl") else "/PKG-INFO"
    found: list[bytes] = []
    try:
        for count, (name, _, _, opener) in enumerate(_members(filename, source)):
            if count == MAX_MEMBERS:
                raise NoCoreMetadataError(f"more than {MAX_MEMBERS} members")
            if name.count("/") == 1 and name.endswith(wanted):
                with opener() as stream:
                    found.append(stream.read(MAX_CORE_METADATA_BYTES + 1))
    except _ARCHIVE_ERRORS as error:
        raise NoCoreMetadataError(f"corrupt archive: {type(error).__name__}: {error}") from None
    if len(found) != 1:
        raise NoCoreMetadataError(f"{len(found)} top-level *{wanted} files (one expected)")
    if len(found[0]) > MAX_CORE_METADATA_BYTES:
        raise NoCoreMetadataError(f"*{wanted} is larger than {MAX_CORE_METADATA_BYTES} bytes")
    return found[0]


def _members(filename: str, stream: IO[bytes]) -> Iterator[tuple[str, int, int | None, _Opener]]:
    if filename.endswith((".whl", ".zip")):
        return _zip_members(stream)
    if ".tar" in filename or filename.endswith(".tgz"):
        return _tar_members(stream)
    raise NoCoreMetadataError(f"unknown distribution format: {filename}")


def _inspect_stream(report: ContentReport, stream: IO[bytes]) -> None:
    try:
        members = _members(report.filename, stream)
    except NoCoreMetadataError as error:
        report.errors.append(str(error))
        return
    listed: list[_MemberRow] = []
    try:
        for count, (member, size, crc, opener) in enumerate(members):
            if count == MAX_MEMBERS:
                report.errors.append(f"more than {MAX_MEMBERS} members; the rest not inspected")
                break
            listed.append(_inspect_member(report, member, size, crc, opener))
    except _ARCHIVE_ERRORS as error:
        report.errors.append(f"corrupt archive: {type(error).__name__}: {error}")
    report.members = _packed_members(sorted(listed))


def _zip_members(stream: IO[bytes]) -> Iterator[tuple[str, int, int | None, _Opener]]:
    # The central directory lists members with size and CRC; each is opened lazily.
    with zipfile.ZipFile(stream) as archive:
        for info in archive.infolist():
            if not info.is_dir():
                yield info.filename, info.file_size, info.CRC, functools.partial(archive.open, info)


def _tar_members(stream: IO[bytes]) -> Iterator[tuple[str, int, int | None, _Opener]]:
    # Stream mode ("r|*") never seeks back: a member is opened at most once, before the next.
    # Skipping a member reads its bytes anyway, so its CRC is computed while reading it.
    with tarfile.open(fileobj=stream, mode="r|*") as archive:
        for member in archive:
            if member.isfile():
                yield member.name, member.size, None, functools.partial(_extract, archive, member)


def _extract(archive: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    extracted = archive.extractfile(member)
    if extracted is None:  # only for non-files, which are skipped; keeps the type honest
        raise tarfile.TarError(f"cannot read {member.name}")
    return extracted


@dataclass(frozen=True)
class _Member:
    """One archive member, placed the way installers place it."""

    name: str  # as shown: the archive's name (wheel), the path in the release root (sdist)
    escapes: bool  # some reading writes it outside its directory
    pth_as: tuple[str, ...] = ()  # the .pth files site.py would read that it becomes
    hooks_as: tuple[str, ...] = ()  # the startup hook module files it becomes
    role: str | None = None  # the parser its text needs, if any


def _inspect_member(
    report: ContentReport, name: str, size: int, crc: int | None, opener: _Opener
) -> _MemberRow:
    """Read the member once (tar streams cannot go back): its head, or all of a text we parse.

    A member that lands as a ``.pth`` or a startup hook is read to its end for its digest,
    and a tar member for its CRC, in chunks, so a huge one costs time, not memory.
    """
    if report.kind == "wheel":
        member = _wheel_member(name, _data_dir(report.filename))
    else:
        member = _sdist_member(name)
    if member.escapes:
        report.path_escapes.append(member.name)
    wants_text = bool(member.pth_as or member.hooks_as) or member.role is not None
    with opener() as stream:
        data = stream.read((MAX_TEXT_BYTES if wants_text else _MAGIC_BYTES) + 1)
        sha256, read_crc = _rest_digests(data, stream, member.pth_as or member.hooks_as, crc)
    # utf-8-sig: since Python 3.13 site.py strips a BOM, so "\ufeffimport" executes too.
    text = data[:MAX_TEXT_BYTES].decode("utf-8-sig", "replace") if wants_text else ""
    if _NATIVE_SUFFIX.search(member.name) or data.startswith(_NATIVE_MAGICS):
        report.native_binaries.append(member.name)
    if member.hooks_as:
        hook = StartupHook(member.name, list(member.hooks_as), sha256, text[:_MAX_TEXT_KEPT])
        report.startup_hooks.append(hook)
    if (member.pth_as or member.role is not None) and len(data) > MAX_TEXT_BYTES:
        report.errors.append(f"{member.name} is larger than {MAX_TEXT_BYTES} bytes; read in part")
    if member.pth_as:
        excerpt = [line[:_MAX_LINE_CHARS] for line in _executable_pth_lines(text)[:_MAX_LINES_KEPT]]
        report.pth_files.append(
            PthFile(member.name, excerpt, list(member.pth_as), sha256, text[:_MAX_TEXT_KEPT])
        )
    if member.role is not None:
        _TEXT_HANDLERS[member.role](report, member.name, text)
    return printable(member.name), size, read_crc


def _rest_digests(
    head: bytes, stream: IO[bytes], wants_sha256: object, crc: int | None
) -> tuple[str | None, int | None]:
    """The member's sha256 (when wanted) and CRC-32 (when the archive did not give it),
    reading what follows ``head``; neither wanted: nothing more is read."""
    if not wants_sha256 and crc is not None:
        return None, crc
    digest = hashlib.sha256(head) if wants_sha256 else None
    running = zlib.crc32(head) if crc is None else None
    while chunk := stream.read(_CHUNK):
        if digest is not None:
            digest.update(chunk)
        if running is not None:
            running = zlib.crc32(chunk, running)
    return (digest.hexdigest() if digest else None), (crc if running is None else running)


# -- where a member lands ---------------------------------------------------------------------
#
# An installer joins a member's path to a directory and normalises it: "" and "." parts go,
# ".." climbs. pip (operations/install/wheel.py) resolves ".." over the whole path, then takes
# the scheme from its second part; the reference installer takes the scheme first and
# resolves inside it. A backslash separates on Windows and is an ordinary character on POSIX,
# where "demo\..\x.pth" is a top-level file of that name, so a path with one is read both
# ways. Every reading counts: a member flags if any installer would put it where it flags.

_Path = tuple[str, ...]
_Landing = tuple[str, _Path]  # scheme ("root" for the wheel root), path inside it
_WHEEL_SCHEMES = frozenset({"purelib", "platlib", "headers", "scripts", "data"})
_SITE_PACKAGES_SCHEMES = frozenset({"root", "purelib", "platlib"})
# Compared case-insensitively: on Windows and macOS "Site-Packages" is the same directory.
_SITE_PACKAGES_DIRS = frozenset({"site-packages", "dist-packages"})
_STARTUP_HOOKS = frozenset({"sitecustomize", "usercustomize"})
_DRIVE = re.compile(r"[A-Za-z]:")
_WINDOWS_READS_OTHERWISE = re.compile(r"[\\:]|[. ](?:/|$)")
_SDIST_ROLES = ("setup.py", "pyproject.toml", "PKG-INFO")
_DIST_INFO_ROLES = {"entry_points.txt": "entry_points", "METADATA": "PKG-INFO"}


def _wheel_member(name: str, data_dir: str) -> _Member:
    landings, escapes = _wheel_landings(name, data_dir)
    in_site_packages = {
        path for scheme, inner in landings for path in _site_packages_paths(scheme, inner)
    }
    hooks = sorted("/".join(path) for path in in_site_packages if _is_startup_hook(path))
    dist_info_files = {
        inner[1]
        for scheme, inner in landings
        if scheme == "root" and len(inner) == 2 and inner[0].endswith(".dist-info")
    }
    roles = [role for file, role in _DIST_INFO_ROLES.items() if file in dist_info_files]
    return _Member(
        name,
        escapes,
        pth_as=tuple(sorted(path[0] for path in in_site_packages if _is_pth(path))),
        hooks_as=tuple(hooks),
        role=roles[0] if roles else None,
    )


def _wheel_landings(name: str, data_dir: str) -> tuple[set[_Landing], bool]:
    """Where pip and the reference installer put a member, and whether one of them would
    write it outside its directory."""
    kept = [part for part in name.split("/") if part not in ("", ".")]
    # The reference installer knows only the wheel's own .data directory, and skips "" and
    # "." parts to find it; pip takes any "*.data" first part, as given; uv the directory
    # named after the .dist-info one, which a case-insensitive file system finds in any case.
    by_installer = len(kept) > 1 and kept[0] == data_dir
    by_pip = name.split("/", 1)[0].casefold().endswith(".data")
    landings: set[_Landing] = set()
    escapes = False
    for windows in _readings(name):
        found = _installer_data(kept, windows) if by_installer else [_root(name, windows)]
        found += _pip_data(name, windows) if by_pip else [_root(name, windows)]
        landings.update(landing for landing in found if landing is not None)
        escapes = escapes or None in found
    return landings, escapes


def _data_dir(filename: str) -> str:
    """The wheel's own ``{distribution}-{version}.data`` directory (the filename's first two
    fields, PEP 427)."""
    return "-".join(filename.split("-")[:2]) + ".data"


def _root(name: str, windows: bool) -> _Landing | None:
    inner = _resolve(_parts(name, windows))
    return None if inner is None else ("root", inner)


def _installer_data(kept: list[str], windows: bool) -> list[_Landing | None]:
    """The reference installer: the scheme from the "/"-separated parts, then the rest joined
    to the scheme's directory (on Windows a rest that starts at a root or a drive leaves).
    Nothing for a scheme it does not know: it refuses the wheel."""
    scheme = kept[1]
    if scheme == "..":
        return [None]
    if scheme not in _WHEEL_SCHEMES:
        return []
    inner = _resolve(_parts("/".join(kept[2:]), windows))
    return [None if inner is None else (scheme, inner)]


def _pip_data(name: str, windows: bool) -> list[_Landing | None]:
    """pip: the whole path normalised, then split into .data directory, scheme and the rest,
    which is joined to the scheme's directory (from a drive, on Windows, it leaves)."""
    whole = _resolve(_parts(name, windows))
    if whole is None or (windows and len(whole) > 2 and _DRIVE.match(whole[2])):
        return [None]
    if len(whole) > 2 and whole[1] in _WHEEL_SCHEMES:
        return [(whole[1], whole[2:])]
    return []


def _site_packages_paths(scheme: str, inner: _Path) -> list[_Path]:
    """The member's path relative to site-packages, for each way it can be there."""
    if scheme in _SITE_PACKAGES_SCHEMES:
        return [inner]
    if scheme != "data":
        return []
    # The data scheme is the environment's prefix, which holds site-packages some levels down
    # and, on Windows, is a site directory itself (``site.getsitepackages``).
    return [inner] + [
        inner[index + 1 :]
        for index, part in enumerate(inner[:-1])
        if part.casefold() in _SITE_PACKAGES_DIRS
    ]


def _is_pth(path: _Path) -> bool:
    return len(path) == 1 and path[0].endswith(".pth")


def _is_startup_hook(path: _Path) -> bool:
    """A module file site.py imports: ``sitecustomize.py`` (or ``.pyc``, an extension
    module: any suffix counts) or a file of a ``sitecustomize/`` package."""
    module, dot, _ = path[0].partition(".")
    return module in _STARTUP_HOOKS and (len(path) > 1 or bool(dot))


def _sdist_member(name: str) -> _Member:
    """An sdist member, by its path inside the ``{name}-{version}/`` root so releases compare."""
    paths: list[_Path] = []
    escapes = False
    for windows in _readings(name):
        whole = _resolve(_parts(name, windows))
        if whole is None:
            escapes = True
        else:
            paths.append(whole[1:] if len(whole) > 1 else whole)
    roles = [path[0] for path in paths if len(path) == 1 and path[0] in _SDIST_ROLES]
    return _Member(
        "/".join(paths[0]) if paths else name,
        escapes,
        pth_as=tuple(sorted({"/".join(path) for path in paths if path[-1].endswith(".pth")})),
        role=roles[0] if roles else None,
    )


def _readings(name: str) -> tuple[bool, ...]:
    """How to read the path: as POSIX does and, where Windows reads it otherwise, as Windows
    does (a backslash, a drive or stream colon, a name ending in a dot or a space)."""
    return (False, True) if _WINDOWS_READS_OTHERWISE.search(name) else (False,)


def _parts(path: str, windows: bool) -> list[str] | None:
    """The path's parts without "" and "." ones; None for an absolute path (from a root or,
    on Windows, a drive), which is always outside."""
    if windows:
        path = path.replace("\\", "/")
    parts = path.split("/")
    if path.startswith("/") or (windows and _DRIVE.match(parts[0])):
        return None
    if windows:
        parts = [_win32_name(part) for part in parts]
    return [part for part in parts if part not in ("", ".")]


def _win32_name(part: str) -> str:
    """The file Windows opens for a name: what precedes a colon (the rest names a stream of
    that file: "x.pth::$DATA" is x.pth's own contents), without trailing dots and spaces
    ("x.pth." is "x.pth")."""
    return part if part in (".", "..") else part.split(":", 1)[0].rstrip(". ")


def _resolve(parts: list[str] | None) -> _Path | None:
    """The parts with ".." applied; None when they climb out of their directory, or name
    the directory itself."""
    if parts is None:
        return None
    resolved: list[str] = []
    for part in parts:
        if part != "..":
            resolved.append(part)
        elif not resolved:
            return None
        else:
            resolved.pop()
    return tuple(resolved) or None


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


def _record_metadata(report: ContentReport, name: str, text: str) -> None:
    """The core metadata fields a reviewer compares between releases (a wheel's METADATA,
    an sdist's PKG-INFO: the same format), shortened; maintainers from the four author and
    maintainer fields, in that order."""
    message = email.parser.Parser(policy=email.policy.compat32).parsestr(text, headersonly=True)

    def values(*fields: str) -> list[str]:
        found = [str(value) for field in fields for value in message.get_all(field) or []]
        kept = dict.fromkeys(value.strip()[:_MAX_LINE_CHARS] for value in found if value.strip())
        return list(kept)[:_MAX_METADATA_ENTRIES]

    report.metadata = {
        "requires_dist": values("Requires-Dist"),
        "requires_python": next(iter(values("Requires-Python")), None),
        "maintainers": values("Author", "Author-email", "Maintainer", "Maintainer-email"),
        "project_urls": values("Home-page", "Project-URL"),
    }


_TEXT_HANDLERS: dict[str, Callable[[ContentReport, str, str], None]] = {
    "entry_points": _record_entry_points,
    "setup.py": _record_setup_py,
    "pyproject.toml": _record_pyproject,
    "PKG-INFO": _record_metadata,
}


def compare(previous: ContentReport | None, current: ContentReport) -> list[Flag]:
    """Hold reasons for ``current`` against the previous admitted release's report.

    ``previous`` should be the same kind of file (wheel against wheel). An incomplete
    inspection and a member written outside its directory always flag. An executable
    ``.pth`` or a startup hook flags unless ``previous`` shipped the same bytes (by digest of
    the whole member) to the same place: a project that has always installed one
    (setuptools' ``distutils-precedence.pth``) is not held at every release, but a new or
    changed one is. Entry points, native binaries and sdist hooks flag only when new
    relative to ``previous``; with no previous release there is no baseline and they do not
    flag (the quarantine delay still applies).
    """
    flags = [
        Flag("path-escape", f"{name} would be written outside the directory it installs to")
        for name in current.path_escapes
    ]
    flags += [
        _pth_flag(pth)
        for pth in current.pth_files
        if pth.executable_lines and not _shipped_before(pth, previous.pth_files if previous else [])
    ]
    flags += [
        Flag("startup-hook", f"{_placed(hook)} is imported at every Python start")
        for hook in current.startup_hooks
        if not _shipped_before(hook, previous.startup_hooks if previous else [])
    ]
    if current.errors:
        flags.append(Flag("inspection-error", "; ".join(current.errors)))
    if previous is None:
        return flags
    return flags + _entry_point_flags(previous, current) + _new_item_flags(previous, current)


def _shipped_before(item: PthFile | StartupHook, earlier: Sequence[PthFile | StartupHook]) -> bool:
    """Whether the previous release put the same bytes in the same place; a stored entry
    without a digest cannot say, so it never vouches."""
    return item.sha256 is not None and any(
        old.sha256 == item.sha256 and old.installed_as == item.installed_as for old in earlier
    )


def _pth_flag(pth: PthFile) -> Flag:
    return Flag(
        "executable-pth",
        f"{_placed(pth)} runs code at every Python start: {pth.executable_lines[0]}",
    )


def _placed(item: PthFile | StartupHook) -> str:
    """The member's name, and where it lands when that is not what its name says."""
    if item.installed_as == [item.name]:
        return item.name
    return f"{item.name} (installed as {' or '.join(item.installed_as)})"


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
    known = {stable_member_name(name) for name in previous.native_binaries}
    flags = [
        Flag("new-native-binary", f"new native binary {name}")
        for name in current.native_binaries
        if stable_member_name(name) not in known
    ]
    flags += [
        Flag("sdist-install-hook", f"new build-time hook: {hook}")
        for hook in current.sdist_hooks
        if hook not in previous.sdist_hooks
    ]
    return flags


def stable_member_name(name: str) -> str:
    """A wheel path without the versioned ``{name}-{version}.data`` or ``.dist-info``
    directory name, so the same member of two releases has one name."""
    first, sep, rest = name.partition("/")
    for suffix in (".data", ".dist-info"):
        if sep and first.endswith(suffix):
            return f"*{suffix}/{rest}"
    return name
