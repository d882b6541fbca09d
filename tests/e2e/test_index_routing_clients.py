"""pip, uv and poetry resolve a set spanning two upstream indexes through the one index URL of
a running mirror; a routed name comes from its own index only (docs/admission.md, "Several
upstream indexes")."""

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import poetry_project
from tests.e2e.test_clients import installed, pip_install, run
from tests.support.fake_upstream import FakeUpstream
from tests.support.processes import uv_install_command
from tests.support.running_mirror import RunningMirror

pytestmark = pytest.mark.slow  # runs pip, uv and poetry

OLD = datetime.now(UTC) - timedelta(days=30)
EXPECTED = {
    "app_pkg-1.0.dist-info",
    "lib_a-1.0.dist-info",
    "torch-2.0.dist-info",
    "nvidia_cublas-12.0.dist-info",
}


@pytest.fixture
def gpu() -> Iterator[FakeUpstream]:
    """A vendor's wheel index: no upload times."""
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def routed_mirror(
    start_mirror: Callable[..., RunningMirror],
    fake_upstream: FakeUpstream,
    gpu: FakeUpstream,
    tmp_path: Path,
) -> RunningMirror:
    """app-pkg (default index) requires lib-a (default) and torch (gpu index), which requires
    nvidia-cublas (gpu). The default index also lists torch 9.9: it must never be used."""
    build = tmp_path / "build"
    fake_upstream.publish_release(
        "app-pkg", "1.0", tmpdir=build, upload_time=OLD, deps=["lib-a", "torch"]
    )
    fake_upstream.publish_release("lib-a", "1.0", tmpdir=build, upload_time=OLD)
    fake_upstream.publish_release("torch", "9.9", tmpdir=build, upload_time=OLD)
    gpu_build = tmp_path / "gpu"
    gpu.publish_release(
        "torch", "2.0", tmpdir=gpu_build, upload_time="absent", deps=["nvidia-cublas"]
    )
    gpu.publish_release("nvidia-cublas", "12.0", tmpdir=gpu_build, upload_time="absent")
    routed = {
        "name": "gpu",
        "url": gpu.simple_url,
        "projects": ["torch", "nvidia-*"],
        "missing_upload_time": "first-seen",
        "quarantine": "0s",
    }
    mirror = start_mirror(upstream={"indexes": [routed, {"name": "default"}]})
    # Aged from first sight at once, the gpu files still wait for a scheduler cycle to
    # inspect their content.
    for project, filename in (("torch", b"torch-2.0"), ("nvidia-cublas", b"nvidia_cublas-12.0")):
        deadline = time.monotonic() + 30
        while filename not in mirror.get(f"/simple/{project}/").data:
            assert time.monotonic() < deadline, mirror.logs()[-3000:]
            time.sleep(0.2)
    return mirror


def never_asked_for_torch(default: FakeUpstream) -> bool:
    return not [path for path in default.requests if "torch" in path or "nvidia" in path]


def test_pip_resolves_across_indexes(
    routed_mirror: RunningMirror, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    result = pip_install(routed_mirror, tmp_path / "t", "app-pkg")
    assert result.returncode == 0, result.stderr
    assert installed(tmp_path / "t") == EXPECTED
    assert never_asked_for_torch(fake_upstream)


def test_uv_resolves_across_indexes(
    routed_mirror: RunningMirror, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    target = tmp_path / "uv-target"
    result = run(uv_install_command(routed_mirror.index_url, target, "app-pkg"))
    assert result.returncode == 0, result.stderr
    assert installed(target) == EXPECTED
    assert never_asked_for_torch(fake_upstream)


def test_poetry_resolves_across_indexes(
    routed_mirror: RunningMirror, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    project, env = poetry_project(tmp_path, routed_mirror.index_url)
    locked = run(["poetry", "lock"], cwd=project, **env)
    assert locked.returncode == 0, locked.stdout + locked.stderr
    done = run(["poetry", "install", "--no-interaction"], cwd=project, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    site = next((project / ".venv" / "lib").glob("python*/site-packages"))
    assert installed(site) >= EXPECTED
    assert never_asked_for_torch(fake_upstream)
