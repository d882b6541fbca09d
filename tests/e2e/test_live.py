"""Through the real public index (pip's built-in default upstream). Skipped when unreachable."""

import subprocess
import sys
from pathlib import Path

import pytest
import urllib3

from mirror.upstream.location import default_upstream
from tests.support.processes import client_env

pytestmark = pytest.mark.live


@pytest.fixture
def live_upstream() -> str:
    url = default_upstream({})
    try:
        response = urllib3.request("GET", url + "iniconfig/", timeout=5, retries=False)
    except urllib3.exceptions.HTTPError as exc:
        pytest.skip(f"live upstream unreachable ({exc.__class__.__name__}); needs the network")
    if response.status != 200:
        pytest.skip(f"live upstream answered {response.status}")
    return url


def test_install_a_real_package_through_the_mirror(
    start_mirror,
    live_upstream: str,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    mirror = start_mirror(upstream_url=live_upstream)
    target = tmp_path / "t"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-cache-dir",
            "--target",
            str(target),
            "--index-url",
            mirror.index_url,
            "iniconfig==2.0.0",
        ],
        env=client_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert (target / "iniconfig-2.0.0.dist-info").is_dir()
    page = mirror.get(
        "/simple/iniconfig/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    ).json()
    assert all(f["url"].startswith("../../packages/iniconfig/") for f in page["files"])
