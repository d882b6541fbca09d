"""The builders make real distributions: valid RECORDs, and pip/uv install them for real."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

from tests.support import dists
from tests.support.dists import DistBuilder


def _isolated_env(tmp_path: Path) -> dict[str, str]:
    # No user config, cache or index may leak in: installs must come from --find-links only.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        UV_NO_CONFIG="1",
        UV_OFFLINE="1",
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),
    )
    return env


def test_wheel_record_lists_every_member_with_its_hash(dist_builder: DistBuilder) -> None:
    wheel = dist_builder.wheel(
        "My.Pkg",
        "1.2",
        files={"my_pkg/data.txt": b"hello"},
        entry_points={"console_scripts": {"my-pkg": "my_pkg:main"}},
        pth={"x.pth": "import sys\n"},
    )
    assert wheel.name == "my_pkg-1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        record = zf.read("my_pkg-1.2.dist-info/RECORD").decode().splitlines()
        rows = dict((line.split(",", 1)[0], line.split(",", 1)[1]) for line in record)
        assert set(rows) == set(zf.namelist())
        assert rows.pop("my_pkg-1.2.dist-info/RECORD") == ","
        for member, value in rows.items():
            data = zf.read(member)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert value == f"sha256={digest.decode()},{len(data)}"
        assert b'__version__ = "1.2"' in zf.read("my_pkg/__init__.py")
        assert b"my-pkg = my_pkg:main" in zf.read("my_pkg-1.2.dist-info/entry_points.txt")


def test_wheel_metadata_and_tags(dist_builder: DistBuilder) -> None:
    wheel = dist_builder.wheel(
        "demo",
        "0.1",
        requires=["a>=1", "b; extra == 'x'"],
        requires_python=">=3.9",
        tag="py2.py3-none-any",
    )
    meta = HeaderParser().parsestr(dists.metadata_bytes(wheel).decode())
    assert (meta["Metadata-Version"], meta["Name"], meta["Version"]) == ("2.1", "demo", "0.1")
    assert meta.get_all("Requires-Dist") == ["a>=1", "b; extra == 'x'"]
    assert meta["Requires-Python"] == ">=3.9"
    with zipfile.ZipFile(wheel) as zf:
        wheel_file = HeaderParser().parsestr(zf.read("demo-0.1.dist-info/WHEEL").decode())
    assert wheel_file.get_all("Tag") == ["py2-none-any", "py3-none-any"]
    assert wheel_file["Root-Is-Purelib"] == "true"


def test_native_wheel_is_platlib_with_a_shared_object(dist_builder: DistBuilder) -> None:
    wheel = dist_builder.wheel("nat", "1", native=True)
    with zipfile.ZipFile(wheel) as zf:
        assert any(n.endswith(".so") for n in zf.namelist())
        assert b"Root-Is-Purelib: false" in zf.read("nat-1.dist-info/WHEEL")


def test_builds_are_reproducible(tmp_path: Path) -> None:
    first = dists.build_wheel(tmp_path / "a", "same", "1", requires=["x"])
    second = dists.build_wheel(tmp_path / "b", "same", "1", requires=["x"])
    assert first.read_bytes() == second.read_bytes()
    sdists = [dists.build_sdist(tmp_path / d, "same", "1") for d in ("a", "b")]
    assert sdists[0].read_bytes() == sdists[1].read_bytes()


def test_sdist_layout(dist_builder: DistBuilder) -> None:
    sdist = dist_builder.sdist(
        "Some-Proj", "2.0", requires=["dep"], setup_py="import os\n", files={"README": b"hi"}
    )
    assert sdist.name == "some_proj-2.0.tar.gz"
    with tarfile.open(sdist) as tf:
        names = set(tf.getnames())
        member = tf.extractfile("some_proj-2.0/PKG-INFO")
        assert member is not None
        pkg_info = member.read().decode()
    assert {
        "some_proj-2.0/PKG-INFO",
        "some_proj-2.0/pyproject.toml",
        "some_proj-2.0/some_proj/__init__.py",
        "some_proj-2.0/setup.py",
        "some_proj-2.0/README",
    } == names
    assert "Requires-Dist: dep" in pkg_info


@pytest.mark.slow  # runs uv
def test_uv_installs_wheel_and_pth_payload_runs(dist_builder: DistBuilder, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    dist_builder.marker_pth_wheel("evil", "1.0", marker)
    dist_builder.wheel("needed", "2.0")
    dist_builder.wheel("app", "1.0", requires=["evil", "needed>=2"])
    env, venv = _isolated_env(tmp_path), tmp_path / "venv"
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "--python", sys.executable, str(venv)], env=env, check=True)
    python = venv / "bin" / "python"
    install = ["pip", "install", "--python", str(python), "--no-index"]
    subprocess.run(
        [*uv, *install, "--find-links", str(dist_builder.dir), "app"], env=env, check=True
    )
    assert not marker.exists()  # installing alone does not run the .pth

    out = subprocess.run(
        [python, "-c", "import app, needed; print(app.__version__, needed.__version__)"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.split() == ["1.0", "2.0"]
    assert marker.read_text() == "ran"


@pytest.mark.slow  # runs pip
def test_pip_installs_wheel_with_console_script(dist_builder: DistBuilder, tmp_path: Path) -> None:
    marker, target = tmp_path / "marker", tmp_path / "target"
    dist_builder.marker_pth_wheel("evil", "1.0", marker)
    dist_builder.wheel(
        "tool", "3.1", requires=["evil"], entry_points={"console_scripts": {"tool": "tool:main"}}
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--isolated",
            "--no-cache-dir",
            "--no-index",
            "--target",
            str(target),
            "--find-links",
            str(dist_builder.dir),
            "tool",
        ],
        env=_isolated_env(tmp_path),
        check=True,
        capture_output=True,
    )
    assert (target / "bin" / "tool").exists()
    assert (target / "evil_hook.pth").exists()
    # addsitedir processes .pth files exactly as interpreter start-up does for site-packages.
    subprocess.run(
        [sys.executable, "-S", "-c", f"import site; site.addsitedir({str(target)!r})"],
        check=True,
    )
    assert marker.read_text() == "ran"
