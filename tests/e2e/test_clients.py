"""pip, uv and poetry install through a running `mirror serve` (gunicorn, real port)."""

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import poetry_project
from tests.support.fake_upstream import FakeUpstream
from tests.support.processes import (
    client_env,
    pip_install_command,
    stop_process,
    uv_install_command,
)
from tests.support.running_mirror import RunningMirror

pytestmark = pytest.mark.slow  # runs pip, uv and poetry


def run(args: list[str], cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=client_env(**env), capture_output=True, text=True, timeout=240
    )


def pip_install(
    mirror: RunningMirror, target: Path, *reqs: str
) -> subprocess.CompletedProcess[str]:
    return run(pip_install_command(mirror.index_url, target, *reqs))


def installed(target: Path) -> set[str]:
    return {p.name for p in target.glob("*.dist-info")}


def test_pip_installs_only_admitted_releases(
    start_mirror,
    tree: FakeUpstream,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    mirror = start_mirror()
    result = pip_install(mirror, tmp_path / "t1", "app-pkg")
    assert result.returncode == 0, result.stderr
    assert installed(tmp_path / "t1") == {
        "app_pkg-1.0.dist-info",
        "lib_a-1.0.dist-info",
        "lib_b-0.5.dist-info",
    }
    refused = pip_install(mirror, tmp_path / "t2", "lib-a==2.0")
    assert refused.returncode != 0
    assert "No matching distribution found for lib-a==2.0" in refused.stderr


def test_uv_installs_with_index_url_and_project_index(
    start_mirror,
    tree: FakeUpstream,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    mirror = start_mirror()
    target = tmp_path / "uv-target"
    result = run(uv_install_command(mirror.index_url, target, "app-pkg"))
    assert result.returncode == 0, result.stderr
    assert "lib_a-1.0.dist-info" in installed(target)
    project = tmp_path / "uv-project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "consumer"\nversion = "0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["app-pkg"]\n\n'
        f'[[tool.uv.index]]\nname = "mirror"\nurl = "{mirror.index_url}"\ndefault = true\n'
    )
    synced = run(["uv", "sync", "--no-cache", "--python", sys.executable], cwd=project)
    assert synced.returncode == 0, synced.stderr
    lock = (project / "uv.lock").read_text()
    assert 'name = "lib-a"\nversion = "1.0"' in lock
    assert mirror.url in lock


def test_poetry_installs_from_a_primary_source(
    start_mirror,
    tree: FakeUpstream,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    mirror = start_mirror()
    project, env = poetry_project(tmp_path, mirror.index_url)
    locked = run(["poetry", "lock"], cwd=project, **env)
    assert locked.returncode == 0, locked.stdout + locked.stderr
    done = run(["poetry", "install", "--no-interaction"], cwd=project, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    site = next((project / ".venv" / "lib").glob("python*/site-packages"))
    assert {"app_pkg-1.0.dist-info", "lib_a-1.0.dist-info"} <= installed(site)


def test_quarantined_release_appears_once_its_delay_has_passed(
    start_mirror, tree: FakeUpstream, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    mirror = start_mirror()
    assert pip_install(mirror, tmp_path / "t1", "lib-a==2.0").returncode != 0
    stop_process(mirror.process)
    # The same mirror, six days later: its own scheduler admits lib-a 2.0 unasked.
    later = start_mirror(data_dir=mirror.data_dir, env={"MIRROR_DEBUG_CLOCK_OFFSET": "6d"})
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    while b"lib_a-2.0" not in later.get("/simple/lib-a/").data:
        assert datetime.now(UTC) < deadline, later.logs()[-3000:]
        time.sleep(0.2)
    result = pip_install(later, tmp_path / "t2", "lib-a==2.0")
    assert result.returncode == 0, result.stderr


def test_tampered_upstream_file_fails_pip_cleanly(
    start_mirror,
    tree: FakeUpstream,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    mirror = start_mirror()
    tree.corrupt("lib-b-0.5-py3-none-any.whl".replace("-", "_", 1))
    result = pip_install(mirror, tmp_path / "t", "app-pkg")
    assert result.returncode != 0
    assert "lib_b-0.5-py3-none-any.whl" in result.stderr
    assert not (tmp_path / "t" / "lib_b").exists()
    assert "integrity check failed" in mirror.logs()


def test_admitted_packages_install_while_upstream_is_down(
    start_mirror, tree: FakeUpstream, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    mirror = start_mirror(upstream={"ttl": "0"})
    assert pip_install(mirror, tmp_path / "t1", "app-pkg").returncode == 0
    tree.fail(503)
    mirror.cli("sync", check=False)
    result = pip_install(mirror, tmp_path / "t2", "app-pkg")
    assert result.returncode == 0, result.stderr
    ready = mirror.get("/readyz").json()
    assert ready["degraded"] is True
