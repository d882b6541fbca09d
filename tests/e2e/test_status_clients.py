"""pip and uv install through a running mirror whose pages say index API 1.4 and carry PEP 792
status markers, and a refused file answers a problem over the real server
(docs/admission.md, "Project status", "Problem types")."""

import json
import sys
from pathlib import Path

import pytest

from tests.e2e.test_clients import installed, pip_install, run
from tests.support.fake_upstream import FakeUpstream

pytestmark = pytest.mark.slow  # runs gunicorn, pip and uv


def test_pip_and_uv_install_from_1_4_pages_with_status_markers(
    start_mirror,  # type: ignore[no-untyped-def]
    tree: FakeUpstream,
    tmp_path: Path,
) -> None:
    tree.set_status("lib-a", "archived", "no more releases")
    tree.set_status("lib-b", "deprecated", "use lib-c")
    mirror = start_mirror()
    for accept in ("application/vnd.pypi.simple.v1+json", "text/html"):
        assert mirror.get("/simple/lib-a/", headers={"Accept": accept}).status == 200
    page = json.loads(
        mirror.get("/simple/lib-a/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}).data
    )
    assert page["meta"]["api-version"] == "1.4"
    assert page["project-status"] == {"status": "archived", "reason": "no more releases"}
    html = mirror.get("/simple/lib-b/", headers={"Accept": "text/html"}).data.decode()
    assert '<meta name="pypi:project-status" content="deprecated">' in html

    result = pip_install(mirror, tmp_path / "pip", "app-pkg")
    assert result.returncode == 0, result.stderr
    assert {"lib_a-1.0.dist-info", "lib_b-0.5.dist-info"} <= installed(tmp_path / "pip")
    target = tmp_path / "uv"
    uv = ["uv", "pip", "install", "--no-cache", "--target", str(target), "--python"]
    result = run([*uv, sys.executable, "--index-url", mirror.index_url, "app-pkg"])
    assert result.returncode == 0, result.stderr
    assert {"lib_a-1.0.dist-info", "lib_b-0.5.dist-info"} <= installed(target)

    held = mirror.get(
        "/packages/lib-a/lib_a-2.0-py3-none-any.whl",
        headers={"Accept": "application/problem+json"},
    )
    assert held.status == 404
    problem = json.loads(held.data)
    assert problem["type"] == "/problems/held"
    why = mirror.cli("why", "lib-a==2.0", check=False)
    assert why.returncode == 1
    assert why.stdout.splitlines()[0].endswith(problem["detail"].split(": ", 1)[1])
