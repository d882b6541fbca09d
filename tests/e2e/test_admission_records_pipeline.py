"""The admission record through the pipeline: `mirror install --sbom` records each file's signed
record, and `mirror verify-sbom` later reports what the mirror no longer admits."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_tuf_pipeline import LIB_B, PINNED, Pipeline
from tests.support.fake_upstream import FakeUpstream
from tests.support.intoto_shape import check_vsa_statement
from tests.support.processes import client_env
from tests.support.tuf_clients import plain_updater

pytestmark = pytest.mark.slow  # runs `mirror install`, which runs pip


@pytest.fixture
def pipeline(start_mirror, tree: FakeUpstream, tmp_path: Path) -> Pipeline:  # type: ignore[no-untyped-def]
    return Pipeline(start_mirror(server={"scheduler": False}), tmp_path)


def verify_sbom(pipeline: Pipeline, sbom: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "mirror", "verify-sbom", str(sbom), "--root", str(pipeline.root),
        "--tuf-cache", str(pipeline.tmp / "cache"), *args,
    ]  # fmt: skip
    return subprocess.run(command, env=client_env(), capture_output=True, text=True, timeout=120)


def test_the_sbom_records_each_signed_admission_record_and_verify_sbom_reports_a_block(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    sbom = tmp_path / "sbom.json"
    result, _ = pipeline.install(PINNED, "--sbom", str(sbom))
    assert result.returncode == 0, result.stderr

    up = plain_updater(pipeline.mirror.url, pipeline.root.read_bytes(), tmp_path / "ngclient")
    up.refresh()
    components = {c["name"]: c for c in json.loads(sbom.read_text())["components"]}
    assert set(components) == {"app-pkg", "lib-a", "lib-b"}
    for name, component in components.items():
        properties = {p["name"]: p["value"] for p in component["properties"]}
        record = properties["signed-mirror:admission-record"]
        assert record == properties["signed-mirror:tuf-target"] + ".admission", name
        info = up.get_targetinfo(record)
        assert info is not None, record
        data = Path(up.download_target(info, filepath=str(tmp_path / name))).read_bytes()
        assert properties["signed-mirror:admission-record:sha256"] == info.hashes["sha256"]
        assert hashlib.sha256(data).hexdigest() == info.hashes["sha256"]
        statement = json.loads(data)
        check_vsa_statement(statement)
        assert statement["subject"][0]["digest"]["sha256"] == component["hashes"][0]["content"]

    checked = verify_sbom(pipeline, sbom)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.count("ok ") == 3, checked.stdout

    pipeline.mirror.cli("review", "block", "lib-b", "==0.5", "--reason", "credential stealer")
    checked = verify_sbom(pipeline, sbom)
    assert checked.returncode != 0, checked.stdout
    assert f"REFUSED lib-b==0.5 ({LIB_B}): no longer signed by the mirror" in checked.stdout
    assert "1 of 3 component(s) no longer admitted" in checked.stderr
    assert checked.stdout.count("ok ") == 2, checked.stdout
