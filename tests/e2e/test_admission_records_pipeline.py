"""The admission record through the pipeline: `mirror install --sbom` records each file's signed
record, and `mirror verify-sbom` later reports what the mirror no longer admits."""

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_tuf_pipeline import LIB_B, PINNED, Pipeline
from tests.support.fake_upstream import FakeUpstream
from tests.support.intoto_shape import check_vsa_statement
from tests.support.processes import client_env
from tests.support.tuf_clients import plain_updater

pytestmark = pytest.mark.slow  # runs `mirror install`, which runs pip


@pytest.fixture
def pipeline(start_mirror, tree: FakeUpstream, tmp_path: Path) -> Pipeline:  # type: ignore[no-untyped-def]
    # The scheduler's watch signs what first downloads leave due (the next cycle is an hour
    # away): the pins are history, recorded once installed (docs/tuf.md, "Admission records").
    return Pipeline(start_mirror(scheduler={"interval": "1h"}), tmp_path)


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


def tuf_requests(pipeline: Pipeline, records: int) -> list[dict[str, Any]]:
    """The TUF target requests in the access log, in the order they were answered, once it
    lists ``records`` admission records (the workers write it about half a second late)."""
    deadline = time.monotonic() + 10
    while True:
        entries = [
            json.loads(line)
            for line in pipeline.mirror.logs().splitlines()
            if line.startswith("{") and '"/tuf/targets/packages/' in line
        ]
        fetched = [e for e in entries if e["method"] == "GET" and e["status"] == 200]
        if sum(e["path"].endswith(".admission") for e in fetched) >= records:
            return sorted(fetched, key=lambda e: str(e["time"]))
        assert time.monotonic() < deadline, entries
        time.sleep(0.2)


def test_history_pins_get_their_records_after_all_files_are_downloaded(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """History has no record until its first download gives it a row: the records all come
    in the batch after the downloads, which the client waits for once, not once per pin."""
    up = plain_updater(pipeline.mirror.url, pipeline.root.read_bytes(), tmp_path / "ngclient")
    up.refresh()
    assert up.get_targetinfo(f"packages/lib-b/{LIB_B}") is not None
    assert up.get_targetinfo(f"packages/lib-b/{LIB_B}.admission") is None  # not installed yet

    sbom = tmp_path / "sbom.json"
    result, _ = pipeline.install(PINNED, "--sbom", str(sbom))

    assert result.returncode == 0, result.stderr
    components = json.loads(sbom.read_text())["components"]
    assert len(components) == 3
    for component in components:
        properties = {p["name"]: p["value"] for p in component["properties"]}
        assert properties["signed-mirror:admission-record:sha256"], component["name"]
    paths = [e["path"] for e in tuf_requests(pipeline, records=3)]
    files = [i for i, path in enumerate(paths) if path.endswith(".whl")]
    records = [i for i, path in enumerate(paths) if path.endswith(".admission")]
    assert len(files) == 3 and len(records) == 3, paths
    assert max(files) < min(records), paths  # every file first, then every record
    progress = result.stdout.splitlines()
    verified = [i for i, line in enumerate(progress) if line.startswith("verified ")]
    recorded = [i for i, line in enumerate(progress) if line.startswith("admission record ")]
    assert len(verified) == 3 and len(recorded) == 3, progress
    assert max(verified) < min(recorded), progress
