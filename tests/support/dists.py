"""Builders of real, installable distributions for tests.

Wheels and sdists are written directly with :mod:`zipfile`/:mod:`tarfile`, so no build
backend is needed and a build takes milliseconds. Output is deterministic (fixed timestamps,
sorted entries): the same arguments give the same bytes, hence the same sha256.

Not done here: sdists are for inspection and serving only. Their ``pyproject.toml`` names
setuptools, which is not guaranteed offline, so tests should not ask pip to build them.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import itertools
import re
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Zip cannot store dates before 1980; a fixed date keeps builds reproducible.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Bytes that look like an ELF shared object to a content inspector.
_NATIVE_STUB = b"\x7fELF\x02\x01\x01" + b"\x00" * 57


def normalize(name: str) -> str:
    """The PEP 503 normalized form of a project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_name(name: str) -> str:
    """The name as it appears in wheel and sdist filenames (PEP 427/625 escaping)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def wheel_filename(name: str, version: str, tag: str = "py3-none-any") -> str:
    return f"{dist_name(name)}-{version}-{tag}.whl"


def sdist_filename(name: str, version: str) -> str:
    return f"{dist_name(name)}-{version}.tar.gz"


def metadata_text(
    name: str,
    version: str,
    *,
    requires: Iterable[str] = (),
    requires_python: str | None = None,
) -> str:
    """Core metadata 2.1 (the METADATA of a wheel, the PKG-INFO of an sdist)."""
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        "Summary: signed-mirror test distribution",
    ]
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {req}" for req in requires]
    return "\n".join(lines) + "\n"


def _package_init(version: str) -> bytes:
    # `main` gives console_scripts entry points something real to call.
    return (
        f'__version__ = "{version}"\n\n\ndef main() -> None:\n    print(__version__)\n'
    ).encode()


def _expand_tags(tag: str) -> list[str]:
    """``py2.py3-none-any`` -> one WHEEL ``Tag:`` per combination (PEP 425 compressed sets)."""
    interpreters, abis, platforms = (part.split(".") for part in tag.split("-"))
    return ["-".join(combo) for combo in itertools.product(interpreters, abis, platforms)]


def _wheel_file(tag: str, *, purelib: bool) -> str:
    lines = [
        "Wheel-Version: 1.0",
        "Generator: signed-mirror-tests",
        f"Root-Is-Purelib: {'true' if purelib else 'false'}",
    ]
    lines += [f"Tag: {t}" for t in _expand_tags(tag)]
    return "\n".join(lines) + "\n"


def _entry_points_file(entry_points: Mapping[str, Mapping[str, str]]) -> str:
    sections = []
    for group, entries in entry_points.items():
        body = "".join(f"{key} = {target}\n" for key, target in entries.items())
        sections.append(f"[{group}]\n{body}")
    return "\n".join(sections)


def _record_line(path: str, data: bytes) -> str:
    # PEP 376/427: urlsafe base64 of the sha256, without padding.
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def _write_zip(path: Path, members: Mapping[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)


def build_wheel(
    dest_dir: Path,
    name: str,
    version: str,
    *,
    requires: Iterable[str] = (),
    requires_python: str | None = None,
    files: Mapping[str, bytes] | None = None,
    entry_points: Mapping[str, Mapping[str, str]] | None = None,
    pth: Mapping[str, str] | None = None,
    native: bool = False,
    tag: str = "py3-none-any",
) -> Path:
    """Write a valid wheel into ``dest_dir`` and return its path.

    Args:
        files: extra members, by path relative to the wheel root (site-packages).
        entry_points: ``{"console_scripts": {"cmd": "pkg:main"}}``; the package has ``main``.
        pth: ``.pth`` files at the wheel root, by filename; a line starting with ``import``
            runs at every interpreter start (the attack this mirror exists to stop).
        native: add a stub shared object and mark the wheel platlib. Pass a matching
            ``tag`` if the wheel must also install.
    """
    package = dist_name(name)
    dist_info = f"{package}-{version}.dist-info"
    members: dict[str, bytes] = {f"{package}/__init__.py": _package_init(version)}
    if native:
        members[f"{package}/_native.cpython-311-x86_64-linux-gnu.so"] = _NATIVE_STUB
    members.update(files or {})
    members.update({fname: text.encode() for fname, text in (pth or {}).items()})
    members[f"{dist_info}/METADATA"] = metadata_text(
        name, version, requires=requires, requires_python=requires_python
    ).encode()
    members[f"{dist_info}/WHEEL"] = _wheel_file(tag, purelib=not native).encode()
    if entry_points:
        members[f"{dist_info}/entry_points.txt"] = _entry_points_file(entry_points).encode()
    record_path = f"{dist_info}/RECORD"
    record = [_record_line(path, data) for path, data in members.items()]
    members[record_path] = ("\n".join([*record, f"{record_path},,"]) + "\n").encode()

    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / wheel_filename(name, version, tag)
    _write_zip(path, members)
    return path


def metadata_bytes(wheel_path: Path) -> bytes:
    """The wheel's ``.dist-info/METADATA``: what PEP 658 serves as ``<file>.metadata``."""
    with zipfile.ZipFile(wheel_path) as zf:
        (member,) = (
            n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        )
        return zf.read(member)


def _pyproject(
    name: str, version: str, requires: Iterable[str], requires_python: str | None
) -> str:
    deps = ", ".join(f'"{req}"' for req in requires)
    lines = [
        "[build-system]",
        'requires = ["setuptools>=61"]',
        'build-backend = "setuptools.build_meta"',
        "",
        "[project]",
        f'name = "{name}"',
        f'version = "{version}"',
        f"dependencies = [{deps}]",
    ]
    if requires_python is not None:
        lines.append(f'requires-python = "{requires_python}"')
    return "\n".join(lines) + "\n"


def _write_tar_gz(path: Path, members: Mapping[str, bytes]) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tf.addfile(info, io.BytesIO(data))
    # gzip stores a timestamp and a filename in its header; pin both for reproducible bytes.
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buf.getvalue())


def build_sdist(
    dest_dir: Path,
    name: str,
    version: str,
    *,
    requires: Iterable[str] = (),
    requires_python: str | None = None,
    files: Mapping[str, bytes] | None = None,
    setup_py: str | None = None,
) -> Path:
    """Write a PEP 625 sdist (``.tar.gz`` with PKG-INFO and pyproject.toml); return its path.

    Args:
        files: extra members, by path relative to the sdist's top directory.
        setup_py: contents of a ``setup.py`` (for content-inspection tests).
    """
    requires = list(requires)
    top = f"{dist_name(name)}-{version}"
    members = {
        "PKG-INFO": metadata_text(
            name, version, requires=requires, requires_python=requires_python
        ).encode(),
        "pyproject.toml": _pyproject(name, version, requires, requires_python).encode(),
        f"{dist_name(name)}/__init__.py": _package_init(version),
        **(files or {}),
    }
    if setup_py is not None:
        members["setup.py"] = setup_py.encode()

    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / sdist_filename(name, version)
    _write_tar_gz(path, {f"{top}/{member}": data for member, data in members.items()})
    return path


def marker_pth_wheel(
    dest_dir: Path, name: str, version: str, marker_path: Path, *, member: str | None = None
) -> Path:
    """A wheel whose ``.pth`` writes ``marker_path`` at every interpreter start.

    The stand-in for a credential stealer: if the marker appears, the payload ran.
    ``member`` is the ``.pth``'s path in the wheel (default ``{name}_hook.pth``).
    """
    line = f"import pathlib; pathlib.Path({str(marker_path)!r}).write_text('ran')\n"
    return build_wheel(dest_dir, name, version, pth={member or f"{dist_name(name)}_hook.pth": line})


@dataclass(frozen=True)
class DistBuilder:
    """The builders above, bound to one output directory (the ``dist_builder`` fixture)."""

    dir: Path

    def wheel(self, name: str, version: str, **kw: Any) -> Path:
        return build_wheel(self.dir, name, version, **kw)

    def sdist(self, name: str, version: str, **kw: Any) -> Path:
        return build_sdist(self.dir, name, version, **kw)

    def marker_pth_wheel(self, name: str, version: str, marker_path: Path) -> Path:
        return marker_pth_wheel(self.dir, name, version, marker_path)
