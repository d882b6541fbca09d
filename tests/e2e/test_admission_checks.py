"""Admission checks through a running `mirror serve`: a .pth payload never reaches pip, and
verified provenance is served onward."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin

import pytest

from mirror.pipeline.install import signed_publishers
from mirror.pipeline.requirements import Pin
from tests.support import dists
from tests.support.fake_upstream import FakeUpstream
from tests.support.processes import client_env
from tests.support.running_mirror import RunningMirror
from tests.support.shared_fixtures import fixtures_dir
from tuf_repo import MirrorClient

OLD = datetime.now(UTC) - timedelta(days=30)
SDIST = "pypi_attestations-0.0.19.tar.gz"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=client_env(), capture_output=True, text=True, timeout=240)


def pip_install(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--no-cache-dir",
        "--disable-pip-version-check",
        *args,
    )


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A fresh virtual environment's interpreter: where a .pth payload would run."""
    made = run(sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv"))
    assert made.returncode == 0, made.stderr
    return tmp_path / "venv" / "bin" / "python"


@pytest.mark.slow
@pytest.mark.parametrize(
    "member",
    [
        "demo_hook.pth",
        # The same file by paths that installers also put in site-packages' top level.
        "demo/../demo_hook.pth",
        "./demo_hook.pth",
        "demo-1.1.data/purelib/sub/../demo_hook.pth",
        "demo\\..\\demo_hook.pth",  # on POSIX a top-level file of that very name
    ],
)
def test_a_release_adding_an_executable_pth_never_reaches_pip(
    start_mirror,  # type: ignore[no-untyped-def]
    fake_upstream: FakeUpstream,
    venv: Path,
    tmp_path: Path,
    member: str,
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path / "build", upload_time=OLD)
    mirror: RunningMirror = start_mirror(policy={"quarantine": "0"})
    first = pip_install(venv, "--index-url", mirror.index_url, "demo")
    assert first.returncode == 0, first.stderr
    marker = tmp_path / "payload-ran"
    payload = dists.marker_pth_wheel(tmp_path / "build", "demo", "1.1", marker, member=member)
    fake_upstream.add_file("demo", payload, upload_time="now", metadata=True)

    mirror.cli("sync", "demo")

    refused = pip_install(venv, "--index-url", mirror.index_url, "demo==1.1")
    assert refused.returncode != 0
    assert "No matching distribution found for demo==1.1" in refused.stderr
    upgrade = pip_install(venv, "--index-url", mirror.index_url, "--upgrade", "demo")
    assert upgrade.returncode == 0, upgrade.stderr
    assert run(str(venv), "-c", "import demo; print(demo.__version__)").stdout.strip() == "1.0"
    assert not marker.exists()
    shown = mirror.cli("review", "show", "demo", "1.1").stdout
    assert "state: quarantined" in shown
    assert f"executable-pth: {member} " in shown
    assert "runs code at every Python start" in shown
    # The control: the same wheel installed directly does run its payload.
    direct = pip_install(venv, "--no-index", "--no-deps", str(payload))
    assert direct.returncode == 0, direct.stderr
    run(str(venv), "-c", "pass")
    assert marker.read_text() == "ran"


def test_verified_provenance_is_served_onward(
    start_mirror,  # type: ignore[no-untyped-def]
    fake_upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    pep740 = fixtures_dir("pep740")
    provenance = (pep740 / f"{SDIST}.provenance.json").read_bytes()
    fake_upstream.add_file(
        "pypi-attestations",
        (pep740 / SDIST).read_bytes(),
        filename=SDIST,
        upload_time=datetime(2024, 12, 4, 23, 14, 4, tzinfo=UTC),
        provenance=provenance,
    )
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    mirror: RunningMirror = start_mirror(provenance={"offline": True})

    page_path = "/simple/pypi-attestations/"
    response = mirror.get(page_path, headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    document = json.loads(response.data)
    assert document["meta"]["api-version"] == "1.4"
    (entry,) = document["files"]
    link = entry["provenance"]
    assert link == f"../../packages/pypi-attestations/{SDIST}.provenance"
    copy = mirror.get(urljoin(page_path, link))
    assert copy.status == 200
    assert copy.data == provenance
    html = mirror.get(page_path).data.decode()
    assert f'data-provenance="{link}"' in html
    # What `mirror install --sbom` records as the publisher of a file it installed: read from
    # the copy as a TUF target, signed like the file (the scheduler's batch after the page's).
    root = mirror.get("/tuf/metadata/1.root.json").data
    client = MirrorClient(f"{mirror.url}/", root, tmp_path / "tuf")
    pin = Pin("pypi-attestations", "0.0.19", (), frozenset(), 1)
    target = f"packages/pypi-attestations/{SDIST}"
    assert signed_publishers(client, pin, target) == [
        {"kind": "GitHub", "repository": "trailofbits/pypi-attestations", "workflow": "release.yml"}
    ]
    assert client.fetch_bytes(f"{target}.provenance") == provenance
    demo = json.loads(mirror.get("/simple/demo/?format=application/vnd.pypi.simple.v1+json").data)
    assert demo["files"][0]["provenance"] is None
    unverified = mirror.get("/packages/demo/demo-1.0-py3-none-any.whl.provenance")
    assert unverified.status == 404
