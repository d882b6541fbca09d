"""Cost of the admission checks: PEP 740 verification per file, content inspection, first look.

Run from the repository root: ``python -m bench.admission_checks [--files N]``. It needs the
real attestations in ../shared/fixtures/pep740 and prints one JSON object of measurements.
Sigstore's trust root is the one the installed sigstore ships (offline); XDG dirs are
temporary, so no user cache is read.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# The repository's parent, where the real test data sits beside the checkout.
PEP740 = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "pep740"
SDIST = "pypi_attestations-0.0.19.tar.gz"


def _ms(action: Callable[[], object], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(times), 2), "max_ms": round(max(times), 2)}


def verification(repeat: int) -> dict[str, Any]:
    from mirror.checks import provenance

    dist = (PEP740 / SDIST).read_bytes()
    body = (PEP740 / f"{SDIST}.provenance.json").read_bytes()
    import hashlib

    digest = hashlib.sha256(dist).hexdigest()
    trust = provenance.TrustConfig(offline=True)
    now = datetime.now(UTC)

    def verify() -> None:
        result = provenance.verify_provenance(
            SDIST, digest, body, expected=None, trust=trust, now=now
        )
        assert result.status == "verified", result.reason

    start = time.perf_counter()
    verify()  # builds and caches the verifier (reads and parses the trust root)
    first = (time.perf_counter() - start) * 1000
    return {"first_call_ms": round(first, 2), "warm": _ms(verify, repeat)}


def inspection(work: Path, repeat: int) -> dict[str, Any]:
    from mirror.checks.content import inspect_distribution
    from tests.support import dists

    members = {f"pkg/module_{i}.py": b"x = 1\n" * 50 for i in range(2000)}
    wheel = dists.build_wheel(work, "bigpkg", "1.0", files=members)
    result = _ms(lambda: inspect_distribution(wheel.name, wheel), repeat)
    return {"wheel_members": len(members) + 4, "wheel_bytes": wheel.stat().st_size, **result}


def first_look(work: Path, count: int) -> dict[str, Any]:
    """Time to answer the first page request for a project with ``count`` historic files."""
    from mirror.app import create_app
    from mirror.config import load_config
    from mirror.server import initialise
    from mirror.services.backends import Backends
    from tests.support.fake_upstream import FakeUpstream

    old = datetime.now(UTC) - timedelta(days=400)
    with FakeUpstream() as upstream:
        provenance = (PEP740 / f"{SDIST}.provenance.json").read_bytes()
        for i in range(count):
            upstream.add_file(
                "demo",
                f"sdist {i}".encode(),
                filename=f"demo-1.{i}.tar.gz",
                upload_time=old + timedelta(hours=i),
                provenance=provenance,
            )
        config_path = work / "mirror.toml"
        config_path.write_text(
            f'[upstream]\nurl = "{upstream.simple_url}"\n[storage]\npath = "{work / "data"}"\n'
            "[provenance]\noffline = true\n"
        )
        config = load_config(config_path, env={})
        initialise(config)
        backends = Backends.from_config(config)
        client = create_app(config, backends).test_client()
        start = time.perf_counter()
        response = client.get(
            "/simple/demo/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        )
        elapsed = (time.perf_counter() - start) * 1000
        hits = upstream.requests
    return {
        "files": count,
        "first_request_ms": round(elapsed, 1),
        "status": response.status_code,
        "provenance_fetches": sum(n for p, n in hits.items() if p.startswith("/integrity/")),
        "file_downloads": sum(n for p, n in hits.items() if p.startswith("/files/")),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000, help="historic files for first look")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    if not PEP740.is_dir():
        print(f"needs {PEP740}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")
        os.environ["XDG_DATA_HOME"] = str(work / "data-home")
        results = {
            "verify_provenance": verification(args.repeat),
            "inspect_wheel": inspection(work, max(5, args.repeat // 10)),
            "first_look": first_look(work, args.files),
        }
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
