"""Bytes on the wire for the page mix: each bench project's JSON and HTML page as sent to a
client that accepts nothing, gzip (pip) or zstd (uv), and the CPU of making each variant once.

Run from the repository root: ``python -m bench.wire_bytes [--tiny]``; prints JSON, and writes
it to bench/results/wire_bytes.json unless ``--tiny``.
"""

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import dataset, in_process, report
from mirror.app import create_app
from mirror.codings import CODINGS

RESULTS = Path(__file__).parent / "results" / "wire_bytes.json"
FORMS = {"json": "application/vnd.pypi.simple.v1+json", "html": "text/html"}


def measure(size: dataset.Size, work: Path) -> dict[str, Any]:
    with dataset.BenchUpstream() as upstream:
        dataset.populate(upstream, size, work / "upstream")
        backends = in_process.mirror_backends(upstream.simple_url, work)
        client = create_app(backends.config, backends).test_client()
        sent: dict[str, dict[str, int]] = {form: {} for form in FORMS}
        cpu: dict[str, float] = dict.fromkeys(CODINGS, 0.0)
        for project in dataset.project_names(size):
            for form, accept in FORMS.items():
                for coding in ("identity", *CODINGS):
                    headers = {"Accept": accept, "Accept-Encoding": coding}
                    started = time.process_time()
                    body = client.get(f"/simple/{project}/", headers=headers).data
                    if coding in cpu:  # the first request of a variant makes it
                        cpu[coding] += time.process_time() - started
                    sent[form][coding] = sent[form].get(coding, 0) + len(body)
    return {
        "projects": len(dataset.project_names(size)),
        "bytes": sent,
        "ratio_to_identity": {
            form: {c: round(n / by["identity"], 3) for c, n in by.items()}
            for form, by in sent.items()
        },
        "first_request_cpu_seconds": {c: round(s, 3) for c, s in cpu.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the smoke test's data set")
    args = parser.parse_args(argv)
    size = in_process.size_for(args.tiny)
    with tempfile.TemporaryDirectory(prefix="wire-bytes-") as work:
        result = measure(size, Path(work))
    report.publish(result, RESULTS, keep=not args.tiny)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
