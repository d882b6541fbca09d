"""Scaled out for real: `mirror serve` nodes and `mirror worker` processes sharing one PostgreSQL
database and one S3 bucket (SeaweedFS), with the fake upstream behind them.

The worker alone holds TUF keys; the nodes hold none, so every signature comes from a worker.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import urllib3

from mirror.storage import blob_key
from tests.support.config_files import write_config
from tests.support.fake_upstream import FakeUpstream
from tests.support.fixtures import S3Bucket
from tests.support.processes import client_env
from tests.support.running_mirror import RunningMirror
from tests.support.tuf_clients import plain_updater

pytestmark = [pytest.mark.scaled, pytest.mark.slow]

OLD = datetime.now(UTC) - timedelta(days=30)
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
WAIT = 90  # seconds any background step (a worker's publish, a node's start) may take


def wait_for(
    what: str, check: Callable[[], Any], timeout: float = WAIT, interval: float = 0.2
) -> Any:
    """Poll ``check`` every ``interval`` seconds until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Cluster:
    """Shared settings of one scaled deployment, and the processes started on it."""

    tmp_path: Path
    bucket: S3Bucket
    database_url: str
    upstream: FakeUpstream
    start_mirror: Callable[..., RunningMirror]
    workers: list[Worker] = field(default_factory=list)

    def sections(self) -> dict[str, dict[str, Any]]:
        return {
            "database": {"url": self.database_url},
            "storage": self.bucket.storage_section(),
            "scheduler": {"interval": "1s"},
        }

    def node(self, **s3: Any) -> RunningMirror:
        """A `mirror serve` node with no scheduler and no keys."""
        sections = self.sections()
        sections["storage"] = self.bucket.storage_section(**s3)
        index = len(list(self.tmp_path.glob("node-keys-*")))
        keys = self.tmp_path / f"node-keys-{index}"
        keys.mkdir()
        return self.start_mirror(
            **sections, server={"scheduler": False}, tuf={"keys_dir": str(keys)}
        )

    def worker_config(self) -> Path:
        sections = self.sections()
        sections["storage"] = {"path": str(self.tmp_path / "worker-data")} | sections["storage"]
        # No download-ahead: single-flight is per host, so the worker's download ahead and a
        # client's own first download through a node may both fetch a file (docs/performance.md),
        # and these tests count upstream fetches across nodes.
        sections["upstream"] = {
            "url": self.upstream.simple_url,
            "timeout": "5s",
            "retries": 1,
            "download_ahead_max_bytes": 0,
        }
        sections["tuf"] = {"keys_dir": str(self.tmp_path / "worker-keys")}
        return write_config(self.tmp_path / "worker.toml", sections)

    def start_workers(self, count: int) -> list[Worker]:
        """Start ``count`` workers at once; return when the repository is bootstrapped."""
        config = self.worker_config()
        started = []
        for _ in range(count):
            log_path = self.tmp_path / f"worker-{len(self.workers)}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "mirror", "--config", str(config), "worker"],
                    env=client_env(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            worker = Worker(process, log_path)
            self.workers.append(worker)
            started.append(worker)
        wait_for("the TUF repository", lambda: self.metadata_names(r"timestamp\.json"))
        return started

    def metadata_names(self, pattern: str) -> list[str]:
        names = [k.removeprefix("tuf/metadata/") for k in self.bucket.keys("tuf/metadata/")]
        return [n for n in names if re.fullmatch(pattern, n)]

    def root(self) -> bytes:
        config = str(self.worker_config())
        result = subprocess.run(
            [sys.executable, "-m", "mirror", "--config", config, "keys", "export-root"],
            env=client_env(),
            capture_output=True,
            check=True,
            timeout=120,
        )
        return result.stdout

    def stop(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                os.killpg(worker.process.pid, signal.SIGTERM)
                worker.process.wait(timeout=60)


@pytest.fixture
def cluster(
    tmp_path: Path,
    s3_bucket: S3Bucket,
    postgres_url: str,
    fake_upstream: FakeUpstream,
    start_mirror: Callable[..., RunningMirror],
) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, s3_bucket, postgres_url, fake_upstream, start_mirror)
    yield cluster
    cluster.stop()


def served_files(node: RunningMirror, project: str) -> list[str] | None:
    """The filenames node lists for ``project``, or None while its page is not signed yet."""
    response = node.get(f"/simple/{project}/", headers={"Accept": SIMPLE_JSON})
    if response.status != 200:
        return None
    return [f["filename"] for f in json.loads(response.data)["files"]]


def pip_install(node: RunningMirror, requirement: str, target: Path) -> None:
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-cache-dir"]
    options = ["--disable-pip-version-check", "--target", str(target)]
    result = subprocess.run(
        [*pip, *options, "--index-url", node.index_url, requirement],
        env=client_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pip_installs_through_either_node_and_a_block_on_one_reaches_the_other(
    cluster: Cluster, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    cluster.start_workers(1)
    node_a = cluster.node()
    node_b = cluster.node(presign=True)  # files answered by a redirect to the bucket
    wait_for("demo signed on node A", lambda: served_files(node_a, "demo"))
    assert served_files(node_b, "demo") == ["demo-1.0-py3-none-any.whl"]

    pip_install(node_a, "demo==1.0", tmp_path / "via-a")
    pip_install(node_b, "demo==1.0", tmp_path / "via-b")
    assert (tmp_path / "via-a" / "demo" / "__init__.py").is_file()
    assert (tmp_path / "via-b" / "demo" / "__init__.py").is_file()
    redirect = node_b.get("/packages/demo/demo-1.0-py3-none-any.whl", redirect=False)
    assert redirect.status == 302
    assert redirect.headers["Location"].startswith(cluster.bucket.server.endpoint_url)
    assert fake_upstream.hits("/files/demo/demo-1.0-py3-none-any.whl") == 1  # fetched once

    blocked = node_a.cli("review", "block", "demo", "--reason", "compromised release")
    assert "left to the worker" in blocked.stdout
    wait_for("the block on node B", lambda: served_files(node_b, "demo") == [])
    file_url = "/packages/demo/demo-1.0-py3-none-any.whl"
    assert node_b.get(file_url).status == 404


def test_two_workers_started_at_once_publish_one_linear_history(
    cluster: Cluster, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    projects = [f"proj{i}" for i in range(6)]
    for project in projects:
        fake_upstream.publish_release(project, "1.0", tmpdir=tmp_path, upload_time=OLD)
    cluster.start_workers(2)
    node = cluster.node()
    for project in projects:  # each first look queues changes; either worker may sign them
        node.get(f"/simple/{project}/")
    for project in projects:
        wait_for(f"{project} signed", lambda p=project: served_files(node, p))

    # Every snapshot version exists once, numbered without a gap: nobody forked a version.
    versions = sorted(int(n.split(".")[0]) for n in cluster.metadata_names(r"\d+\.snapshot\.json"))
    assert versions == list(range(1, versions[-1] + 1)) and len(versions) > 1
    for worker in cluster.workers:
        assert "TUF publishing failed" not in worker.logs()

    # A plain TUF client, trusting the exported root, verifies every page and file.
    updater = plain_updater(node.url, cluster.root(), tmp_path / "tuf-client")
    updater.refresh()
    for project in projects:
        page = updater.get_targetinfo(f"simple/{project}/index.json")
        assert page is not None
        listed = json.loads(Path(updater.download_target(page)).read_text())
        wheel = listed["files"][0]["filename"]
        info = updater.get_targetinfo(f"packages/{project}/{wheel}")
        assert info is not None and updater.download_target(info)


def test_a_node_killed_while_storing_a_large_file_leaves_no_partial_object(
    cluster: Cluster, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    payload = os.urandom(48 << 20)  # three multipart parts
    fake = fake_upstream.publish_release(
        "big", "1.0", tmpdir=tmp_path, upload_time=OLD, files={"big/payload.bin": payload}
    )
    key = blob_key(hashlib.sha256(fake.content).hexdigest())
    cluster.start_workers(1)
    node_a, node_b = cluster.node(), cluster.node()
    wait_for("big signed", lambda: served_files(node_a, "big"))
    url = f"{node_a.url}/packages/big/{fake.filename}"
    client = subprocess.Popen(
        [sys.executable, "-c", f"import urllib.request; urllib.request.urlopen({url!r}).read()"],
        stderr=subprocess.DEVNULL,
    )
    try:
        s3 = cluster.bucket.server.client()
        prefix = f"{cluster.bucket.prefix}/{key}"

        def uploading() -> bool:
            found = s3.list_multipart_uploads(Bucket=cluster.bucket.name, Prefix=prefix)
            return bool(found.get("Uploads"))

        # The upload shows as soon as it starts; its parts take far longer than this poll.
        wait_for("node A's multipart upload", uploading, interval=0.01)
        os.killpg(node_a.process.pid, signal.SIGKILL)
        node_a.process.wait()
    finally:
        client.wait(timeout=60)
    assert key not in cluster.bucket.keys("blobs/")

    response = urllib3.request("GET", f"{node_b.url}/packages/big/{fake.filename}", timeout=300)
    assert response.status == 200 and response.data == fake.content
    assert key in cluster.bucket.keys("blobs/")
