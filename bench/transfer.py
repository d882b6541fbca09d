"""Large downloads with curl: one client's MB/s, and 8 clients at once with the server's RSS."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin

from bench.procs import PeakRss
from bench.servers import BenchError, Server, http_get

MB = 1_000_000
CURL = shutil.which("curl")


@dataclass(frozen=True)
class StreamResult:
    mb_per_s: float
    peak_rss_mb: float
    peak_process_rss_mb: float
    complete: int  # clients that received the whole file


def file_url(server: Server, project: str, filename: str) -> str:
    """The file's URL as the server's own simple page links it (each mirror has its layout)."""
    page_url = server.page_url(project)
    status, body = http_get(page_url, accept="text/html")
    if status != 200:
        raise BenchError(f"{server.name}: {page_url} answered {status}")
    for href in re.findall(r'href="([^"]+)"', body.decode()):
        url = urldefrag(urljoin(page_url, href.replace("&amp;", "&"))).url
        if url.rsplit("/", 1)[-1] == filename:
            return url
    raise BenchError(f"{server.name}: {filename} not on {page_url}")


def _curl(url: str, max_seconds: float) -> tuple[int, int, float]:
    """(HTTP status, bytes received, seconds) of one GET, body discarded, redirects not followed."""
    if CURL is None:
        raise BenchError("curl not found (apt-get install -y curl)")
    out = subprocess.run(
        [
            CURL,
            "-s",
            "-o",
            "/dev/null",
            "--max-time",
            f"{max_seconds:g}",
            "-w",
            "%{http_code} %{size_download} %{time_total}",
            url,
        ],
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]), int(out[1]), float(out[2])


def warm(url: str, size: int, deadline_seconds: float = 900) -> None:
    """GET until the server answers with the whole file itself (proxpi redirects meanwhile)."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        status, received, _ = _curl(url, deadline_seconds)
        if status == 200 and received == size:
            return
        time.sleep(1)
    raise BenchError(f"{url} not served whole within {deadline_seconds:.0f} s")


def single(url: str, size: int) -> float:
    """MB/s of one client downloading the whole file."""
    status, received, seconds = _curl(url, 300)
    if status != 200 or received != size:
        raise BenchError(f"{url}: status {status}, {received} of {size} bytes")
    return received / seconds / MB


def parallel(server: Server, url: str, size: int, clients: int, max_seconds: float) -> StreamResult:
    """``clients`` concurrent whole-file downloads; aggregate MB/s and the server's peak RSS."""
    if CURL is None:
        raise BenchError("curl not found (apt-get install -y curl)")
    command = [CURL, "-s", "-o", "/dev/null", "--max-time", f"{max_seconds:g}"]
    command += ["-w", "%{http_code} %{size_download}", url]
    with PeakRss(server.pid) as rss:
        started = time.monotonic()
        procs = [
            subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(clients)
        ]
        outputs = [p.communicate()[0].split() for p in procs]
        elapsed = time.monotonic() - started
    received = sum(int(out[1]) for out in outputs)
    complete = sum(1 for out in outputs if out[0] == "200" and int(out[1]) == size)
    return StreamResult(
        received / elapsed / MB, rss.peak / 2**20, rss.peak_process / 2**20, complete
    )
