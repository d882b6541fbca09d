"""Benchmark signed-mirror against devpi-server, proxpi and nginx: ``./run bench``, which runs
``python -m bench.run`` from the repository root.

Writes ``bench/results/results.json`` and ``bench/results/results.png``; bench/README.md says
how to read them. Everything runs on 127.0.0.1, every load is bounded in count and duration,
and every server started here is stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import dataset, installs, load, procs, report, transfer
from bench.servers import (
    DEVPI_VERSION,
    PROXPI_VERSION,
    REPO,
    BenchError,
    Devpi,
    Nginx,
    Ours,
    Proxpi,
    Server,
    StaticGunicorn,
    StaticServer,
    build_static_root,
    http_get,
)

HTML = "text/html"
JSON = "application/vnd.pypi.simple.v1+json"
MIRRORS = ("ours", "devpi", "proxpi")
STATIC = ("nginx", "static")
# A project the requirement sets do not use: requested before any timing, because devpi and
# proxpi load the upstream's whole project list on their first request.
PRELOAD_PROJECT = "pip"


@dataclass(frozen=True)
class Options:
    size: dataset.Size
    servers: tuple[str, ...]
    seconds: float
    rounds: int
    clients: tuple[int, ...]
    real: str  # "auto" or "off"
    tools: Path
    out: Path
    tuf: bool
    plot: bool


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="./run bench", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="a tiny data set (smoke test)")
    parser.add_argument(
        "--servers",
        default="ours,devpi,proxpi,nginx,static",
        help="comma-separated subset of ours,devpi,proxpi,nginx,static (default: all)",
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="per page load run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per figure")
    parser.add_argument("--clients", default="8,32", help="concurrent clients for pages")
    parser.add_argument(
        "--real-upstream",
        choices=("auto", "off"),
        default="auto",
        help="also install through pip's configured index when it answers (default: auto)",
    )
    parser.add_argument("--no-tuf", action="store_true", help="skip the TUF publish timing")
    parser.add_argument("--no-plot", action="store_true", help="results.json only")
    parser.add_argument(
        "--tools",
        type=Path,
        default=Path.home() / ".cache" / "signed-mirror-bench",
        help="where the devpi, proxpi and uv virtual environments are kept",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    servers = tuple(s for s in args.servers.split(",") if s)
    unknown = set(servers) - {*MIRRORS, *STATIC}
    if unknown or "ours" not in servers:
        parser.error(f"--servers must include ours; unknown: {', '.join(sorted(unknown))}")
    return Options(
        size=dataset.TINY if args.tiny else dataset.FULL,
        servers=servers,
        seconds=args.seconds,
        rounds=args.rounds,
        clients=tuple(int(c) for c in args.clients.split(",")),
        real="off" if args.tiny else args.real_upstream,
        tools=args.tools,
        out=args.out,
        tuf=not args.no_tuf and not args.tiny,
        plot=not args.no_plot,
    )


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, options: Options, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.running: list[Server] = []
        self.results: dict[str, Any] = {"pages": [], "installs": [], "downloads": {}}

    # -- servers --------------------------------------------------------------------------

    def mirror(self, name: str, upstream_url: str) -> Server:
        tools = self.options.tools
        factories: dict[str, Callable[[], Server]] = {
            "ours": lambda: Ours(self.workdir, upstream_url),
            "devpi": lambda: Devpi(self.workdir, upstream_url, tools),
            "proxpi": lambda: Proxpi(self.workdir, upstream_url, tools),
        }
        return factories[name]()

    @contextmanager
    def started(self, server: Server) -> Iterator[Server]:
        log(f"starting {server.name}")
        self.running.append(server)
        try:
            server.start()
            # Load the upstream project list now (devpi, proxpi), not in the first timed request.
            http_get(server.page_url(PRELOAD_PROJECT), accept=HTML)
            yield server
        finally:
            server.stop()
            self.running.remove(server)

    def stop_all(self) -> None:
        for server in list(self.running):
            server.stop()

    def mirrors(self) -> list[str]:
        return [name for name in MIRRORS if name in self.options.servers]

    # -- phases ---------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        from bench.dataset import BenchUpstream

        with BenchUpstream() as upstream:
            log("building the data set")
            data = dataset.populate(upstream, self.options.size, self.workdir / "upstream")
            self.results["dataset"] = {
                "projects": len(data.projects),
                "files": data.files,
                "requirements": len(data.requirements),
                "wheel_megabytes": round(data.wheel_bytes / 1e6, 1),
                "large_file_bytes": data.large_size,
            }
            requirements = self.workdir / "requirements.txt"
            requirements.write_text("\n".join(data.requirements) + "\n")
            self.install_matrix("fake", upstream.simple_url, requirements)
            self.serving(upstream.simple_url, data)
        if self.options.real != "off":
            self.real_upstream()
        if self.options.tuf:
            settle()
            self.results["tuf"] = tuf_publish()
        settle()
        self.results["first_look"] = first_look_cpu(self.options.size is dataset.TINY)
        return self.results

    def install_matrix(self, upstream_name: str, upstream_url: str, requirements: Path) -> None:
        commands = installs.tools(self.options.tools)
        # "upstream" is the client straight from the upstream; each mirror starts empty for
        # each of its installs. The order rotates each round, as for the pages.
        through = ["upstream", *self.mirrors()]
        for tool, command in commands.items():
            for round_ in range(self.options.rounds):
                shift = round_ % len(through)
                for name in through[shift:] + through[:shift]:
                    client = (tool, command)
                    self.install_through(upstream_name, upstream_url, requirements, client, name)

    def install_through(
        self,
        upstream_name: str,
        upstream_url: str,
        requirements: Path,
        client: tuple[str, list[str]],
        name: str,
    ) -> None:
        """A cold and a warm install of ``requirements`` with ``client`` through ``name``."""
        tool, command = client
        with ExitStack() as stack:
            index_url = upstream_url
            if name != "upstream":
                server = stack.enter_context(self.started(self.mirror(name, upstream_url)))
                index_url = server.simple_url
            for phase in ("cold", "warm"):
                log(f"{tool} install through {name} ({upstream_name} upstream), {phase}")
                self.record_install(
                    upstream_name, tool, name, phase, command, index_url, requirements
                )

    def record_install(
        self,
        upstream_name: str,
        tool: str,
        server: str,
        phase: str,
        command: list[str],
        index_url: str,
        requirements: Path,
    ) -> None:
        result = installs.install(command, index_url, requirements)
        if result.error:
            log(f"  failed: {result.error}")
        self.results["installs"].append(
            {
                "upstream": upstream_name,
                "tool": tool,
                "server": server,
                "phase": phase,
                "seconds": result.seconds,
                "error": result.error,
            }
        )

    def serving(self, upstream_url: str, data: dataset.Dataset) -> None:
        servers = [self.mirror(name, upstream_url) for name in self.mirrors()]
        with ExitStack() as stack:
            for server in servers:
                stack.enter_context(self.started(server))
            for server in servers:
                log(f"warming {server.name}")
                warm_pages(server, data.projects)
            # The static servers serve the very bytes ours serves, at the same paths.
            root = self.workdir / "static-root"
            pages = {
                p: (
                    http_get(servers[0].page_url(p), HTML)[1],
                    http_get(servers[0].page_url(p), JSON)[1],
                )
                for p in data.projects
            }
            build_static_root(root, self.workdir / "upstream" / data.large_filename, pages)
            for kind in (Nginx, StaticGunicorn):
                if kind.name in self.options.servers:
                    static = kind(self.workdir, root, data.large_filename)
                    servers.append(stack.enter_context(self.started(static)))
            self.measure_pages(servers, data.projects)
            self.measure_downloads(servers, data)

    def measure_pages(self, servers: list[Server], projects: list[str]) -> None:
        for round_ in range(self.options.rounds):
            for accept, fmt in ((HTML, "html"), (JSON, "json")):
                for clients in self.options.clients:
                    for server in _rotated(servers, round_):
                        run = self.page_run(server, projects, accept, clients)
                        self.results["pages"].append(
                            {"server": server.name, "format": fmt, "clients": clients}
                            | {"round": round_, **run}
                        )
                        log(
                            f"{server.name} {fmt} c={clients}: {run['rps']:.0f}/s "
                            f"p99 {run['p99_ms']:.1f} ms, {run['cpu_ms_per_request']:.2f} ms CPU"
                        )

    def page_run(
        self, server: Server, projects: list[str], accept: str, clients: int
    ) -> dict[str, Any]:
        """One bounded load run over every project's page; the server's CPU from /proc."""
        paths = [server.page_url(p)[len(server.base_url) :] for p in projects]
        cpu_before = procs.cpu_seconds(server.pid)
        result = load.run(server.base_url, paths, accept, clients, self.options.seconds)
        cpu = procs.cpu_seconds(server.pid) - cpu_before
        return {
            "requests": result.requests,
            "rps": result.rps,
            "p50_ms": result.p50_ms,
            "p99_ms": result.p99_ms,
            "errors": result.errors,
            # Shows which servers answered compressed (load.ACCEPT_ENCODING).
            "bytes_per_request": round(result.bytes_per_request),
            "cpu_ms_per_request": cpu / max(result.requests, 1) * 1000,
        }

    def measure_downloads(self, servers: list[Server], data: dataset.Dataset) -> None:
        urls: dict[str, str] = {}
        for server in servers:
            if isinstance(server, StaticServer):
                urls[server.name] = server.large_url()
            else:
                urls[server.name] = transfer.file_url(
                    server, dataset.LARGE_PROJECT, data.large_filename
                )
            log(f"caching the large file in {server.name}")
            transfer.warm(urls[server.name], data.large_size)
        speeds: dict[str, list[float]] = {s.name: [] for s in servers}
        for round_ in range(max(self.options.rounds, 3)):
            for server in _rotated(servers, round_):
                speeds[server.name].append(transfer.single(urls[server.name], data.large_size))
        for server in servers:
            log(f"8 clients streaming from {server.name}")
            streams = transfer.parallel(server, urls[server.name], data.large_size, 8, 120)
            self.results["downloads"][server.name] = {
                "single_mb_per_s": statistics.median(speeds[server.name]),
                "single_runs": speeds[server.name],
                **{f"parallel8_{k}": v for k, v in asdict(streams).items()},
            }
            log(f"  {self.results['downloads'][server.name]}")

    def real_upstream(self) -> None:
        from pip._internal.models.index import PyPI

        # pip's own default index, read at run time (never written down).
        url = PyPI.simple_url.rstrip("/") + "/"
        try:
            status = http_get(url + "six/", accept=JSON, timeout=15)[0]
        except OSError as exc:
            status, reason = 0, str(exc)
        if status != 200:
            self.results["real_upstream"] = f"skipped: the index answered {status or reason}"
            log(self.results["real_upstream"])
            return
        self.results["real_upstream"] = "measured"
        self.install_matrix("real", url, REPO / "bench" / "real-requirements.txt")


def _rotated(servers: list[Server], round_: int) -> list[Server]:
    # Alternate who goes first, so drift (page cache, thermal) does not favour one server.
    shift = round_ % len(servers)
    return servers[shift:] + servers[:shift]


def warm_pages(server: Server, projects: list[str]) -> None:
    for project in projects:
        for accept in (HTML, JSON, HTML):
            status, _ = http_get(server.page_url(project), accept=accept)
            if status != 200:
                raise BenchError(f"{server.name}: {server.page_url(project)} answered {status}")


def settle() -> None:
    """Write out what earlier phases left dirty in the page cache (the 1 GB downloads, 100k
    TUF files) before a phase that fsyncs and counts its own CPU: that writeback otherwise
    lands on its fsyncs (storing the first looks' pages took 101 ms of CPU right after the TUF
    phase, about 40 ms run alone)."""
    log("flushing the page cache's dirty pages")
    os.sync()


def tuf_publish() -> dict[str, Any]:
    """bench/tuf_publish.py's numbers with the two TUF targets picked out."""
    try:
        from bench import tuf_publish as tuf
    except ImportError:
        return {"skipped": "bench/tuf_publish.py is not on this branch yet"}
    log("TUF publish timings (10k and 100k targets)")
    raw = tuf.run()
    on_disk = {r["targets"]: r for r in raw["results"] if r["store"] == "directory"}
    return {
        "publish_10k_s": on_disk.get(10_000, {}).get("publish_from_scratch_s"),
        "publish_100k_s": on_disk.get(100_000, {}).get("publish_from_scratch_s"),
        "batch_100_into_100k_s": on_disk.get(100_000, {}).get("batch_publish_s"),
        "raw": raw,
    }


def first_look_cpu(tiny: bool) -> dict[str, Any]:
    """bench/first_look.py's CPU per step, run in a process of its own (it wraps the steps'
    functions to time them)."""
    log("first looks in-process, CPU per step")
    command = [sys.executable, "-m", "bench.first_look", "--gc-freeze", *(["--tiny"] * tiny)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    if result.returncode != 0:
        return {"skipped": result.stderr.strip().splitlines()[-1:]}
    measured: dict[str, Any] = json.loads(result.stdout)
    return measured


def versions(tools: Path) -> dict[str, str]:
    def output(command: list[str]) -> str:
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=30)
        except OSError:
            return "absent"
        return (result.stdout or result.stderr).strip().splitlines()[0]

    return {
        "python": platform.python_version(),
        "devpi-server": DEVPI_VERSION,
        "proxpi": PROXPI_VERSION,
        "uv": output([installs.tools(tools)["uv"][0], "--version"]),
        "nginx": output(["nginx", "-v"]),
        "load_generator": (
            output(["wrk", "--version"]) if load.generator() == "wrk" else load.generator()
        ),
        "cpus": str(os.cpu_count()),
    }


def ensure_system_tools(wanted: dict[str, str]) -> None:
    """Install missing Debian packages (binary name -> package) when running as root."""
    missing = [package for binary, package in wanted.items() if not shutil.which(binary)]
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        log(f"installing {' '.join(missing)} from Debian's packages")
        subprocess.run([str(REPO / "scripts" / "install-system-deps"), *missing], check=False)


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    tools = {"wrk": "wrk", "curl": "curl"}
    ensure_system_tools(tools | ({"nginx": "nginx"} if "nginx" in options.servers else {}))
    workdir = Path(tempfile.mkdtemp(prefix="signed-mirror-bench-"))
    bench = Bench(options, workdir)
    started = time.monotonic()
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    try:
        results = bench.run()
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    finally:
        bench.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    results["meta"] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - started),
        "machine": platform.machine(),
        # Other work on the machine (1, 5, 15 min): the figures are ratios taken side by side.
        "load_average_start": load_start,
        "versions": versions(options.tools),
        "load_average_end": Path("/proc/loadavg").read_text().split()[:3],
        "options": {
            "size": "tiny" if options.size == dataset.TINY else "full",
            "servers": list(options.servers),
            "seconds": options.seconds,
            "rounds": options.rounds,
            "clients": list(options.clients),
        },
        "page_accept_encoding": load.ACCEPT_ENCODING,
    }
    results["summary"] = report.summarise(results)
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    if options.plot:
        report.plot(results, options.out / "results.png")
    print(report.table(results["summary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
