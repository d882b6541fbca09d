"""Load generation for page requests: wrk when installed, else a Python threads client.

Both keep connections alive, cycle through a list of paths, stop after a fixed duration and
report requests/s with the 50th and 99th latency percentiles. wrk (C, epoll) leaves most of
the two cores to the server; the Python client needs a good share of them itself, so its
requests/s are a floor, and the server's CPU per request (measured separately) is the fairer
figure.
"""

from __future__ import annotations

import http.client
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_BYTE_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
# What pip sends with every page request (uv asks for zstd as well): a page load that asks for
# nothing would measure identity bytes no installer fetches. Every server under test may
# answer in gzip; the bytes counted are those on the wire, compressed (neither client here
# decompresses).
ACCEPT_ENCODING = "gzip, deflate"


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    bytes_read: int  # wrk: headers and bodies; the Python client: bodies

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def bytes_per_request(self) -> float:
        return self.bytes_read / max(self.requests, 1)


def generator() -> str:
    """Which load generator ``run`` uses."""
    return "wrk" if shutil.which("wrk") else "python-threads"


def run(base_url: str, paths: list[str], accept: str, clients: int, seconds: float) -> LoadResult:
    wrk = shutil.which("wrk")
    if wrk:
        return _wrk(wrk, base_url, paths, accept, clients, seconds)
    return _threads(base_url, paths, accept, clients, seconds)


def _headers(accept: str) -> dict[str, str]:
    return {"Accept": accept, "Accept-Encoding": ACCEPT_ENCODING}


def _lua(paths: list[str], accept: str) -> str:
    quoted = ", ".join(f'"{p}"' for p in paths)
    headers = ", ".join(f'["{k}"] = "{v}"' for k, v in _headers(accept).items())
    return f"""
local paths = {{ {quoted} }}
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {{ {headers} }})
end
"""


def _wrk(
    wrk: str, base_url: str, paths: list[str], accept: str, clients: int, seconds: float
) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_lua(paths, accept))
    try:
        output = subprocess.run(
            [
                wrk,
                f"-t{min(2, clients)}",
                f"-c{clients}",
                f"-d{max(1, round(seconds))}s",  # wrk takes whole seconds
                "--timeout",
                "10s",
                "--latency",
                "-s",
                script.name,
                base_url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        Path(script.name).unlink()
    return _parse_wrk(output)


def _parse_wrk(output: str) -> LoadResult:
    def latency(percent: str) -> float:
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if not found:
            raise ValueError(f"no {percent}% latency in wrk output:\n{output}")
        return float(found[1]) * _UNITS[found[2]]

    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s), ([\d.]+)([KMGT]?B) read", output)
    if not total:
        raise ValueError(f"unexpected wrk output:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    errors = int(bad[1]) if bad else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors[1]))
    return LoadResult(
        requests=int(total[1]),
        seconds=float(total[2]) * _UNITS[total[3]] / 1000,
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        errors=errors,
        bytes_read=round(float(total[4]) * _BYTE_UNITS[total[5]]),
    )


def _threads(
    base_url: str, paths: list[str], accept: str, clients: int, seconds: float
) -> LoadResult:
    host_port = base_url.split("://", 1)[1].rstrip("/")
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    received = [0] * clients
    headers = _headers(accept)
    deadline = time.monotonic() + seconds

    def client(n: int) -> None:
        connection = http.client.HTTPConnection(host_port, timeout=10)
        i = n
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                connection.request("GET", paths[i % len(paths)], headers=headers)
                response = connection.getresponse()
                received[n] += len(response.read())
                ok = response.status < 400
            except (OSError, http.client.HTTPException):
                connection.close()
                ok = False
            latencies[n].append(time.perf_counter() - started)
            errors[n] += not ok
            i += 1
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    flat = sorted(x * 1000 for per_client in latencies for x in per_client)
    cuts = statistics.quantiles(flat, n=100) if len(flat) > 1 else flat * 99
    return LoadResult(len(flat), elapsed, cuts[49], cuts[98], sum(errors), sum(received))
