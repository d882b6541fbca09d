"""twine and uv publish upload private packages to a running mirror with an upload token, and
pip installs them through the same index (docs/private-packages.md)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.dists import DistBuilder
from tests.support.fake_upstream import FakeUpstream
from tests.support.processes import VENV_BIN, client_env, pip_install_command
from tests.support.running_mirror import RunningMirror
from tests.web.conftest import OLD

pytestmark = pytest.mark.slow
Result = subprocess.CompletedProcess[str]


def token(mirror: RunningMirror, scope: str, *extra: str) -> str:
    out = mirror.cli("token", "create", "--scope", scope, "--name", "ci", *extra).stdout
    found = re.search(r"^token: (\S+)$", out, re.M)
    assert found is not None, out
    return found.group(1)


def run(args: list[str], **env: str) -> Result:
    return subprocess.run(
        args,
        env=client_env(**env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )


def twine(
    mirror: RunningMirror, secret: str | None, *files: Path
) -> subprocess.CompletedProcess[str]:
    credentials = ["-u", "__token__", "-p", secret] if secret else ["-u", "", "-p", ""]
    return run(
        [
            str(VENV_BIN / "twine"),
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
            f"{mirror.url}/legacy/",
            *credentials,
            *map(str, files),
        ]
    )


def uv_publish(
    mirror: RunningMirror, secret: str, *files: Path
) -> subprocess.CompletedProcess[str]:
    return run(
        [
            str(VENV_BIN / "uv"),
            "publish",
            "--publish-url",
            f"{mirror.url}/legacy/",
            "--token",
            secret,
            *map(str, files),
        ]
    )


def pip_install(mirror: RunningMirror, target: Path, *requirements: str) -> Result:
    return run(pip_install_command(mirror.index_url, target, *requirements))


def test_twine_and_uv_publish_upload_and_pip_installs(
    start_mirror: Any, dist_builder: DistBuilder, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("lib-a", "1.0", tmpdir=tmp_path / "up", upload_time=OLD)
    # A dependency-confusion copy of the private name, at a higher version, upstream.
    fake_upstream.publish_release("acme-app", "99.0", tmpdir=tmp_path / "up", upload_time=OLD)
    mirror = start_mirror()
    secret = token(mirror, "upload", "--projects", "acme-*")
    app = dist_builder.wheel("acme-app", "1.0", requires=["acme-lib", "lib-a"])
    lib = dist_builder.wheel("acme-lib", "1.0")
    sdist = dist_builder.sdist("acme-lib", "1.0")

    refused = twine(mirror, None, app)
    assert refused.returncode != 0
    read = twine(mirror, token(mirror, "read"), app)
    assert read.returncode != 0 and "403" in read.stdout + read.stderr
    outside = twine(mirror, secret, dist_builder.wheel("other", "1.0"))
    assert outside.returncode != 0 and "may not upload" in outside.stdout + outside.stderr

    done = twine(mirror, secret, app)
    assert done.returncode == 0, done.stdout + done.stderr
    again = twine(mirror, secret, app)
    assert "File already exists" in again.stdout + again.stderr
    published = uv_publish(mirror, secret, lib, sdist)
    assert published.returncode == 0, published.stderr

    installed = pip_install(mirror, tmp_path / "site", "acme-app")
    assert installed.returncode == 0, installed.stderr
    assert {p.name for p in (tmp_path / "site").glob("*.dist-info")} == {
        "acme_app-1.0.dist-info",
        "acme_lib-1.0.dist-info",
        "lib_a-1.0.dist-info",
    }
    assert fake_upstream.hits("/simple/acme-app/") == 0
