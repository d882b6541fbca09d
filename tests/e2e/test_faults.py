"""Faults of the machine a running mirror sits on: a full disk, processes killed mid-download."""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.processes import stop_process
from tests.support.running_mirror import RunningMirror

OLD = datetime.now(UTC) - timedelta(days=30)
DISK_MB = 40


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of ``DISK_MB`` MB, unmounted after the test (mounting needs root)."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    yield where
    subprocess.run(["umount", "--lazy", str(where)], check=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; deleting it frees the space again."""
    filler = disk / "filler"
    chunk = b"\0" * (1 << 20)
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    # The last partial chunk: whatever is left, down to the last block.
    with filler.open("ab", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 512)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


@pytest.mark.slow
def test_a_full_disk_keeps_reads_working_and_answers_writes_503(
    start_mirror: Callable[..., RunningMirror],
    fake_upstream: FakeUpstream,
    small_disk: Path,
    tmp_path: Path,
) -> None:
    build = tmp_path / "build"
    wheel = fake_upstream.publish_release("demo", "1.0", tmpdir=build, upload_time=OLD)
    fake_upstream.publish_release("later", "1.0", tmpdir=build, upload_time=OLD)
    mirror = start_mirror(data_dir=small_disk / "data", server={"workers": 2, "threads": 4})
    try:
        reads = ["/simple/demo/", f"/packages/demo/{wheel.filename}", "/tuf/metadata/1.root.json"]
        for path in reads:
            assert mirror.get(path).status == 200, path
        filler = fill(small_disk)
        # Many requests to many routes, so that every worker and thread meets the full disk,
        # also in what it records for the first time (a route's first metrics).
        others = ["/simple/", "/readyz", "/metrics", "/api/v1/openapi.json", "/simple/nothing"]
        for _ in range(20):
            for path in others:
                assert mirror.get(path).status < 500, path
            for path in reads:
                response = mirror.get(path)
                assert response.status == 200, (path, response.status, response.data[:300])
        first_look = mirror.get("/simple/later/")
        assert first_look.status == 503, first_look.data[:300]
        assert first_look.data.startswith(b"disk full: "), first_look.data[:300]
        assert first_look.headers["Retry-After"]
        for path in reads:
            assert mirror.get(path).status == 200, path
        assert "SIGBUS" not in mirror.logs() and "was sent" not in mirror.logs()
        filler.unlink()
        assert mirror.get("/simple/later/").status == 200
    finally:
        stop_process(mirror.process)


@pytest.mark.slow
def test_serve_removes_what_killed_processes_left_in_staging(
    start_mirror: Callable[..., RunningMirror], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    staging = data / "tmp"
    staging.mkdir(parents=True)
    left = [staging / "dl-x1.part", staging / "put-x2", staging / f"{'cd' * 32}.lock"]
    for path in left:
        path.write_bytes(b"partial")
    mirror = start_mirror(data_dir=data)
    assert mirror.get("/simple/").status == 200
    assert not any(path.exists() for path in left)
