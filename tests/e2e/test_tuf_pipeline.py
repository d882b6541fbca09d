"""The signed mirror end to end: a plain TUF client, `mirror install`, and attacks it refuses.

Each test runs a real `mirror serve`. The attacks change what the mirror serves the way an
intruder on the server or in between would (altered blobs, replayed or expired metadata, a
foreign key), and `mirror install` must refuse each one, name the requirement, and install
nothing.
"""

import hashlib
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Timestamp

from tests.support.fake_upstream import FakeUpstream
from tests.support.processes import client_env
from tests.support.running_mirror import RunningMirror
from tests.support.tuf_clients import plain_updater
from tuf_repo.keys import load_keyring

pytestmark = pytest.mark.slow  # runs `mirror install`, which runs pip

LIB_B = "lib_b-0.5-py3-none-any.whl"
PINNED = "app-pkg==1.0\nlib-a==1.0\nlib-b==0.5\n"


class Pipeline:
    """A running mirror, its pinned root, and `mirror install` against it."""

    def __init__(self, mirror: RunningMirror, tmp_path: Path) -> None:
        self.mirror = mirror
        self.tmp = tmp_path
        for project in ("app-pkg", "lib-a", "lib-b"):  # first requests sign the pages
            assert mirror.get(f"/simple/{project}/").status == 200
        mirror.cli("sync")  # and, as a worker would, the files' targets they queued
        self.root = tmp_path / "root.json"
        self.root.write_text(mirror.cli("keys", "export-root").stdout)
        self.metadata = mirror.data_dir / "tuf" / "metadata"
        self.runs = 0

    def install(
        self, requirements: str, *args: str, cache: str = "cache", pinned: bool = True
    ) -> tuple[subprocess.CompletedProcess[str], Path]:
        self.runs += 1
        reqs = self.tmp / f"requirements-{self.runs}.txt"
        reqs.write_text(requirements)
        target = self.tmp / f"site-{self.runs}"
        command = [
            sys.executable, "-m", "mirror", "install", "-r", str(reqs),
            "--index-url", self.mirror.index_url,
            *(["--root", str(self.root)] if pinned else ["--trust-on-first-use"]),
            "--tuf-cache", str(self.tmp / cache), "--python", sys.executable,
            "--target", str(target), *args,
        ]  # fmt: skip
        result = subprocess.run(
            command, env=client_env(), capture_output=True, text=True, timeout=240
        )
        return result, target

    def blob_path(self, sha256: str) -> Path:
        return self.mirror.data_dir / "blobs" / "sha256" / sha256[:2] / sha256

    def page_sha256(self, project: str) -> str:
        response = self.mirror.get(
            f"/simple/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        )
        return hashlib.sha256(response.data).hexdigest()


@pytest.fixture
def pipeline(start_mirror, tree: FakeUpstream, tmp_path: Path) -> Pipeline:  # type: ignore[no-untyped-def]
    # No scheduler: the attacks below must not be repaired by a re-signing cycle mid-test.
    return Pipeline(start_mirror(server={"scheduler": False}), tmp_path)


@pytest.fixture
def signing_pipeline(start_mirror, tree: FakeUpstream, tmp_path: Path) -> Pipeline:  # type: ignore[no-untyped-def]
    # The scheduler's watch signs what downloads leave due, as under `mirror serve`: `--sbom`
    # waits for the admission records of history files first installed (docs/tuf.md).
    return Pipeline(start_mirror(scheduler={"interval": "1h"}), tmp_path)


def installed(target: Path) -> set[str]:
    return {p.name for p in target.glob("*.dist-info")}


def refused(result: subprocess.CompletedProcess[str], target: Path, *phrases: str) -> None:
    assert result.returncode != 0, result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("mirror: error")]
    assert len(errors) == 1, result.stderr
    for phrase in phrases:
        assert phrase in errors[0], errors[0]
    assert not installed(target)


def test_a_plain_tuf_client_verifies_the_mirror(pipeline: Pipeline, tmp_path: Path) -> None:
    up = plain_updater(pipeline.mirror.url, pipeline.root.read_bytes(), tmp_path / "ngclient")
    up.refresh()
    page = up.get_targetinfo("simple/lib-b/index.json")
    wheel = up.get_targetinfo(f"packages/lib-b/{LIB_B}")
    assert page is not None and wheel is not None
    page_bytes = Path(up.download_target(page, filepath=str(tmp_path / "page"))).read_bytes()
    wheel_bytes = Path(up.download_target(wheel, filepath=str(tmp_path / "whl"))).read_bytes()
    served = pipeline.mirror.get(
        "/simple/lib-b/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    assert page_bytes == served.data
    assert wheel_bytes == pipeline.mirror.get(f"/packages/lib-b/{LIB_B}").data


def test_the_scheduler_signs_what_a_first_look_queued_without_waiting_for_its_cycle(
    start_mirror, tree: FakeUpstream, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    mirror = start_mirror(scheduler={"interval": "1h"})  # the next cycle is an hour away
    root = mirror.cli("keys", "export-root").stdout.encode()
    # lib-b's wheel may be signed by the cycle the scheduler runs as it starts; once it is,
    # that cycle's batch is done, and only the follow-up can sign lib-a's.
    for project, wheel in (("lib-b", LIB_B), ("lib-a", "lib_a-1.0-py3-none-any.whl")):
        assert mirror.get(f"/simple/{project}/").status == 200  # the wheel is queued
        wait_until_signed(mirror, root, f"packages/{project}/{wheel}", tmp_path / project)


def wait_until_signed(mirror: RunningMirror, root: bytes, target: str, cache: Path) -> None:
    deadline = time.monotonic() + 60
    for attempt in range(1000):
        up = plain_updater(mirror.url, root, cache / str(attempt))
        up.refresh()
        if up.get_targetinfo(target) is not None:
            return
        assert time.monotonic() < deadline, f"{target} was not signed"
        time.sleep(0.5)


def test_install_a_pinned_set_and_write_its_sbom(signing_pipeline: Pipeline) -> None:
    pipeline = signing_pipeline
    lib_a = pipeline.mirror.get("/packages/lib-a/lib_a-1.0-py3-none-any.whl").data
    lib_b = pipeline.mirror.get(f"/packages/lib-b/{LIB_B}").data
    requirements = (
        "# the lock\napp-pkg==1.0\n"
        f"lib-a==1.0 --hash=sha256:{'0' * 64} \\\n"  # one pinned hash of several must match
        f"    --hash=sha256:{hashlib.sha256(lib_a).hexdigest()}\n"
        f"lib-b==0.5 --hash=sha256:{hashlib.sha256(lib_b).hexdigest()}\n"
        'never-needed==9.9 ; python_version < "3"\n'
    )
    result, target = pipeline.install(requirements, "--sbom", str(pipeline.tmp / "sbom.json"))
    assert result.returncode == 0, result.stderr
    assert installed(target) == {
        "app_pkg-1.0.dist-info",
        "lib_a-1.0.dist-info",
        "lib_b-0.5.dist-info",
    }
    sbom = json.loads((pipeline.tmp / "sbom.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    components = {c["name"]: c for c in sbom["components"]}
    assert set(components) == {"app-pkg", "lib-a", "lib-b"}
    b = components["lib-b"]
    assert b["version"] == "0.5"
    assert b["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256(lib_b).hexdigest()}]
    properties = {p["name"]: p["value"] for p in b["properties"]}
    assert properties["signed-mirror:tuf-target"] == f"packages/lib-b/{LIB_B}"
    assert_audited(pipeline.mirror, "app-pkg==1.0", "app_pkg-1.0-py3-none-any.whl")


def assert_audited(mirror: RunningMirror, release: str, filename: str) -> None:
    """`mirror audit downloads` lists the TUF client's download of ``filename`` (the workers
    write their records every second)."""
    deadline = time.monotonic() + 30
    while True:
        listed = mirror.cli("audit", "downloads", release).stdout
        if filename in listed:
            assert "python-tuf" in listed, listed  # the pipeline's client, through /tuf/targets/
            return
        assert time.monotonic() < deadline, listed
        time.sleep(0.5)


def test_trust_on_first_use_says_so(pipeline: Pipeline) -> None:
    result, target = pipeline.install(PINNED, pinned=False)
    assert result.returncode == 0, result.stderr
    digest = hashlib.sha256((pipeline.metadata / "1.root.json").read_bytes()).hexdigest()
    assert f"trusting the mirror's first root on first use (sha256 {digest})" in result.stdout
    assert "lib_b-0.5.dist-info" in installed(target)


def test_unpinned_requirements_are_refused(pipeline: Pipeline) -> None:
    result, target = pipeline.install("app-pkg==1.0\nlib-a>=1\nlib-b\n")
    refused(result, target, "not fully pinned", "lib-a>=1", "lib-b")


def test_a_quarantined_pin_fails_the_whole_install(pipeline: Pipeline) -> None:
    result, target = pipeline.install("app-pkg==1.0\nlib-a==2.0\nlib-b==0.5\n")
    refused(result, target, "nothing installed", "lib-a==2.0: ")
    error = result.stderr.split("mirror: error")[1]
    # The release API (readable anonymously on a loopback bind) gives the date.
    assert "lib-a==2.0: held until 20" in error
    assert "because younger than the quarantine of 7d" in error
    assert "lib-b" not in error


def test_altered_blob_is_refused(pipeline: Pipeline) -> None:
    data = pipeline.mirror.get(f"/packages/lib-b/{LIB_B}").data
    pipeline.blob_path(hashlib.sha256(data).hexdigest()).write_bytes(data[:-1] + b"!")
    result, target = pipeline.install(PINNED)
    refused(result, target, "lib-b==0.5", "length or hash mismatch")


def test_altered_page_is_refused(pipeline: Pipeline) -> None:
    path = pipeline.blob_path(pipeline.page_sha256("lib-a"))
    page = json.loads(path.read_bytes())
    page["files"] = []
    path.write_text(json.dumps(page))
    result, target = pipeline.install(PINNED)
    refused(result, target, "lib-a==1.0", "simple/lib-a/index.json", "mismatch")


def test_replayed_timestamp_and_snapshot_are_refused(pipeline: Pipeline) -> None:
    old_timestamp = (pipeline.metadata / "timestamp.json").read_bytes()
    assert pipeline.install(PINNED)[0].returncode == 0
    assert pipeline.mirror.get("/simple/extra/").status == 200  # a new snapshot
    assert pipeline.install(PINNED)[0].returncode == 0
    (pipeline.metadata / "timestamp.json").write_bytes(old_timestamp)
    result, target = pipeline.install(PINNED)
    refused(result, target, "rollback refused")


def test_metadata_left_to_expire_is_refused(pipeline: Pipeline) -> None:
    # The worker stopped two days ago: its last timestamp, validly signed, expired a day ago.
    keys = load_keyring(pipeline.mirror.data_dir / "keys")
    path = pipeline.metadata / "timestamp.json"
    stale = Metadata[Timestamp].from_bytes(path.read_bytes())
    stale.signed.version += 1
    stale.signed.expires = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    stale.signatures.clear()
    stale.sign(keys.online)
    path.write_bytes(stale.to_bytes())
    result, target = pipeline.install(PINNED)
    refused(result, target, "expired")


def test_target_removed_from_bins_is_refused_though_still_stored(pipeline: Pipeline) -> None:
    data = pipeline.mirror.get(f"/packages/lib-b/{LIB_B}").data
    pipeline.mirror.cli("review", "block", "lib-b", "==0.5", "--reason", "stolen credentials")
    assert pipeline.blob_path(hashlib.sha256(data).hexdigest()).exists()
    up = plain_updater(pipeline.mirror.url, pipeline.root.read_bytes(), pipeline.tmp / "ng")
    up.refresh()
    assert up.get_targetinfo(f"packages/lib-b/{LIB_B}") is None
    result, target = pipeline.install(PINNED)
    # The release API (docs/review.md, "The JSON API") tells the pipeline why.
    refused(result, target, "lib-b==0.5: blocked: stolen credentials")


def test_metadata_signed_by_a_key_not_in_root_is_refused(pipeline: Pipeline) -> None:
    path = pipeline.metadata / "timestamp.json"
    forged = Metadata[Timestamp].from_bytes(path.read_bytes())
    forged.signed.version += 1
    forged.signatures.clear()
    forged.sign(CryptoSigner.generate_ed25519())
    path.write_bytes(forged.to_bytes())
    result, target = pipeline.install(PINNED)
    refused(result, target, "bad signature")
