"""The servers under test, each started as its users run it, on a free 127.0.0.1 port.

- ``ours``: ``mirror serve`` (gunicorn, its default workers and threads), quarantine "0".
- ``devpi``: devpi-server with a mirror index ``root/upstream``, ``--request-timeout 30``.
- ``proxpi``: proxpi under gunicorn, one process with 8 threads (its README: its caches are
  per process, so threads, not processes).
- ``nginx``: Debian's nginx, ``sendfile on``, serving the large file and a static copy of our
  pages, gzip-compressed once beside them for ``gzip_static`` (the physical limit for serving
  bytes).
- ``static``: the same static copy served by a minimal WSGI app under gunicorn with our
  settings (the Python-side limit: what gunicorn itself costs).
- ``upstream``: the upstream itself, the baseline for installs.

devpi-server and proxpi are installed at pinned versions into their own virtual environments
under the tools directory (with ``PIP_CONFIG_FILE=/dev/null``), reused by later runs.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from pathlib import Path

from bench import procs
from mirror.codings import encode
from tests.support.ports import free_port

DEVPI_VERSION = "6.20.3"
PROXPI_VERSION = "1.3.1"
GUNICORN_FOR_PROXPI = "27.0.1"  # the gunicorn our own lock pins
UV_VERSION = "0.13.9"  # as requirements/test.txt pins it
START_TIMEOUT = 120.0
# A server counts as started once its processes are quiet: less than QUIET_CPU seconds of CPU
# over QUIET_WINDOW (start-up work such as a scheduler's first cycle, imports, caches), and
# at most SETTLE_TIMEOUT after it answered. Otherwise that work would be charged to the first
# measurement after a start, a cold install, and to no other.
QUIET_WINDOW = 0.5
QUIET_CPU = 0.02
SETTLE_TIMEOUT = 15.0
REPO = Path(__file__).resolve().parent.parent


class BenchError(Exception):
    """A tool is missing or a server did not start: one line for the user."""


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without pip/uv settings, so no machine-wide config changes what runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "MIRROR_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env.update(extra)
    return env


def tool_venv(tools: Path, name: str, requirements: list[str]) -> Path:
    """A virtual environment holding ``requirements`` (pinned), created once; its bin dir."""
    venv = tools / name
    stamp = venv / ".bench-requirements"
    if stamp.is_file() and stamp.read_text() == "\n".join(requirements):
        return venv / "bin"
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    result = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", *requirements],
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BenchError(f"cannot install {' '.join(requirements)}: {result.stderr.strip()[-300:]}")
    stamp.write_text("\n".join(requirements))
    return venv / "bin"


def http_get(url: str, accept: str = "*/*", timeout: float = 120.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Server(ABC):
    """One server process tree; ``simple_url`` is what pip's ``--index-url`` takes."""

    name: str

    def __init__(self, workdir: Path, upstream_url: str) -> None:
        self.workdir = workdir / self.name
        self.upstream_url = upstream_url
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    @abstractmethod
    def simple_url(self) -> str: ...

    def page_url(self, project: str) -> str:
        return f"{self.simple_url}{project}/"

    @abstractmethod
    def command(self) -> list[str]: ...

    def prepare(self) -> dict[str, str]:
        """Create the server's state before it starts; the environment it runs with."""
        return clean_env()

    def ready_url(self) -> str:
        return self.simple_url

    def configure(self) -> None:  # noqa: B027 - most servers need nothing more
        """Anything needed once the server answers."""

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError(f"{self.name} is not running")
        return self.process.pid

    def start(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        env = self.prepare()
        log = (self.workdir / "server.log").open("wb")
        self.process = subprocess.Popen(
            self.command(),
            env=env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._wait_ready()
        self.configure()
        self._wait_quiet()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise BenchError(f"{self.name} exited at start; see {self.workdir}/server.log")
            try:
                if http_get(self.ready_url(), timeout=5)[0] < 500:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"{self.name} did not answer within {START_TIMEOUT:.0f} s")

    def _wait_quiet(self) -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT
        used = procs.cpu_seconds(self.pid)
        while time.monotonic() < deadline:
            time.sleep(QUIET_WINDOW)
            previous, used = used, procs.cpu_seconds(self.pid)
            if used - previous < QUIET_CPU:
                return

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # The whole session: gunicorn workers, our scheduler, nginx workers.
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Ours(Server):
    name = "ours"

    @property
    def simple_url(self) -> str:
        return f"{self.base_url}/simple/"

    def ready_url(self) -> str:
        return f"{self.base_url}/readyz"

    def prepare(self) -> dict[str, str]:
        config = self.workdir / "mirror.toml"
        config.write_text(
            f'[upstream]\nurl = "{self.upstream_url}"\n'
            f'[server]\nbind = "127.0.0.1:{self.port}"\n'
            f'[storage]\npath = "{self.workdir / "data"}"\n'
            '[policy]\nquarantine = "0"\n'
        )
        return clean_env(MIRROR_CONFIG=str(config))

    def command(self) -> list[str]:
        return [sys.executable, "-m", "mirror", "serve"]


class Devpi(Server):
    name = "devpi"
    _password = "bench"

    def __init__(self, workdir: Path, upstream_url: str, tools: Path) -> None:
        super().__init__(workdir, upstream_url)
        self.bin = tool_venv(tools, "devpi", [f"devpi-server=={DEVPI_VERSION}"])

    @property
    def simple_url(self) -> str:
        return f"{self.base_url}/root/upstream/+simple/"

    def ready_url(self) -> str:
        return f"{self.base_url}/+api"

    def prepare(self) -> dict[str, str]:
        env = clean_env()
        subprocess.run(
            [
                str(self.bin / "devpi-init"),
                "--serverdir",
                str(self.workdir / "data"),
                "--no-root-pypi",
                "--root-passwd",
                self._password,
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        return env

    def command(self) -> list[str]:
        return [
            str(self.bin / "devpi-server"),
            "--serverdir",
            str(self.workdir / "data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            # The default 5 s fails parallel cold installs.
            "--request-timeout",
            "30",
        ]

    def configure(self) -> None:
        # devpi's HTTP API: log in as root, then create a mirror index of the upstream.
        login = self._call("POST", "/+login", {"user": "root", "password": self._password})
        token = login["result"]["password"]
        auth = base64.b64encode(f"root:{token}".encode()).decode()
        index = {"type": "mirror", "mirror_url": self.upstream_url}
        self._call("PUT", "/root/upstream", index, {"X-Devpi-Auth": auth})

    def _call(
        self, method: str, path: str, body: dict[str, str], headers: dict[str, str] | None = None
    ) -> dict[str, dict[str, str]]:
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"}
            | (headers or {}),
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, dict[str, str]] = json.load(response)
            return answer


class Proxpi(Server):
    name = "proxpi"

    def __init__(self, workdir: Path, upstream_url: str, tools: Path) -> None:
        super().__init__(workdir, upstream_url)
        self.bin = tool_venv(
            tools, "proxpi", [f"proxpi=={PROXPI_VERSION}", f"gunicorn=={GUNICORN_FOR_PROXPI}"]
        )

    @property
    def simple_url(self) -> str:
        return f"{self.base_url}/index/"

    def ready_url(self) -> str:
        return f"{self.base_url}/health"

    def prepare(self) -> dict[str, str]:
        return clean_env(
            PROXPI_INDEX_URL=self.upstream_url,
            PROXPI_CACHE_DIR=str(self.workdir / "cache"),
            PROXPI_LOGGING_LEVEL="WARNING",
        )

    def command(self) -> list[str]:
        return [
            str(self.bin / "gunicorn"),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            "--threads",
            "8",
            "--timeout",
            "600",
            "proxpi.server:app",
        ]


def build_static_root(root: Path, large_file: Path, pages: dict[str, tuple[bytes, bytes]]) -> None:
    """The site the static servers serve: ``simple/<project>/index.{html,json}``, each with its
    ``.gz`` copy, and the file.

    The copies are made as ours makes its gzip variant (``mirror.codings.encode``), so a client
    that accepts gzip gets the same bytes from every one of them.
    """
    root.mkdir(parents=True)
    (root / "index.html").write_text("static\n")
    (root / large_file.name).symlink_to(large_file)
    for project, (html, json_page) in pages.items():
        folder = root / "simple" / project
        folder.mkdir(parents=True)
        for name, body in (("index.html", html), ("index.json", json_page)):
            (folder / name).write_bytes(body)
            (folder / f"{name}.gz").write_bytes(encode(body, "gzip"))


class StaticServer(Server):
    """Serves a prepared static root: our page bytes at our paths, and the large file."""

    def __init__(self, workdir: Path, root: Path, large_name: str) -> None:
        super().__init__(workdir, "")
        self.root = root
        self.large_name = large_name

    @property
    def simple_url(self) -> str:
        return f"{self.base_url}/simple/"

    def ready_url(self) -> str:
        return f"{self.base_url}/"

    def large_url(self) -> str:
        return f"{self.base_url}/{self.large_name}"


class StaticGunicorn(StaticServer):
    """``bench/static_app.py`` under gunicorn with our settings: the Python static-file bar.

    Issue 7's figures used pypiserver under gunicorn in this role; this serves the very bytes
    and paths ours serves, so the comparison is page for page.
    """

    name = "static"

    def prepare(self) -> dict[str, str]:
        return clean_env(BENCH_STATIC_ROOT=str(self.root), PYTHONPATH=str(REPO))

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            "8",
            "bench.static_app:app",
        ]


class Nginx(StaticServer):
    name = "nginx"

    def __init__(self, workdir: Path, root: Path, large_name: str) -> None:
        super().__init__(workdir, root, large_name)
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise BenchError("nginx not found (apt-get install -y nginx)")
        self.binary = binary

    def prepare(self) -> dict[str, str]:
        user = "user root;" if os.geteuid() == 0 else ""
        temp = "\n".join(
            f"{kind}_temp_path {self.workdir}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (self.workdir / "nginx.conf").write_text(
            f"""{user}
worker_processes 2;
pid {self.workdir}/nginx.pid;
error_log {self.workdir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    {temp}
    types {{ text/html html; application/vnd.pypi.simple.v1+json json; }}
    default_type application/octet-stream;
    map $http_accept $page {{ ~json index.json; default index.html; }}
    gzip_static on;
    gzip_vary on;
    server {{
        listen 127.0.0.1:{self.port};
        root {self.root};
        location /simple/ {{ try_files $uri$page =404; }}
    }}
}}
"""
        )
        return clean_env()

    def command(self) -> list[str]:
        return [
            self.binary,
            "-p",
            str(self.workdir),
            "-c",
            str(self.workdir / "nginx.conf"),
            "-g",
            "daemon off;",
        ]
