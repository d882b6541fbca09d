"""CPU of first looks, step by step: what recording, deciding and publishing a project costs.

Run from the repository root: ``python -m bench.first_look [--tiny] [--gc-freeze]``. It fills
the benchmark's fake upstream (``bench/dataset.py``, in this process), then for every project
runs ``sync.refresh`` (fetch, parse, gather provenance, decide, render, build the inserts,
then write them) and signs its pages (``publish_pages``), as a client's first request does; then it
signs the files' targets of all of them in one batch (``publish_files``), as the scheduler does
once clients pause. It prints one JSON object: CPU seconds per step, summed over the projects.
Steps nest (``refresh`` contains ``record``, which contains ``record.judge``...).

The fake upstream serves its pages from a thread of this process, so ``fetch_page`` includes
the CPU it spends rendering them. Projects list from a dozen files to 3,001, so a least-squares
line through each project's recording CPU against its listed files splits ``record`` into what
a first look costs per project whatever its files (``record_fixed_ms_per_project``) and what
each listed file adds (``record_marginal_us_per_file``).

``--gc-freeze`` moves everything built before the first look (libraries, the fake upstream's
data) out of the collector's reach, as ``mirror serve``'s workers do once started: the full
collections a first look triggers then scan only what it made itself.
"""

import argparse
import collections
import functools
import gc
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import dataset, in_process
from mirror.db import file_rows
from mirror.services import evidence, fetching, first_look, pages, publish, state_changes, sync
from mirror.services import targets as service_targets
from mirror.upstream.client import UpstreamClient

# (owner, attribute, step name): what each step of a first look calls.
STEPS: list[tuple[Any, str, str]] = [
    (UpstreamClient, "fetch_page", "fetch_page"),
    (fetching, "parse_page", "parse"),
    (sync, "take_first_look", "record"),
    (evidence, "gather", "record.gather"),
    (state_changes, "judged", "record.judge"),
    (state_changes, "verdicts_by_filename", "record.judge.verdicts"),
    (pages, "render_pages", "record.render_pages"),
    (pages, "render", "record.render_pages.render"),
    (file_rows, "prepare_files", "record.build_inserts.files"),
    (state_changes, "prepare_first_look_events", "record.build_inserts.audit_events"),
    (service_targets, "prepare_first", "record.build_inserts.targets"),
    # The write transaction: all that waits for the database's write lock.
    (first_look.Plan, "record", "record.write"),
    # The files' targets, queued by the files' batch once clients pause.
    (pages, "queue_deferred_targets", "publish_files.queue_targets"),
]


def _timed(spent: dict[str, float], name: str, function: Callable[..., Any]) -> Any:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] += time.process_time() - start

    return timed


def measure(size: dataset.Size, work: Path, freeze: bool) -> dict[str, Any]:
    spent: dict[str, float] = collections.defaultdict(float)
    for owner, attribute, name in STEPS:
        setattr(owner, attribute, _timed(spent, name, getattr(owner, attribute)))
    with dataset.BenchUpstream() as upstream:
        data = dataset.populate(upstream, size, work / "upstream")
        backends = in_process.mirror_backends(upstream.simple_url, work)
        if freeze:
            gc.collect()
            gc.freeze()
        recorded = []  # (listed files, recording CPU) of each project
        for project in dataset.project_names(size):
            before = spent["record"]
            _timed(spent, "refresh", sync.refresh)(backends, project, inspect=False)
            recorded.append((data.listed[project], spent["record"] - before))
            _timed(spent, "publish_pages", publish.publish_now)(backends, project, pages_only=True)
        _timed(spent, "publish_files", publish.publish_now)(backends)
    files = sum(data.listed.values())  # the large file's project is not looked at
    marginal, fixed = statistics.linear_regression(*zip(*recorded, strict=True))
    return {
        "projects": size.projects,
        "files": files,
        "gc_freeze": freeze,
        "cpu_seconds": {name: round(seconds, 3) for name, seconds in sorted(spent.items())},
        "refresh_us_per_file": round(spent["refresh"] / files * 1e6, 1),
        # The mirror's own work after the page is fetched and parsed: what the target of
        # 10 us per historic file is about (bench/README.md, "Targets").
        "record_us_per_file": round(spent["record"] / files * 1e6, 1),
        "record_fixed_ms_per_project": round(fixed * 1e3, 2),
        "record_marginal_us_per_file": round(marginal * 1e6, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the smoke test's data set")
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() before the looks")
    args = parser.parse_args(argv)
    size = in_process.size_for(args.tiny)
    with tempfile.TemporaryDirectory(prefix="first-look-") as work:
        print(json.dumps(measure(size, Path(work), args.gc_freeze), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
