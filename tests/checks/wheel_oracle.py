"""Where real installers put a wheel's files: the oracle for the content inspector's paths.

Each wheel is installed for real, by the PyPA reference installer (``installer``) and by
pip's own wheel installer, into a fresh directory laid out like a virtual environment
(``data`` is the prefix, ``purelib`` and ``platlib`` are its ``lib/python3.11/site-packages``),
and what lands in site-packages' top level is read back from disk. Windows is followed
with ``ntpath`` instead (``on_windows``).
"""

from __future__ import annotations

import ntpath
import signal
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Literal

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile
from pip._internal.exceptions import InstallationError
from pip._internal.models.scheme import Scheme
from pip._internal.operations.install.wheel import install_wheel

SITE_PACKAGES = Path("lib/python3.11/site-packages")
# installer loops for ever on a member under "./<name>-<version>.data/" (it splits the path
# until it meets the .data directory, which "." never is): such an install is abandoned.
_INSTALL_SECONDS = 5.0
_PIP_ESCAPE = "outside the target directory"
_INSTALLER_ESCAPES = ("outside of the target directory", "Can't mix absolute and relative")


@dataclass(frozen=True)
class Installed:
    """What one installer did with a wheel."""

    top_level: dict[str, bytes | None]  # site-packages' top level: file contents, None for dirs
    refused: str | None  # the installer's error, if it stopped
    escape: bool  # it stopped because a member would be written outside its directory
    timed_out: bool = False


def schemes(root: Path) -> dict[str, str]:
    site_packages = str(root / SITE_PACKAGES)
    return {
        "purelib": site_packages,
        "platlib": site_packages,
        "headers": str(root / "include" / "demo"),
        "scripts": str(root / "bin"),
        "data": str(root),
    }


def with_installer(wheel: Path, root: Path) -> Installed:
    destination = SchemeDictionaryDestination(schemes(root), sys.executable, "posix")
    try:
        with _deadline(), WheelFile.open(wheel) as source, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            install(source, destination, {})
    except TimeoutError:
        return Installed(_top_level(root), "timed out", escape=False, timed_out=True)
    except Exception as error:  # any refusal is an outcome to compare
        escape = any(text in str(error) for text in _INSTALLER_ESCAPES)
        return Installed(_top_level(root), repr(error), escape=escape)
    return Installed(_top_level(root), None, escape=False)


def with_pip(wheel: Path, root: Path) -> Installed:
    try:
        install_wheel("demo", str(wheel), Scheme(**schemes(root)), "demo", pycompile=False)
    except (InstallationError, OSError) as error:
        return Installed(_top_level(root), repr(error), escape=_PIP_ESCAPE in str(error))
    return Installed(_top_level(root), None, escape=False)


# Where an installer on Windows puts a member: its path relative to site-packages (``()``
# when it goes elsewhere), or why it does not install it.
WindowsLanding = tuple[str, ...] | Literal["outside", "refused"]


def on_windows(member: str) -> list[WindowsLanding]:
    """Where pip and the reference installer on Windows put ``member``. Neither can run
    here, so their code is followed with ``ntpath``, where both slashes separate."""
    return [_pip_on_windows(member), _installer_on_windows(member)]


def _pip_on_windows(member: str) -> WindowsLanding:
    # The scheme from the first "/"-separated part as given; then os.path.normpath of the
    # whole member, split into .data directory, scheme and the rest, joined to the scheme.
    normed = _inside(member)
    if isinstance(normed, str) or not member.split("/", 1)[0].endswith(".data"):
        return normed
    if len(normed) < 3 or normed[1] not in _SCHEMES:
        return "refused"
    if ntpath.splitdrive(normed[2])[0]:
        return "outside"
    return _in_site_packages(normed[1], normed[2:])


def _installer_on_windows(member: str) -> WindowsLanding:
    # The scheme by posixpath ("" and "." parts ignored) for its own .data directory only,
    # then the rest joined to the scheme's directory as a Windows path.
    parts = [part for part in member.split("/") if part not in ("", ".")]
    if len(parts) < 2 or parts[0] != "demo-1.0.data":
        return _inside(member)
    if parts[1] not in _SCHEMES:
        return "refused"
    inner = _inside("/".join(parts[2:]))
    return inner if isinstance(inner, str) else _in_site_packages(parts[1], inner)


def _inside(path: str) -> WindowsLanding:
    normed = ntpath.normpath(path)
    drive, rest = ntpath.splitdrive(normed)
    if drive or rest.startswith("\\") or normed == ".." or normed.startswith("..\\"):
        return "outside"
    if normed == ".":
        return "refused"  # the directory itself
    return tuple(_win32_file_name(part) for part in normed.split("\\"))


def _win32_file_name(segment: str) -> str:
    """The file a Windows path segment opens: the name before a ``:`` (the rest names a
    stream of that file, ``::$DATA`` its own contents), without trailing dots and spaces."""
    return segment.split(":", 1)[0].rstrip(". ") or segment


def _in_site_packages(scheme: str, inner: tuple[str, ...]) -> tuple[str, ...]:
    if scheme in ("purelib", "platlib"):
        return inner
    if scheme != "data":
        return ()
    # site.getsitepackages() on Windows: the prefix itself and its Lib\site-packages.
    for prefix in (tuple(SITE_PACKAGES.parts), _WINDOWS_SITE_PACKAGES):
        if tuple(part.casefold() for part in inner[: len(prefix)]) == prefix:
            return inner[len(prefix) :]
    return inner


_SCHEMES = ("purelib", "platlib", "headers", "scripts", "data")
_WINDOWS_SITE_PACKAGES = ("lib", "site-packages")


def _top_level(root: Path) -> dict[str, bytes | None]:
    site_packages = root / SITE_PACKAGES
    if not site_packages.is_dir():
        return {}
    return {
        entry.name: entry.read_bytes() if entry.is_file() else None
        for entry in site_packages.iterdir()
        if is_probe_entry(entry.name)
    }


def is_probe_entry(name: str) -> bool:
    """Whether a top-level entry came from the probed members, not from the wheel's own
    ``demo`` package or its metadata."""
    return name != "demo" and not name.endswith(".dist-info")


@contextmanager
def _deadline() -> Iterator[None]:
    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, _INSTALL_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
