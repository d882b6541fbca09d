"""A throw-away PostgreSQL cluster for tests, made with the server's own ``initdb``.

Debian's ``postgresql`` package (``scripts/install-system-deps``) puts the binaries in
``/usr/lib/postgresql/<version>/bin``; an ``initdb`` on ``PATH`` wins. The cluster listens on
127.0.0.1 only, on a free port, with no Unix socket, trust authentication for the one user
``mirror``, and durability switched off (tests never survive a crash of the machine).

PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres`` system
user (the Debian package creates it) and every server command runs through ``runuser``.

Not done: TLS, passwords, replication.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import psycopg

from .ports import free_port

USER = "mirror"
_NAMES = count()


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key)
    return Path(versions[-1]) if versions else None


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _as_owner() -> list[str]:
    """Prefix that runs a server command as a non-root user when we are root."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class PostgresServer:
    """A running cluster; ``database()`` hands out fresh, empty databases."""

    bin_dir: Path
    data_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def admin_dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """Create a new empty database and return its SQLAlchemy URL."""
        name = f"test_{os.getpid()}_{next(_NAMES)}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log(self) -> str:
        path = self.data_dir.parent / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        """Start the cluster again after ``stop`` (a database restart, as an outage drill)."""
        _start(self)

    def stop(self) -> None:
        """Fast shutdown (SIGINT: disconnect clients, then exit), reaping the server process."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def restart(server: PostgresServer) -> None:
    """Stop the cluster (fast shutdown) and start it again on the same port and data."""
    server.stop()
    server.start()


@contextlib.contextmanager
def paused(server: PostgresServer) -> Iterator[None]:
    """Freeze the postmaster and every backend (SIGSTOP) for the block, then let them go on:
    a database that accepts TCP connections (the kernel does) and never answers."""
    assert server.process is not None
    # runuser's group holds the postmaster; each backend is a session of its own (setsid).
    os.killpg(server.process.pid, signal.SIGSTOP)  # first: no new backends from now on
    frozen = _children(_children(server.process.pid))
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        os.killpg(server.process.pid, signal.SIGCONT)


def _children(parents: int | list[int]) -> list[int]:
    """The processes whose parent is one of ``parents`` (from /proc)."""
    wanted = {parents} if isinstance(parents, int) else set(parents)
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
            ppid = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
        if ppid in wanted:
            found.append(int(stat.parent.name))
    return found


def available() -> str | None:
    """None when a cluster can be started here, else why not."""
    if _bin_dir() is None:
        return "PostgreSQL server binaries not found (run scripts/install-system-deps)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root needs runuser to start PostgreSQL as the postgres user"
    return None


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a cluster in a fresh temporary folder; stop it and remove the folder afterwards."""
    reason = available()
    if reason:
        raise RuntimeError(reason)
    bin_dir = _bin_dir()
    assert bin_dir is not None
    # Not under pytest's tmp_path: that folder is private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="mirror-pg-"))
    data_dir = root / "data"
    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        server = PostgresServer(bin_dir, data_dir, free_port())
        _initdb(server)
        try:
            _start(server)
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _initdb(server: PostgresServer) -> None:
    command = [*_as_owner(), str(server.bin_dir / "initdb"), "-D", str(server.data_dir)]
    command += ["-U", USER, "--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions"]
    _run(command, "initdb")


def _start(server: PostgresServer) -> None:
    options = [f"-p{server.port}", "-clisten_addresses=127.0.0.1", "-cunix_socket_directories="]
    options += ["-cmax_connections=300", "-cfsync=off", "-csynchronous_commit=off"]
    options += ["-cfull_page_writes=off"]
    # The postmaster runs as our child (not daemonised by pg_ctl) so that we reap it: a container
    # whose PID 1 reaps nothing would otherwise keep a zombie per test session.
    command = [*_as_owner(), str(server.bin_dir / "postgres"), "-D", str(server.data_dir)]
    with (server.data_dir.parent / "server.log").open("wb") as log:
        server.process = subprocess.Popen(
            command + options, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 60
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"postgres exited early:\n{server.log()[-3000:]}")
        try:
            psycopg.connect(server.admin_dsn, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed: {result.stdout}{result.stderr}")
