"""Through a real `mirror serve`: pip's downloads are audited (and flushed when the server
stops), and an advisory import stops pip installing a release that was admitted."""

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.test_clients import installed, pip_install
from tests.support.fake_upstream import FakeUpstream
from tests.support.osv import malicious, write_json
from tests.support.processes import stop_process
from tests.support.running_mirror import RunningMirror

pytestmark = pytest.mark.slow  # runs pip

OLD = datetime.now(UTC) - timedelta(days=30)
WHEEL = "demo-1.0-py3-none-any.whl"


def test_pip_download_is_audited_and_flushed_when_the_server_stops(
    start_mirror,  # type: ignore[no-untyped-def]
    fake_upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path / "b", upload_time=OLD)
    # An hour-long interval and a huge batch: only the flush at worker exit can write the row.
    mirror = start_mirror(audit={"flush_interval": "1h", "batch_size": 100000})
    result = pip_install(mirror, tmp_path / "t", "demo==1.0")
    assert result.returncode == 0, result.stderr
    assert installed(tmp_path / "t") == {"demo-1.0.dist-info"}
    assert "no downloads" in mirror.cli("audit", "downloads", "demo==1.0").stdout
    stop_process(mirror.process)
    assert mirror.process.returncode == 0, mirror.logs()[-3000:]
    table = mirror.cli("audit", "downloads", "Demo==1.0").stdout.splitlines()
    assert table[0].split() == ["TIME", "TOKEN", "PIPELINE", "ADDRESS", "USER", "AGENT", "FILE"]
    (row,) = table[1:]
    assert row.endswith(WHEEL)
    assert " - " in row and "127.0.0.1" in row  # anonymous read, from this machine
    assert "pip/" in row and f'CPython","version":"{sys.version.split()[0]}' in row


def audited(mirror: RunningMirror, release: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        table = mirror.cli("audit", "downloads", release).stdout
        if "no downloads" not in table:
            return table
        time.sleep(0.2)
    raise AssertionError(f"no download of {release} recorded")


def test_advisory_import_stops_pip_installing_an_admitted_release(
    start_mirror,  # type: ignore[no-untyped-def]
    fake_upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    for version in ("1.0", "2.0"):
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path / "b", upload_time=OLD)
    mirror = start_mirror()
    assert pip_install(mirror, tmp_path / "t1", "demo==2.0").returncode == 0
    # The default one-second interval: the record shows while the server runs.
    assert "demo-2.0-py3-none-any.whl" in audited(mirror, "demo==2.0")
    advisory = write_json(
        tmp_path / "MAL-2026-21.json", malicious("MAL-2026-21", "demo", versions=["2.0"])
    )
    imported = mirror.cli("advisories", "import", str(advisory)).stdout
    assert "1 new" in imported and "demo-2.0-py3-none-any.whl" in imported
    refused = pip_install(mirror, tmp_path / "t2", "demo==2.0")
    assert refused.returncode != 0
    assert "No matching distribution found for demo==2.0" in refused.stderr
    assert pip_install(mirror, tmp_path / "t3", "demo").returncode == 0
    assert installed(tmp_path / "t3") == {"demo-1.0.dist-info"}
    listing = mirror.cli("advisories", "list", "demo").stdout
    assert listing.startswith("MAL-2026-21\tmalicious\t")
    blocked = mirror.cli("review", "list", "--state", "blocked").stdout
    assert blocked.splitlines()[1].split()[:3] == ["demo", "2.0", "1"]
    assert "Malicious code in demo" in blocked
    shown = mirror.cli("review", "show", "demo", "2.0").stdout
    assert (
        "state: blocked (blocked: Malicious code in demo (PyPI)) by advisory:MAL-2026-21" in shown
    )
    assert "  MAL-2026-21 (malicious): Malicious code in demo (PyPI)" in shown
    assert "advisories: none" in mirror.cli("review", "show", "demo", "1.0").stdout
