"""pip, uv and poetry install through a running mirror with anonymous reads off: with a read
token (basic auth, user ``__token__``) they work; without one, or with a revoked one, they fail."""

import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import poetry_project
from tests.support.fake_upstream import FakeUpstream
from tests.support.processes import client_env, pip_install_command
from tests.support.running_mirror import RunningMirror

pytestmark = pytest.mark.slow
OLD = datetime.now(UTC) - timedelta(days=30)


@pytest.fixture
def mirror(start_mirror, fake_upstream: FakeUpstream, tmp_path: Path) -> RunningMirror:  # type: ignore[no-untyped-def]
    build = tmp_path / "build"
    fake_upstream.publish_release("app-pkg", "1.0", tmpdir=build, upload_time=OLD, deps=["lib-a"])
    fake_upstream.publish_release("lib-a", "1.0", tmpdir=build, upload_time=OLD)
    return start_mirror(auth={"anonymous_read": False})


def read_token(mirror: RunningMirror) -> str:
    out = mirror.cli("token", "create", "--scope", "read", "--name", "ci").stdout
    return re.search(r"^token: (\S+)$", out, re.M).group(1)  # type: ignore[union-attr]


def with_token(mirror: RunningMirror, token: str) -> str:
    return mirror.index_url.replace("http://", f"http://__token__:{token}@")


def run(args: list[str], cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env=client_env(**env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )


def pip(index_url: str, target: Path) -> subprocess.CompletedProcess[str]:
    return run(pip_install_command(index_url, target, "app-pkg"))


def installed(target: Path) -> set[str]:
    return {p.name for p in target.glob("*.dist-info")}


def test_pip_needs_a_valid_read_token(mirror: RunningMirror, tmp_path: Path) -> None:
    token = read_token(mirror)
    done = pip(with_token(mirror, token), tmp_path / "ok")
    assert done.returncode == 0, done.stderr
    assert installed(tmp_path / "ok") == {"app_pkg-1.0.dist-info", "lib_a-1.0.dist-info"}
    refused = pip(mirror.index_url, tmp_path / "anon")
    assert refused.returncode != 0 and "No matching distribution" in refused.stderr
    assert not installed(tmp_path / "anon")
    token_id = re.search(r"^(\w+)\tread\tactive", mirror.cli("token", "list").stdout, re.M)
    mirror.cli("token", "revoke", token_id.group(1))  # type: ignore[union-attr]
    revoked = pip(with_token(mirror, token), tmp_path / "revoked")
    assert revoked.returncode != 0
    assert not installed(tmp_path / "revoked")


def test_uv_needs_a_read_token(mirror: RunningMirror, tmp_path: Path) -> None:
    def uv(index_url: str, target: Path) -> subprocess.CompletedProcess[str]:
        install = ["uv", "pip", "install", "--no-cache", "--target", str(target)]
        return run([*install, "--python", sys.executable, "--index-url", index_url, "app-pkg"])

    done = uv(with_token(mirror, read_token(mirror)), tmp_path / "ok")
    assert done.returncode == 0, done.stderr
    assert "lib_a-1.0.dist-info" in installed(tmp_path / "ok")
    refused = uv(mirror.index_url, tmp_path / "anon")
    assert refused.returncode != 0
    assert "401" in refused.stderr


def test_poetry_uses_its_http_basic_settings(mirror: RunningMirror, tmp_path: Path) -> None:
    project, env = poetry_project(tmp_path, mirror.index_url)
    refused = run(["poetry", "lock"], cwd=project, **env)
    assert refused.returncode != 0
    secret = read_token(mirror)
    credentials = {
        "POETRY_HTTP_BASIC_MIRROR_USERNAME": "__token__",
        "POETRY_HTTP_BASIC_MIRROR_PASSWORD": secret,
    }
    locked = run(["poetry", "lock"], cwd=project, **env, **credentials)
    assert locked.returncode == 0, locked.stdout + locked.stderr
    done = run(["poetry", "install", "--no-interaction"], cwd=project, **env, **credentials)
    assert done.returncode == 0, done.stdout + done.stderr
    site = next((project / ".venv" / "lib").glob("python*/site-packages"))
    assert {"app_pkg-1.0.dist-info", "lib_a-1.0.dist-info"} <= installed(site)
    assert secret not in (project / "poetry.lock").read_text()


def test_mirror_install_sends_the_token_for_metadata_targets_and_api(
    mirror: RunningMirror, tmp_path: Path
) -> None:
    assert "app-pkg: ok" in mirror.cli("sync", "app-pkg", "lib-a").stdout
    root = tmp_path / "root.json"
    root.write_text(mirror.cli("keys", "export-root").stdout)
    (tmp_path / "reqs.txt").write_text("app-pkg==1.0\nlib-a==1.0\n")

    def install(index_url: str, target: str) -> subprocess.CompletedProcess[str]:
        return run(
            [
                sys.executable, "-m", "mirror", "install", "-r", str(tmp_path / "reqs.txt"),
                "--index-url", index_url, "--root", str(root),
                "--tuf-cache", str(tmp_path / f"cache-{target}"),
                "--python", sys.executable, "--target", str(tmp_path / target),
            ]
        )  # fmt: skip

    denied = install(mirror.index_url, "anonymous")
    assert denied.returncode != 0
    assert not installed(tmp_path / "anonymous")
    done = install(with_token(mirror, read_token(mirror)), "with-token")
    assert done.returncode == 0, done.stderr
    assert installed(tmp_path / "with-token") == {"app_pkg-1.0.dist-info", "lib_a-1.0.dist-info"}
