"""Benchmarks for advisory import and the download audit. Not a test: prints numbers.

    python -m bench.advisories_audit [--advisories N] [--records N]

1. Importing N malicious-package advisories from one zip (a fresh database), then the same zip
   again (the idempotent path: everything unchanged).
2. The cost a request pays for the audit (``DownloadRecorder.record``), and the throughput of
   the background flush (batches of ``audit.batch_size`` rows in one INSERT) on SQLite.
"""

import argparse
import json
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from mirror.config import load_config
from mirror.server import initialise
from mirror.services import advisories, audit
from mirror.services.audit import Download, DownloadRecorder
from mirror.services.backends import Backends


def _backends(root: Path) -> Backends:
    config = load_config(
        None,
        env={"MIRROR_STORAGE_PATH": str(root), "MIRROR_UPSTREAM_URL": "http://127.0.0.1:9/"},
    )
    initialise(config)
    return Backends.from_config(config)


def _feed(path: Path, count: int) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for n in range(count):
            doc = {
                "id": f"MAL-2026-{n}",
                "modified": "2026-03-24T12:00:00Z",
                "summary": f"Malicious code in evil-{n} (PyPI)",
                "affected": [
                    {
                        "package": {"ecosystem": "PyPI", "name": f"evil-{n}"},
                        "versions": ["1.0.0", "1.0.1"],
                        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
                    }
                ],
                "database_specific": {"malicious-packages-origins": [{"source": "bench"}]},
            }
            archive.writestr(f"osv/malicious/pypi/evil-{n}/MAL-2026-{n}.json", json.dumps(doc))
    return path


def bench_import(root: Path, count: int) -> None:
    backends = _backends(root / "import")
    feed = _feed(root / "feed.zip", count)
    for label in ("first import", "re-import (unchanged)"):
        started = time.perf_counter()
        report = advisories.import_path(backends, feed)
        elapsed = time.perf_counter() - started
        print(
            f"{label}: {count} advisories in {elapsed:.2f} s ({count / elapsed:,.0f}/s); "
            f"new {len(report.added)}, unchanged {len(report.unchanged)}"
        )


def bench_audit(root: Path, records: int, batch_size: int = 500) -> None:
    backends = _backends(root / "audit")
    recorder = DownloadRecorder(backends.engine, interval=3600, batch_size=10**9)
    sample = Download(
        at=datetime.now(UTC),
        project="demo",
        version="1.0",
        filename="demo-1.0-py3-none-any.whl",
        token_id="tok_0123456789",
        remote_addr="10.1.2.3",
        user_agent='pip/26.0 {"ci":true,"implementation":{"name":"CPython"}}',
    )
    started = time.perf_counter()
    for _ in range(records):
        recorder.record(sample)
    per_record = (time.perf_counter() - started) / records
    print(f"record(): {per_record * 1e6:.2f} µs per served file ({records} calls)")
    recorder.close()
    flushes = 0
    started = time.perf_counter()
    for _ in range(records // batch_size):
        for _ in range(batch_size):
            recorder.record(sample)
        flushes += 1
        recorder.flush()  # what the background thread does once batch_size records wait
    elapsed = time.perf_counter() - started
    print(
        f"flush: {flushes * batch_size} rows in {flushes} batches of {batch_size}: "
        f"{elapsed:.2f} s ({flushes * batch_size / elapsed:,.0f} rows/s, "
        f"{elapsed / flushes * 1000:.1f} ms per batch)"
    )
    recorder.close()
    started = time.perf_counter()
    found = audit.downloads(backends, "demo", "1.0", limit=100)
    print(f"downloads() newest 100 of {records}: {(time.perf_counter() - started) * 1000:.1f} ms")
    assert len(found) == 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--advisories", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_import(Path(tmp), args.advisories)
        bench_audit(Path(tmp), args.records)


if __name__ == "__main__":
    main()
