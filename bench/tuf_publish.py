"""Benchmark: TUF publishing at the mirror's scale (python-tuf, 256 hashed bins, local disk).

Measures, for each repository size: publishing every target from scratch in one batch, a batch
of 100 admissions into the full repository (each admission = a file, its ``.metadata`` and the
project's two pages; repeated ``BATCH_RUNS`` times on different projects, median reported with
every run and the publishing process's CPU time, as the machine may be shared), renewing every
online role, the size of the current metadata, and a fresh
client's refresh plus 20 verified lookups (python-tuf ngclient reading the files directly, so
the number is verification cost, not network).

``run()`` returns the numbers for the benchmark runner; ``python -m bench.tuf_publish`` prints
them as JSON (``--sizes 10000,100000``, ``--batch 100``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from securesystemslib.signer import CryptoSigner
from tuf.api.exceptions import DownloadHTTPError
from tuf.ngclient import FetcherInterface, Updater

from tests.support.metadata_store import MemoryMetadataStore
from tuf_repo.bins import TargetChange, index_html_path, index_json_path, package_path
from tuf_repo.keys import KeyRing
from tuf_repo.repository import bootstrap, publish, renew
from tuf_repo.store import DirectoryMetadataStore, MetadataStore

FILES_PER_PROJECT = 4  # with the two pages: 2 targets per file + 2 per project
LOOKUPS = 20
BATCH_RUNS = 5


def _keyring() -> KeyRing:
    offline = CryptoSigner.generate_ed25519()
    return KeyRing(
        online=CryptoSigner.generate_ed25519(),
        root=(CryptoSigner.generate_ed25519(),),
        targets=offline,
        bins=offline,
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _project_changes(project: str, versions: Sequence[int]) -> list[TargetChange]:
    changes = [
        TargetChange.add(index_html_path(project), 2_000, _digest(f"{project}.html{versions}")),
        TargetChange.add(index_json_path(project), 3_000, _digest(f"{project}.json{versions}")),
    ]
    for version in versions:
        wheel = package_path(project, f"{project}-{version}.0-py3-none-any.whl")
        changes.append(TargetChange.add(wheel, 250_000, _digest(wheel)))
        changes.append(TargetChange.add(wheel + ".metadata", 1_500, _digest(wheel + ".m")))
    return changes


def _targets(total: int) -> tuple[list[TargetChange], list[str]]:
    per_project = 2 + 2 * FILES_PER_PROJECT
    projects = [f"project-{i:06d}" for i in range(max(1, total // per_project))]
    changes = [
        change
        for project in projects
        for change in _project_changes(project, range(1, FILES_PER_PROJECT + 1))
    ]
    return changes[:total], projects


class _StoreFetcher(FetcherInterface):
    """Serves ``http://bench/tuf/metadata/<name>`` from a metadata store."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store

    def _fetch(self, url: str) -> Iterator[bytes]:
        name = unquote(urlsplit(url).path.rsplit("/", 1)[1])
        data = self.store.read(name)
        if data is None:
            raise DownloadHTTPError(f"{name} not found", 404)
        return iter([data])


def _client_refresh(store: MetadataStore, work: Path, paths: list[str]) -> float:
    (work / "meta").mkdir(parents=True)
    (work / "targets").mkdir()
    started = time.perf_counter()
    updater = Updater(
        str(work / "meta"),
        "http://bench/tuf/metadata/",
        str(work / "targets"),
        "http://bench/tuf/targets/",
        fetcher=_StoreFetcher(store),
        bootstrap=store.read("1.root.json"),
    )
    updater.refresh()
    for path in paths:
        if updater.get_targetinfo(path) is None:
            raise AssertionError(f"{path} missing from the signed metadata")
    return time.perf_counter() - started


def _size(store: MetadataStore, name: str) -> int:
    return len(store.read(name) or b"")


def _metadata_bytes(store: MetadataStore) -> dict[str, int]:
    timestamp = json.loads(store.read("timestamp.json") or b"")["signed"]
    snapshot = f"{timestamp['meta']['snapshot.json']['version']}.snapshot.json"
    meta = json.loads(store.read(snapshot) or b"")["signed"]["meta"]
    current = [f"{entry['version']}.{name}" for name, entry in meta.items()]
    bins = [_size(store, name) for name in current if ".bin-" in name]
    return {
        "current_total": sum(_size(store, n) for n in [*current, snapshot, "timestamp.json"]),
        "snapshot": _size(store, snapshot),
        "bin_min": min(bins),
        "bin_max": max(bins),
        "bin_mean": round(sum(bins) / len(bins)),
        "files_stored": len(store.list()),
    }


def _publish_batch(
    store: MetadataStore, keys: KeyRing, projects: Sequence[str], now: datetime
) -> tuple[int, int, float, float]:
    """Publish one admission per project: a new version's file and companion, and the
    project's two pages re-signed. Returns targets, bins touched, wall and CPU seconds."""
    admissions = [
        change
        for project in projects
        for change in _project_changes(project, range(1, FILES_PER_PROJECT + 2))
        if "index." in change.path or f"-{FILES_PER_PROJECT + 1}.0-" in change.path
    ]
    started, cpu_started = time.perf_counter(), time.process_time()
    result = publish(store, keys, admissions, now)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return len(admissions), len(result.bins), wall, cpu


def measure(total: int, batch: int, store_kind: str = "directory") -> dict[str, Any]:
    """Numbers for one repository of ``total`` targets.

    ``store_kind`` "directory" is the embedded default (every file fsynced); "memory" leaves
    out storage, so the difference is what the disk costs.
    """
    changes, projects = _targets(total)
    keys = _keyring()
    with tempfile.TemporaryDirectory(prefix="tuf-bench-") as tmp:
        store: MetadataStore = (
            DirectoryMetadataStore(Path(tmp, "metadata"))
            if store_kind == "directory"
            else MemoryMetadataStore()
        )
        now = datetime.now(UTC)
        started = time.perf_counter()
        bootstrap(store, keys, now)
        bootstrap_s = time.perf_counter() - started

        started = time.perf_counter()
        full = publish(store, keys, changes, now)
        scratch_s = time.perf_counter() - started

        runs = [
            _publish_batch(store, keys, projects[i * batch : (i + 1) * batch], now)
            for i in range(BATCH_RUNS)
        ]
        batch_targets, batch_bins, _, _ = runs[0]
        batch_s = statistics.median(wall for _, _, wall, _ in runs)

        started = time.perf_counter()
        # Every online role expires within a day, so this re-signs all of them.
        renewed = renew(store, keys, now, min_left=timedelta(days=2))
        renew_s = time.perf_counter() - started

        sizes = _metadata_bytes(store)
        lookups = [c.path for c in changes[:: max(1, len(changes) // LOOKUPS)]][:LOOKUPS]
        refresh_s = _client_refresh(store, Path(tmp, "client"), lookups)
    return {
        "targets": len(changes),
        "store": store_kind,
        "bootstrap_s": round(bootstrap_s, 3),
        "publish_from_scratch_s": round(scratch_s, 3),
        "publish_from_scratch_bins": len(full.bins),
        "batch_admissions": batch,
        "batch_targets": batch_targets,
        "batch_publish_s": round(batch_s, 3),
        "batch_publish_runs_s": [round(wall, 3) for _, _, wall, _ in runs],
        "batch_publish_cpu_s": [round(cpu, 3) for _, _, _, cpu in runs],
        "batch_bins": batch_bins,
        "renew_all_online_s": round(renew_s, 3),
        "renewed_roles": len(renewed),
        "metadata_bytes": sizes,
        "client_refresh_and_lookups_s": round(refresh_s, 3),
        "client_lookups": len(lookups),
    }


def run(sizes: Sequence[int] = (10_000, 100_000), batch: int = 100) -> dict[str, Any]:
    """Measure every size; the result is what ``bench/results/tuf_publish.json`` records."""
    return {
        "benchmark": "tuf_publish",
        "bins": 256,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": [
            measure(total, batch, kind) for total in sizes for kind in ("directory", "memory")
        ],
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated target counts")
    parser.add_argument("--batch", type=int, default=100, help="admissions in the small batch")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(json.dumps(run(sizes, args.batch), indent=2))


if __name__ == "__main__":
    main()
