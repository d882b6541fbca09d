"""Benchmark: warm ``/simple/<project>/`` throughput of one `mirror serve` node against two,
scaled out on PostgreSQL + S3 (SeaweedFS), all on this machine.

Starts a throw-away PostgreSQL cluster and SeaweedFS (``tests/support``), a fake upstream with
``--projects`` old releases, one `mirror worker` (the signer) and two nodes. Every page is
requested once through each node (so they are signed and cached), then ``wrk`` loads node A
alone, then both nodes at once with the same total connections. It also times the pieces one
warm page request is made of (the database lookup, the S3 HEAD and GET of the page blob), to
show where a request's time goes.

``python -m bench.scaled_throughput`` prints the numbers as JSON (``--seconds``,
``--connections``, ``--projects``). Needs ``wrk``, PostgreSQL's server binaries and ``weed``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import urllib3
from sqlalchemy import text

from mirror.db.engine import make_engine
from tests.support.config_files import write_config
from tests.support.fake_upstream import FakeUpstream
from tests.support.ports import free_port
from tests.support.postgres import running_postgres
from tests.support.processes import client_env
from tests.support.seaweed import REGION, SeaweedServer, aws_env, running_seaweed

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_LUA = """
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
local i = 0
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i], {["Accept"] = "%s"})
end
"""


@contextmanager
def _process(command: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=client_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


def _wait(url: str, accept: str = "*/*", timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = urllib3.request("GET", url, headers={"Accept": accept}, timeout=30)
            if response.status == 200:
                return
        except urllib3.exceptions.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready")


def _requests_per_second(output: str) -> str:
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if found is None:
        raise RuntimeError(f"wrk printed no rate: {output[-300:]}")
    return found[1]


def _wrk(urls: list[str], paths: Path, seconds: int, connections: int) -> dict[str, float]:
    """Run one wrk per URL at once (connections split between them); sum the results."""
    script = paths.with_suffix(".lua")
    script.write_text(_LUA % (paths, SIMPLE_JSON))
    each = max(1, connections // len(urls))
    runs = [
        subprocess.Popen(
            ["wrk", "-t1", f"-c{each}", f"-d{seconds}s", "--latency", "-s", str(script), url],
            stdout=subprocess.PIPE,
            text=True,
        )
        for url in urls
    ]
    outputs = [run.communicate()[0] for run in runs]
    requests = sum(float(_requests_per_second(o)) for o in outputs)
    errors = sum(
        int(m[1]) for o in outputs for m in re.finditer(r"Non-2xx or 3xx responses: (\d+)", o)
    )
    p50 = [re.search(r"50%\s+([\d.]+)(us|ms|s)", o) for o in outputs]
    return {
        "requests_per_second": round(requests, 1),
        "non_2xx": errors,
        "p50_ms": round(max(_ms(m[1], m[2]) for m in p50 if m), 2),
    }


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _pieces(
    database_url: str, seaweed: SeaweedServer, bucket: str, project: str
) -> dict[str, float]:
    """Median time of what a cold page request adds to a warm one, from this process: the
    database lookup every request makes, and the S3 GET a node's page cache saves."""
    engine = make_engine(database_url)
    client = seaweed.client()
    path = {"p": f"simple/{project}/index.json"}
    lookup = text("SELECT * FROM tuf_targets WHERE path = :p")
    with engine.connect() as conn:
        digest = conn.execute(lookup, path).one().sha256
    key = f"mirror/blobs/sha256/{digest[:2]}/{digest}"

    def median(action: Any) -> float:
        times = []
        for _ in range(200):
            start = time.perf_counter()
            action()
            times.append(time.perf_counter() - start)
        return round(sorted(times)[len(times) // 2] * 1000, 3)

    def query() -> None:
        with engine.connect() as conn:
            conn.execute(lookup, path).all()

    return {
        "db_lookup_ms": median(query),
        "s3_get_ms": median(lambda: client.get_object(Bucket=bucket, Key=key)["Body"].read()),
    }


def _cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) used so far by these processes and their children."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _tree(pids):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _tree(pids: list[int]) -> list[int]:
    found = list(pids)
    for pid in found:
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            found += [int(c) for c in children.read_text().split()]
    return found


def _measure(
    urls: list[str], paths: Path, seconds: int, connections: int, parts: dict[str, list[int]]
) -> dict[str, float]:
    """One wrk run, with the CPU each part (nodes, database, S3) spent per request."""
    before, machine_before = {k: _cpu_seconds(v) for k, v in parts.items()}, _machine_cpu()
    result = _wrk(urls, paths, seconds, connections)
    used = {k: _cpu_seconds(v) - before[k] for k, v in parts.items()}
    busy, total = (a - b for a, b in zip(_machine_cpu(), machine_before, strict=True))
    served = result["requests_per_second"] * seconds
    for part, seconds_used in used.items():
        result[f"{part}_cpu_ms_per_request"] = round(seconds_used * 1000 / served, 2)
    result["machine_cpu_busy"] = round(busy / total, 3) if total else 0.0
    return result


def _machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def run(
    seconds: int = 10, connections: int = 16, projects: int = 50, rounds_count: int = 3
) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found")
    os.environ.update(aws_env())
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        postgres = stack.enter_context(running_postgres())
        seaweed = stack.enter_context(running_seaweed())
        upstream = stack.enter_context(FakeUpstream())
        old = datetime.now(UTC) - timedelta(days=30)
        names = [f"proj{i:03d}" for i in range(projects)]
        for name in names:
            upstream.publish_release(name, "1.0", tmpdir=tmp, upload_time=old)
        bucket = seaweed.bucket()
        sections: dict[str, dict[str, Any]] = {
            "upstream": {"url": upstream.simple_url},
            "database": {"url": postgres.database()},
            "storage": {
                "backend": "s3",
                "s3": {
                    "bucket": bucket,
                    "prefix": "mirror",
                    "endpoint_url": seaweed.endpoint_url,
                    "region": REGION,
                },
            },
            "scheduler": {"interval": "1s"},
        }
        worker_config = write_config(
            tmp / "worker.toml",
            sections
            | {
                "storage": sections["storage"] | {"path": str(tmp / "worker")},
                "tuf": {"keys_dir": str(tmp / "keys")},
            },
        )
        stack.enter_context(
            _process(
                [sys.executable, "-m", "mirror", "--config", str(worker_config), "worker"],
                tmp / "worker.log",
            )
        )
        nodes: list[str] = []
        pids: list[int] = []
        for index in range(2):
            port = free_port()
            config = write_config(
                tmp / f"node{index}.toml",
                sections
                | {
                    "storage": sections["storage"] | {"path": str(tmp / f"node{index}")},
                    "server": {"bind": f"127.0.0.1:{port}", "workers": 2, "scheduler": False},
                    "tuf": {"keys_dir": str(tmp / f"node{index}-keys")},
                },
            )
            time.sleep(2 if index == 0 else 0)  # let the worker bootstrap the repository first
            node = stack.enter_context(
                _process(
                    [sys.executable, "-m", "mirror", "--config", str(config), "serve"],
                    tmp / f"node{index}.log",
                )
            )
            pids.append(node.pid)
            nodes.append(f"http://127.0.0.1:{port}")
        for url in nodes:
            _wait(f"{url}/healthz")
        for name in names:
            for url in nodes:
                _wait(f"{url}/simple/{name}/", SIMPLE_JSON)
        paths = tmp / "paths.txt"
        paths.write_text("".join(f"/simple/{name}/\n" for name in names))
        # PostgreSQL is left out: its backends come and go, so /proc cannot add them up.
        servers = {"s3": [seaweed.process.pid]}
        _wrk(nodes, paths, 2, connections)  # warm-up: every node's page cache filled
        # Alternate, so that load from elsewhere on the machine hits both setups alike.
        rounds = [
            (
                _measure(nodes[:1], paths, seconds, connections, servers | {"nodes": pids[:1]}),
                _measure(nodes, paths, seconds, connections, servers | {"nodes": pids}),
            )
            for _ in range(rounds_count)
        ]
        pieces = _pieces(sections["database"]["url"], seaweed, bucket, names[0])
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": os.getloadavg(),
        },
        "setup": {
            "projects": projects,
            "connections": connections,
            "seconds": seconds,
            "gunicorn": "2 workers x 8 threads per node",
        },
        "one_node": [one for one, _ in rounds],
        "two_nodes": [two for _, two in rounds],
        "per_request_pieces": pieces,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = run(args.seconds, args.connections, args.projects, args.rounds)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
