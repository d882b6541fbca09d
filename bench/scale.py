"""How the mirror's costs grow with the number of projects it knows (docs/performance.md, "Growth").

For each size (``--sizes``, projects) and backend (``--backends``: ``embedded`` is SQLite and a
local directory, ``scaled`` is PostgreSQL and S3 on SeaweedFS), a synthetic upstream lists
``--files`` files per project (generated pages, nothing downloaded); a mirror in this process
takes every project's first look and publishes, and then the run measures:

- one full refresh cycle (``scheduler.run_cycle`` over every project, upstream answering "not
  modified" as a real one mostly does): wall time, this process's CPU, and that CPU as a share
  of one core at the default ``upstream.ttl`` (the steady state);
- the root index (rendered for every project), one TUF publish after one project changed, and
  a warm project page through the WSGI app (median of 200);
- the database's size, this process's memory, and the database and S3 servers' memory.

``python -m bench.scale`` writes bench/results/scale.json (and scale.png with matplotlib);
``--sizes 200 --backends embedded`` is a quick look. PostgreSQL's and SeaweedFS's binaries are
needed for ``scaled`` (as for the test suite).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from bench import procs
from mirror.app import create_app
from mirror.config import load_config
from mirror.scheduler import run_cycle
from mirror.server import initialise
from mirror.services import publish, sync
from mirror.services.backends import Backends
from mirror.services.signed_pages import RootIndexes
from tests.support.config_files import write_config
from tests.support.postgres import running_postgres
from tests.support.seaweed import REGION, aws_env, running_seaweed

RESULTS = Path(__file__).parent / "results"
JSON_PAGE = "application/vnd.pypi.simple.v1+json"
UPLOADED = "2020-01-01T00:00:00Z"


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class SyntheticUpstream:
    """An index of ``projects`` projects, ``files`` wheels each, made on request; answers
    ``If-None-Match`` with 304 once a page was sent, and ``changed`` pages list one more file."""

    def __init__(self, projects: int, files: int) -> None:
        self.names = [f"scale-{i:05d}" for i in range(projects)]
        self._known = frozenset(self.names)
        self.files = files
        self.changed: set[str] = set()
        self._server = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def simple_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/simple/"

    def __enter__(self) -> SyntheticUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()

    @functools.cache  # noqa: B019 - one upstream per run, kept for it
    def _pages(self, name: str, changed: bool) -> tuple[bytes, str]:
        """A page and its ETag, made once: the upstream runs in the measured process, and its
        CPU is not the mirror's."""
        body = self.page(name)
        return body, hashlib.sha256(body).hexdigest()

    def page(self, name: str) -> bytes:
        count = self.files + (name in self.changed)
        module = name.replace("-", "_")
        files = [
            {
                "filename": f"{module}-{v}.0-py3-none-any.whl",
                "url": f"../../files/{module}-{v}.0-py3-none-any.whl",
                "hashes": {"sha256": hashlib.sha256(f"{name}{v}".encode()).hexdigest()},
                "upload-time": UPLOADED,
                "size": 1000 + v,
            }
            for v in range(count)
        ]
        body = {"meta": {"api-version": "1.1"}, "name": name, "files": files}
        return json.dumps(body, separators=(",", ":")).encode()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        name = request.path.removeprefix("/simple/").strip("/")
        if not request.path.startswith("/simple/") or name not in self._known:
            return Response(status=404)(environ, start_response)
        body, etag = self._pages(name, name in self.changed)
        response = Response(body, content_type=JSON_PAGE)
        response.set_etag(etag)
        return response.make_conditional(request)(environ, start_response)


def _mirror_sections(backend: str, stack: ExitStack, work: Path) -> dict[str, dict[str, Any]]:
    if backend == "embedded":
        return {"storage": {"path": str(work / "data")}}
    postgres = stack.enter_context(running_postgres())
    seaweed = stack.enter_context(running_seaweed())
    os.environ.update(aws_env())
    return {
        "database": {"url": postgres.database()},
        "storage": {
            "path": str(work / "data"),
            "backend": "s3",
            "s3": {
                "bucket": seaweed.bucket(),
                "prefix": "mirror",
                "endpoint_url": seaweed.endpoint_url,
                "region": REGION,
            },
        },
        "servers": {
            "postgres": postgres.process.pid if postgres.process else 0,
            "s3": seaweed.process.pid,
        },
    }


@contextmanager
def _mirror(
    backend: str, upstream: SyntheticUpstream, work: Path
) -> Iterator[tuple[Backends, dict[str, int]]]:
    with ExitStack() as stack:
        sections = _mirror_sections(backend, stack, work)
        servers = sections.pop("servers", {})
        config_path = write_config(
            work / "mirror.toml",
            sections
            | {
                "upstream": {"url": upstream.simple_url},
                "policy": {"quarantine": "0"},
                "provenance": {"mode": "off"},
                "tuf": {"keys_dir": str(work / "keys")},
            },
        )
        config = load_config(config_path, env={})
        initialise(config)
        yield Backends.from_config(config), servers


def _timed(function: Any, *args: Any, **kwargs: Any) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu


def _database_bytes(backends: Backends) -> int:
    engine = backends.engine
    if engine.dialect.name == "sqlite":
        path = Path(str(engine.url.database))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def _rss_mb() -> dict[str, float]:
    status = Path("/proc/self/status").read_text()
    current = next(line for line in status.splitlines() if line.startswith("VmRSS"))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"now": round(int(current.split()[1]) / 1024, 1), "peak": round(peak_kb / 1024, 1)}


def _warm_page_ms(backends: Backends, name: str) -> float:
    client = create_app(backends.config, backends).test_client()
    client.get(f"/simple/{name}/", headers={"Accept": JSON_PAGE})
    times = []
    for _ in range(200):
        started = time.perf_counter()
        response = client.get(f"/simple/{name}/", headers={"Accept": JSON_PAGE})
        times.append(time.perf_counter() - started)
        assert response.status_code == 200
    return round(statistics.median(times) * 1000, 3)


def measure(backend: str, projects: int, files: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="scale-") as work,
        SyntheticUpstream(projects, files) as upstream,
        _mirror(backend, upstream, Path(work)) as (backends, servers),
    ):
        first_wall, first_cpu = _timed(_first_looks, backends, upstream.names)
        publish_all = _timed(publish.publish_now, backends)
        servers_cpu = {name: procs.cpu_seconds(pid) for name, pid in servers.items() if pid}
        cycle_wall, cycle_cpu = _timed(run_cycle, backends, upstream.names)
        servers_cpu = {
            name: round(procs.cpu_seconds(servers[name]) - before, 2)
            for name, before in servers_cpu.items()
        }
        upstream.changed.add(upstream.names[0])
        sync.refresh(backends, upstream.names[0], force=True)
        one_publish = _timed(publish.publish_now, backends)
        roots = RootIndexes(backends)
        root = _timed(lambda: roots.get("json"))
        ttl = backends.config.upstream.ttl.total_seconds()
        return {
            "backend": backend,
            "projects": projects,
            "files": projects * files,
            "first_looks": {"wall_s": round(first_wall, 2), "cpu_s": round(first_cpu, 2)},
            "publish_everything_s": round(publish_all[0], 2),
            "refresh_cycle": {
                "wall_s": round(cycle_wall, 2),
                "cpu_s": round(cycle_cpu, 2),
                "core_share_at_default_ttl": round(cycle_cpu / ttl, 4),
                "servers_cpu_s": servers_cpu,
            },
            "one_publish_s": round(one_publish[0], 3),
            "root_index_s": round(root[0], 3),
            "warm_page_ms": _warm_page_ms(backends, upstream.names[-1]),
            "database_mb": round(_database_bytes(backends) / 2**20, 1),
            "mirror_rss_mb": _rss_mb(),
            "server_rss_mb": {
                name: round(sum(procs.rss_by_process(pid)) / 2**20, 1)
                for name, pid in servers.items()
                if pid
            },
        }


def _first_looks(backends: Backends, names: list[str]) -> None:
    for name in names:
        sync.refresh(backends, name, inspect=False)


def _plot(results: list[dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    figures = {
        "refresh cycle CPU (s)": lambda r: r["refresh_cycle"]["cpu_s"],
        "warm page (ms)": lambda r: r["warm_page_ms"],
        "root index (s)": lambda r: r["root_index_s"],
        "one TUF publish (s)": lambda r: r["one_publish_s"],
        "database (MB)": lambda r: r["database_mb"],
        "mirror RSS peak (MB)": lambda r: r["mirror_rss_mb"]["peak"],
    }
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, (title, value) in zip(axes.flat, figures.items(), strict=True):
        for backend in sorted({r["backend"] for r in results}):
            rows = [r for r in results if r["backend"] == backend]
            ax.plot([r["projects"] for r in rows], [value(r) for r in rows], "o-", label=backend)
        ax.set_title(title)
        ax.set_xlabel("projects")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000", help="projects, comma-separated")
    parser.add_argument("--files", type=int, default=20, help="files per project")
    parser.add_argument("--backends", default="embedded,scaled")
    parser.add_argument("--output", type=Path, default=RESULTS / "scale.json")
    args = parser.parse_args(argv)
    results = []
    for backend in args.backends.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            print(f"{backend}: {size} projects", flush=True)
            results.append(measure(backend, size, args.files))
            print(json.dumps(results[-1]), flush=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    _plot(results, args.output.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
