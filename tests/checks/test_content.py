"""Wheel and sdist inspection, on archives built here with zipfile and tarfile."""

import base64
import hashlib
import io
import json
import tarfile
import tracemalloc
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import pytest

from mirror.checks.content import (
    MAX_TEXT_BYTES,
    ContentReport,
    Flag,
    PthFile,
    compare,
    inspect_distribution,
)
from tests.checks import wheel_oracle

ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 57
_TAR_MODES: dict[str, Literal["w:gz", "w:bz2", "w"]] = {
    ".tar.gz": "w:gz",
    ".tar.bz2": "w:bz2",
    ".tar": "w",
}
# The shape of the LiteLLM 1.82.8 payload: one line that runs at every interpreter start.
STEALER_LINE = "import os, base64; exec(base64.b64decode('cHJpbnQoJ3B3bmVkJyk='))"


def build_wheel(
    directory: Path, members: Mapping[str, bytes], *, name: str = "demo", version: str = "1.0"
) -> Path:
    """A real wheel: the given members plus dist-info METADATA, WHEEL and RECORD."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"",
        **members,
        f"{dist_info}/METADATA": _metadata(name, version),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def _metadata(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_sdist(
    directory: Path,
    members: Mapping[str, bytes],
    *,
    name: str = "demo",
    version: str = "1.0",
    suffix: str = ".tar.gz",
) -> Path:
    """A real sdist under ``{name}-{version}/`` with PKG-INFO; ``.zip`` or a tar format."""
    root = f"{name}-{version}"
    files = {"PKG-INFO": _metadata(name, version), **members}
    path = directory / f"{root}{suffix}"
    if suffix == ".zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for member, data in files.items():
                archive.writestr(f"{root}/{member}", data)
        return path
    with tarfile.open(path, _TAR_MODES[suffix]) as archive:
        for member, data in files.items():
            info = tarfile.TarInfo(f"{root}/{member}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def inspect(path: Path) -> ContentReport:
    return inspect_distribution(path.name, path)


def codes(flags: list[Flag]) -> list[str]:
    return [flag.code for flag in flags]


def excerpts(report: ContentReport) -> dict[str, list[str]]:
    return {pth.name: pth.executable_lines for pth in report.pth_files}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- .pth files ---------------------------------------------------------------------------


def test_executable_pth_in_a_wheel_is_reported_and_flagged_when_new(tmp_path: Path) -> None:
    pth = "\n".join(
        [
            "# a comment",
            "extra_paths",
            STEALER_LINE,
            " import indented_is_a_path",
            "import\tsys",
            "",
        ]
    )
    report = inspect(build_wheel(tmp_path, {"demo_init.pth": pth.encode()}))

    assert report.pth_files == [
        PthFile("demo_init.pth", [STEALER_LINE, "import\tsys"], ["demo_init.pth"], sha256(pth), pth)
    ]
    assert report.errors == []
    (flag,) = compare(None, report)
    assert flag.code == "executable-pth"
    assert flag.text == f"demo_init.pth runs code at every Python start: {STEALER_LINE}"
    clean = inspect(build_wheel(tmp_path / "clean", {}))
    assert [f.code for f in compare(clean, report)] == ["executable-pth"]


def test_an_unchanged_executable_pth_is_not_flagged_again(tmp_path: Path) -> None:
    # setuptools ships distutils-precedence.pth in every release: not a new hold each time.
    same = b"import os; exec('pass')\n"
    previous = inspect(build_wheel(tmp_path / "a", {"precedence.pth": same}))
    current = inspect(build_wheel(tmp_path / "b", {"precedence.pth": same}))
    assert compare(previous, current) == []
    changed = inspect(build_wheel(tmp_path / "c", {"precedence.pth": b"import os; steal()\n"}))
    assert [f.code for f in compare(previous, changed)] == ["executable-pth"]


def test_path_only_pth_is_reported_but_not_flagged(tmp_path: Path) -> None:
    report = inspect(build_wheel(tmp_path, {"demo.pth": b"src\n# import os\n"}))

    assert excerpts(report) == {"demo.pth": []}
    assert compare(None, report) == []


def test_only_pth_files_that_install_into_site_packages_count(tmp_path: Path) -> None:
    code = b"import os\n"
    report = inspect(
        build_wheel(
            tmp_path,
            {
                "demo/weights.pth": code,  # inside a package: site.py never reads it
                "demo-1.0.data/purelib/a.pth": code,
                "demo-1.0.data/platlib/b.pth": code,
                "demo-1.0.data/data/lib/python3.11/site-packages/c.pth": code,
                "demo-1.0.data/data/share/demo/d.pth": code,
            },
        )
    )

    assert [pth.name for pth in report.pth_files] == [
        "demo-1.0.data/data/lib/python3.11/site-packages/c.pth",
        "demo-1.0.data/platlib/b.pth",
        "demo-1.0.data/purelib/a.pth",
    ]


def test_a_byte_order_mark_does_not_hide_an_import(tmp_path: Path) -> None:
    report = inspect(build_wheel(tmp_path, {"x.pth": "\ufeffimport os\n".encode()}))

    assert excerpts(report) == {"x.pth": ["import os"]}


def test_an_oversized_pth_is_read_in_part_and_flagged(tmp_path: Path) -> None:
    big = b"somewhere\n" * (MAX_TEXT_BYTES // 10 + 1)
    report = inspect(build_wheel(tmp_path, {"big.pth": big}))

    assert report.errors == [f"big.pth is larger than {MAX_TEXT_BYTES} bytes; read in part"]
    assert codes(compare(None, report)) == ["inspection-error"]


# --- paths as installers read them -------------------------------------------------------

# Each lands in site-packages' top level with pip and/or the reference installer (checked
# below against both), so its `import` line runs at every interpreter start.
TOP_LEVEL_PTH = [
    "demo/../demo_evil.pth",
    "./demo_evil.pth",
    ".//demo_evil.pth",
    "demo//..//demo_evil.pth",
    "demo\\..\\demo_evil.pth",
    "sub\\demo_evil.pth",  # a file of that name on POSIX, sub\ on Windows: both read
    "demo-1.0.data/purelib/sub/../demo_evil.pth",
    "demo-1.0.data//platlib/demo_evil.pth",
    "demo-1.0.data/purelib/./demo_evil.pth",
    "demo-1.0.data/data/lib/python3.11/site-packages/sub/../demo_evil.pth",
    "other-1.0.data/purelib/demo_evil.pth",  # pip takes any *.data directory
    # Windows drops trailing dots and spaces from a name, and "::$DATA" names the file's
    # own contents: each of these is "demo_evil.pth" there, with no backslash to hint it.
    "demo_evil.pth.",
    "demo_evil.pth ",
    "demo_evil.pth::$DATA",
    "demo-1.0.data/purelib/demo_evil.pth. .",
    # The data scheme is the environment's prefix, which on Windows is a site directory too.
    "demo-1.0.data/data/demo_evil.pth",
    "demo-1.0.data/data/sub/../demo_evil.pth",
]
STARTUP_HOOKS = [
    "sitecustomize.py",
    "usercustomize.py",
    "demo/../sitecustomize.py",
    "./usercustomize.py",
    "demo\\..\\sitecustomize.py",
    "sitecustomize/__init__.py",
    "demo-1.0.data/purelib/sitecustomize.py",
    "demo-1.0.data/platlib/sub/../usercustomize.py",
    "demo-1.0.data/data/lib/python3.11/site-packages/sitecustomize.py",
    "demo-1.0.data/data/sitecustomize.py",  # in the prefix, a site directory on Windows
    "demo-1.0.data/data/Lib/site-packages/usercustomize.py",
]
ESCAPES = [
    "../demo_evil.pth",
    "/tmp/demo_evil.py",
    "C:\\demo_evil.py",
    "a/../../demo_evil.py",
    "demo\\..\\..\\demo_evil.py",
    "demo-1.0.data/purelib/../../demo_evil.py",
    "demo-1.0.data/../demo_evil.py",
    "demo-1.0.data/headers/../../../lib/python3.11/site-packages/demo_evil.py",
    "demo-1.0.data/purelib/\\demo_evil.py",  # on Windows, from the root of the drive
    "demo-1.0.data/purelib/C:\\demo_evil.py",
]
NOT_IN_SITE_PACKAGES_TOP_LEVEL = [
    "demo/evil.pth",
    "demo/sitecustomize.py",
    "demo/./sub/../evil.pth",
    "demo-1.0.data/data/share/demo/evil.pth",
    "demo-1.0.data/headers/evil.pth",
    "demo-1.0.data/scripts/sitecustomize.py",
    "demo-1.0.data/purelib/demo/sitecustomize.py",
    "demo/sitecustomize/__init__.py",
]


HOOKS = ("sitecustomize", "usercustomize")


def top_level_names(tmp_path: Path, wheel: Path, member: str) -> set[str]:
    """What ``member`` becomes in site-packages' top level, for pip and for installer on
    this machine, and for pip on Windows."""
    installed = {
        **wheel_oracle.with_installer(wheel, tmp_path / "installer").top_level,
        **wheel_oracle.with_pip(wheel, tmp_path / "pip").top_level,
    }
    on_windows = {
        path[0] for path in wheel_oracle.on_windows(member) if isinstance(path, tuple) and path
    }
    return {name for name in {*installed, *on_windows} if wheel_oracle.is_probe_entry(name)}


@pytest.mark.parametrize("member", TOP_LEVEL_PTH)
def test_a_pth_landing_in_site_packages_is_flagged_whatever_its_path(
    tmp_path: Path, member: str
) -> None:
    wheel = build_wheel(tmp_path / "wheel", {member: STEALER_LINE.encode()})

    assert any(name.endswith(".pth") for name in top_level_names(tmp_path, wheel, member))
    flags = compare(None, inspect(wheel))
    assert codes(flags) == ["executable-pth"]
    assert flags[0].text.startswith(f"{member} ")


# uv links the unpacked wheel into site-packages, then installs the schemes of the directory
# named "{dist-info prefix}.data"; on a case-insensitive file system (macOS, Windows) that
# name finds "DEMO-1.0.DATA" as well. No installer here runs on one, so the oracle cannot say.
@pytest.mark.parametrize(
    "member", ["DEMO-1.0.DATA/purelib/demo_evil.pth", "demo-1.0.Data/platlib/demo_evil.pth"]
)
def test_a_data_directory_in_another_case_is_read_as_one(tmp_path: Path, member: str) -> None:
    wheel = build_wheel(tmp_path / "wheel", {member: STEALER_LINE.encode()})

    assert codes(compare(None, inspect(wheel))) == ["executable-pth"]


@pytest.mark.parametrize("member", STARTUP_HOOKS)
def test_sitecustomize_or_usercustomize_in_site_packages_is_flagged(
    tmp_path: Path, member: str
) -> None:
    wheel = build_wheel(tmp_path / "wheel", {member: b"print('hook')\n"})

    landed = top_level_names(tmp_path, wheel, member)
    assert {"sitecustomize.py", "usercustomize.py", "sitecustomize"} & landed
    assert codes(compare(None, inspect(wheel))) == ["startup-hook"]


@pytest.mark.parametrize("member", ESCAPES)
def test_a_member_escaping_its_install_directory_is_flagged(tmp_path: Path, member: str) -> None:
    wheel = build_wheel(tmp_path / "wheel", {member: b"import os\n"})
    by_installer = wheel_oracle.with_installer(wheel, tmp_path / "installer")
    by_pip = wheel_oracle.with_pip(wheel, tmp_path / "pip")
    # Every installer refuses it somewhere (on Windows, "C:\x" is a path from a drive's root).
    refused = by_installer.refused and by_pip.refused
    assert refused or "outside" in wheel_oracle.on_windows(member)

    assert "path-escape" in codes(compare(None, inspect(wheel)))


@pytest.mark.parametrize("member", NOT_IN_SITE_PACKAGES_TOP_LEVEL)
def test_members_below_site_packages_top_level_are_not_flagged(tmp_path: Path, member: str) -> None:
    wheel = build_wheel(tmp_path / "wheel", {member: STEALER_LINE.encode()})

    landed = top_level_names(tmp_path, wheel, member)
    assert not any(name.endswith(".pth") or name.split(".")[0] in HOOKS for name in landed)
    assert compare(None, inspect(wheel)) == []


def test_a_startup_hook_shipped_unchanged_is_not_flagged_again(tmp_path: Path) -> None:
    hook = {"sitecustomize.py": b"import os\n"}
    previous = inspect(build_wheel(tmp_path / "a", hook))
    current = inspect(build_wheel(tmp_path / "b", hook, version="1.1"))
    changed = inspect(
        build_wheel(tmp_path / "c", {"sitecustomize.py": b"import os, evil\n"}, version="1.2")
    )

    assert compare(previous, current) == []
    assert codes(compare(previous, changed)) == ["startup-hook"]


# --- whole .pth contents, not an excerpt ---------------------------------------------------

PTH_BEFORE = [*(f"import os  # {n}" for n in range(10)), "import os; " + "x" * 400, "src"]


@pytest.mark.parametrize(
    "changed",
    [
        [*PTH_BEFORE, "import evil"],  # an 11th executable line
        [*PTH_BEFORE[:10], "import os; " + "x" * 350 + "evil()", "src"],  # after char 300
        [*PTH_BEFORE[:11], "/tmp/evil"],  # a sys.path line: what gets imported changes
    ],
)
def test_any_change_to_an_executable_pth_is_flagged(tmp_path: Path, changed: list[str]) -> None:
    previous = inspect(build_wheel(tmp_path / "a", {"x.pth": "\n".join(PTH_BEFORE).encode()}))
    current = inspect(build_wheel(tmp_path / "b", {"x.pth": "\n".join(changed).encode()}))

    assert codes(compare(previous, current)) == ["executable-pth"]
    assert compare(previous, previous) == []


def test_a_stored_report_without_digests_vouches_for_nothing(tmp_path: Path) -> None:
    current = inspect(build_wheel(tmp_path, {"x.pth": b"import os\n"}))
    # The shape reports were stored in before whole-content digests.
    stored = {
        "filename": "demo-0.9-py3-none-any.whl",
        "kind": "wheel",
        "pth_files": [{"name": "x.pth", "executable_lines": ["import os"]}],
        "entry_points": {},
        "native_binaries": [],
        "sdist_hooks": [],
        "errors": [],
    }

    assert codes(compare(ContentReport.from_dict(stored), current)) == ["executable-pth"]


# --- entry points -------------------------------------------------------------------------

ENTRY_POINTS = b"""\
[console_scripts]
demo = demo:main
demo-admin=demo.admin:main

[gui_scripts]
demo-gui = demo.gui:run

[demo.plugins]
ignored = demo.plugin:Plugin
"""


def test_wheel_entry_points_are_reported(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, {"demo-1.0.dist-info/entry_points.txt": ENTRY_POINTS})

    assert inspect(wheel).entry_points == {
        "console_scripts": {"demo": "demo:main", "demo-admin": "demo.admin:main"},
        "gui_scripts": {"demo-gui": "demo.gui:run"},
    }


def test_new_and_retargeted_entry_points_are_flagged(tmp_path: Path) -> None:
    old_points = b"[console_scripts]\ndemo = demo:main\n"
    new_points = b"[console_scripts]\ndemo = demo.evil:main\npip = demo:main\n"
    old = inspect(build_wheel(tmp_path, {"demo-1.0.dist-info/entry_points.txt": old_points}))
    new = inspect(
        build_wheel(tmp_path, {"demo-1.1.dist-info/entry_points.txt": new_points}, version="1.1")
    )

    assert compare(old, new) == [
        Flag("new-entry-point", "console_scripts demo now runs demo.evil:main (was demo:main)"),
        Flag("new-entry-point", "new console_scripts pip = demo:main"),
    ]
    assert compare(old, old) == []
    assert compare(None, new) == []  # no baseline, nothing is "new"


# --- native binaries ----------------------------------------------------------------------


def test_native_binaries_are_found_by_suffix_and_by_magic(tmp_path: Path) -> None:
    report = inspect(
        build_wheel(
            tmp_path,
            {
                "demo/_speedups.cpython-311-x86_64-linux-gnu.so": ELF,
                "demo.libs/libfoo-1a2b3c.so.1.2": ELF,
                "demo/_win.pyd": b"MZ\x90\x00",
                "demo/helper": ELF,  # no suffix, ELF magic
                "demo/tool.bin": b"\xcf\xfa\xed\xfe" + b"\x00" * 28,  # Mach-O 64
                "demo/README.txt": b"MZ is a text file? no: it starts with M, then Z",
                "demo/data.json": b"{}",
            },
        )
    )

    assert report.native_binaries == [
        "demo.libs/libfoo-1a2b3c.so.1.2",
        "demo/README.txt",  # starts with "MZ": PE magic is two bytes, false positives happen
        "demo/_speedups.cpython-311-x86_64-linux-gnu.so",
        "demo/_win.pyd",
        "demo/helper",
        "demo/tool.bin",
    ]


def test_only_new_native_binaries_are_flagged(tmp_path: Path) -> None:
    first = tmp_path / "first"
    second = tmp_path / "second"
    first.mkdir()
    second.mkdir()
    old = inspect(build_wheel(first, {"demo/_core.so": ELF, "demo-1.0.data/scripts/run": ELF}))
    new = inspect(
        build_wheel(
            second,
            {"demo/_core.so": ELF, "demo-1.1.data/scripts/run": ELF, "demo/_new.so": ELF},
            version="1.1",
        )
    )

    assert compare(old, new) == [Flag("new-native-binary", "new native binary demo/_new.so")]


# --- sdists -------------------------------------------------------------------------------

SETUP_PY_CMDCLASS = b"""\
from setuptools import setup
from setuptools.command.install import install

class PostInstall(install):
    def run(self):
        install.run(self)

setup(cmdclass={"install": PostInstall})
"""
PYPROJECT_IN_TREE = b"""\
[build-system]
requires = []
build-backend = "backend"
backend-path = ["_build"]

[project]
name = "demo"
version = "1.1"

[project.scripts]
demo = "demo:main"
"""


def test_sdist_hooks_and_scripts_are_reported(tmp_path: Path) -> None:
    report = inspect(
        build_sdist(
            tmp_path,
            {
                "setup.py": SETUP_PY_CMDCLASS,
                "pyproject.toml": PYPROJECT_IN_TREE,
                "_build/backend.py": b"def build_wheel(*a): ...\n",
                "demo/__init__.py": b"",
            },
            version="1.1",
        )
    )

    assert report.kind == "sdist"
    assert report.sdist_hooks == ["in-tree-backend", "setup.py", "setup.py-cmdclass"]
    assert report.entry_points == {"console_scripts": {"demo": "demo:main"}}
    assert report.errors == []


def test_new_sdist_hooks_are_flagged(tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    old = inspect(build_sdist(first, {"setup.py": b"from setuptools import setup\nsetup()\n"}))
    new = inspect(
        build_sdist(
            tmp_path,
            {"setup.py": SETUP_PY_CMDCLASS, "pyproject.toml": PYPROJECT_IN_TREE},
            version="1.1",
        )
    )

    assert old.sdist_hooks == ["setup.py"]
    assert compare(old, new) == [
        Flag("new-entry-point", "new console_scripts demo = demo:main"),
        Flag("sdist-install-hook", "new build-time hook: in-tree-backend"),
        Flag("sdist-install-hook", "new build-time hook: setup.py-cmdclass"),
    ]


@pytest.mark.parametrize("suffix", [".zip", ".tar.bz2", ".tar"])
def test_other_sdist_formats_are_read(tmp_path: Path, suffix: str) -> None:
    sdist = build_sdist(
        tmp_path, {"setup.py": b"setup()\n", "demo_init.pth": b"import os\n"}, suffix=suffix
    )

    report = inspect(sdist)

    assert report.sdist_hooks == ["setup.py"]
    assert excerpts(report) == {"demo_init.pth": ["import os"]}


def test_sdist_paths_are_relative_to_the_release_root(tmp_path: Path) -> None:
    report = inspect(build_sdist(tmp_path, {"demo/_core.so": ELF}, version="7.0"))

    assert report.native_binaries == ["demo/_core.so"]


# --- sdist paths ---------------------------------------------------------------------------


def test_sdist_member_paths_are_normalised_before_judging(tmp_path: Path) -> None:
    report = inspect(
        build_sdist(
            tmp_path,
            {
                "sub/../setup.py": SETUP_PY_CMDCLASS,
                "./pyproject.toml": PYPROJECT_IN_TREE,
                "x\\..\\evil.pth": b"import os\n",
            },
        )
    )

    assert report.sdist_hooks == ["in-tree-backend", "setup.py", "setup.py-cmdclass"]
    assert codes(compare(None, report)) == ["executable-pth"]


def test_an_sdist_member_escaping_the_archive_is_flagged(tmp_path: Path) -> None:
    report = inspect(build_sdist(tmp_path, {"../../evil.py": b"pass\n"}))

    assert codes(compare(None, report)) == ["path-escape"]


# --- damaged or unknown input -------------------------------------------------------------


@pytest.mark.parametrize("filename", ["demo-1.0-py3-none-any.whl", "demo-1.0.tar.gz"])
def test_a_corrupt_archive_is_a_reason_not_an_exception(tmp_path: Path, filename: str) -> None:
    path = tmp_path / filename
    path.write_bytes(b"PK\x03\x04 this is not an archive" * 10)

    report = inspect(path)

    assert len(report.errors) == 1
    assert report.errors[0].startswith("corrupt archive: ")
    assert codes(compare(None, report)) == ["inspection-error"]


def test_a_truncated_sdist_keeps_what_was_read(tmp_path: Path) -> None:
    sdist = build_sdist(tmp_path, {"setup.py": b"setup()\n", "blob": bytes(range(256)) * 400})
    data = sdist.read_bytes()
    sdist.write_bytes(data[: len(data) // 2])

    report = inspect(sdist)

    assert report.sdist_hooks == ["setup.py"]
    assert report.errors and report.errors[0].startswith("corrupt archive: ")


def test_an_unknown_format_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "demo-1.0.exe"
    path.write_bytes(b"MZ")

    assert inspect(path).errors == ["unknown distribution format: demo-1.0.exe"]


def test_a_file_object_can_be_inspected(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, {"demo_init.pth": b"import os\n"})

    report = inspect_distribution(wheel.name, io.BytesIO(wheel.read_bytes()))

    assert excerpts(report) == {"demo_init.pth": ["import os"]}


def test_report_survives_a_json_round_trip(tmp_path: Path) -> None:
    report = inspect(
        build_wheel(
            tmp_path,
            {
                "demo_init.pth": STEALER_LINE.encode(),
                "demo-1.0.dist-info/entry_points.txt": ENTRY_POINTS,
                "demo/_core.so": ELF,
                "demo/../sitecustomize.py": b"pass\n",
                "../escaped.py": b"pass\n",
            },
        )
    )

    assert report.startup_hooks and report.path_escapes
    assert ContentReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report
    flags = [json.loads(json.dumps(flag.to_dict()))["code"] for flag in compare(None, report)]
    assert flags == ["path-escape", "executable-pth", "startup-hook"]


# --- bounded memory -----------------------------------------------------------------------

HUGE = 200 * 1024 * 1024


def _write_zeros(archive: zipfile.ZipFile, name: str, size: int) -> None:
    """A member of ``size`` zero bytes, deflated (a few hundred KiB on disk)."""
    chunk = bytes(1024 * 1024)
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as member:
        for _ in range(size // len(chunk)):
            member.write(chunk)


def test_a_huge_wheel_is_inspected_without_reading_it_into_memory(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path, {"demo_init.pth": b"import os\n"})
    with zipfile.ZipFile(wheel, "a") as archive:
        _write_zeros(archive, "demo/model.bin", HUGE)
        _write_zeros(archive, "huge.pth", 32 * 1024 * 1024)

    tracemalloc.start()
    try:
        report = inspect(wheel)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"
    assert report.errors == [f"huge.pth is larger than {MAX_TEXT_BYTES} bytes; read in part"]
    assert [pth.name for pth in report.pth_files] == ["demo_init.pth", "huge.pth"]


def test_a_huge_sdist_is_streamed(tmp_path: Path) -> None:
    sdist = tmp_path / "demo-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz", compresslevel=1) as archive:
        info = tarfile.TarInfo("demo-1.0/data.bin")
        info.size = HUGE
        archive.addfile(info, _Zeros(HUGE))
        setup = tarfile.TarInfo("demo-1.0/setup.py")
        setup.size = 8
        archive.addfile(setup, io.BytesIO(b"setup()\n"))

    tracemalloc.start()
    try:
        report = inspect(sdist)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"
    assert report.sdist_hooks == ["setup.py"]


class _Zeros(io.RawIOBase):
    """A readable stream of ``size`` zero bytes that never holds them all."""

    def __init__(self, size: int) -> None:
        self._left = size

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        count = self._left if size < 0 else min(size, self._left)
        self._left -= count
        return bytes(count)


# --- the recorded real distributions ------------------------------------------------------


@pytest.mark.parametrize(
    "filename",
    [
        "pypi_attestations-0.0.19.tar.gz",
        "gitlab_oidc_project-0.0.3.tar.gz",
        "rfc8785-0.1.2-py3-none-any.whl",
    ],
)
def test_real_distributions_are_clean(pep740: Path, filename: str) -> None:
    report = inspect(pep740 / filename)

    assert report.errors == []
    assert report.pth_files == []
    assert report.native_binaries == []
    assert compare(report, report) == []


def test_flag_texts_are_one_printable_line_whatever_the_archive_holds(tmp_path: Path) -> None:
    # Hold reasons are printed by `mirror review` on a terminal: a member name or a .pth line
    # must not carry escape sequences or line breaks into it.
    hostile = "demo_\x1b[2J\rhook.pth"
    previous = inspect(build_wheel(tmp_path / "old", {}))
    report = inspect(
        build_wheel(
            tmp_path / "new",
            {
                hostile: b"import os\x1b]0;owned\x07\n",
                "demo/lib\x1b[31m.so": b"\x7fELF",
                "../\u202eevil.py": b"",
            },
        )
    )
    flags = compare(previous, report)
    assert {f.code for f in flags} >= {"executable-pth", "new-native-binary", "path-escape"}
    for flag in flags:
        assert flag.text.isprintable(), flag.text
    assert any("\\x1b[2J" in f.text for f in flags)
