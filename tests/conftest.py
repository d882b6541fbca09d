"""Fixtures shared by the whole suite: a hermetic environment, the app on a fake upstream, and a
real `mirror serve` process for end-to-end tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import urllib3
from flask import Flask
from flask.testing import FlaskClient

from mirror.app import create_app
from mirror.config import load_config
from mirror.server import initialise
from mirror.services.context import Services
from mirror.services.prefetch import Prefetcher
from tests.support.fake_upstream import FakeUpstream
from tests.support.fixtures import (  # noqa: F401 (fixtures)
    _session_bucket,
    dist_builder,
    fake_upstream,
    postgres_server,
    postgres_url,
    s3_bucket,
    seaweed_server,
)

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"
VENV_BIN = Path(sys.executable).parent


class _Inline:
    """An executor that runs each task at once, in the caller's thread."""

    def submit(self, task: Callable[..., object], *args: object) -> None:
        task(*args)


# A test that uses one of these fixtures, itself or through another fixture, starts a server
# or a browser; one that carries one of these marks needs a server. Either is slow, whoever
# writes it: `-m "not slow"` (the fast loop, README.md) leaves it out.
SERVER_FIXTURES = frozenset({"start_mirror", "postgres_server", "seaweed_server", "browser"})
SERVER_MARKS = frozenset({"scaled", "browser", "live"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark slow every test that starts a server, before `-m` selects (hence tryfirst)."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        marks = {mark.name for mark in item.iter_markers()}
        if SERVER_FIXTURES.intersection(fixtures) or SERVER_MARKS & marks:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def settled_background(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process apps finish the look-ahead a request starts before the request returns, so a
    test reads one settled state; tests of the look-ahead itself undo this."""
    monkeypatch.setattr(Prefetcher, "_executor", lambda self: _Inline())


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No machine-wide pip/uv/mirror settings leak in; sigstore trusts no cached trust root."""
    for name in list(os.environ):
        if name.startswith(("PIP_", "UV_", "MIRROR_", "POETRY_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    xdg = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(xdg / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg / "config"))


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    """Write a TOML config (flat values, lists of strings, one level of sub-tables)."""
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        tables = {k: v for k, v in values.items() if isinstance(v, dict)}
        lines += [f"{k} = {_toml(v)}" for k, v in values.items() if k not in tables]
        for name, table in tables.items():
            lines.append(f"[{section}.{name}]")
            lines += [f"{k} = {_toml(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def base_sections(data_dir: Path, upstream_url: str) -> dict[str, dict[str, Any]]:
    return {
        "upstream": {"url": upstream_url, "timeout": "5s", "retries": 1},
        "storage": {"path": str(data_dir)},
        "policy": {"quarantine": "7d"},
        "scheduler": {"interval": "1s"},
    }


def merge(base: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]]) -> dict[str, Any]:
    merged = {k: dict(v) for k, v in base.items()}
    for section, values in extra.items():
        merged.setdefault(section, {}).update(values)
    return merged


@pytest.fixture
def make_services(
    tmp_path: Path,
    fake_upstream: FakeUpstream,  # noqa: F811
) -> Callable[..., Services]:
    """Services on a fresh data dir and the fake upstream; keyword args are config sections."""

    def build(**sections: dict[str, Any]) -> Services:
        path = write_config(
            tmp_path / "mirror.toml",
            merge(base_sections(tmp_path / "data", fake_upstream.simple_url), sections),
        )
        config = load_config(path, env={})
        initialise(config)
        return Services.from_config(config)

    return build


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    return make_services()


@pytest.fixture
def app(services: Services) -> Flask:
    return create_app(services.config, services)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def client_env(**extra: str) -> dict[str, str]:
    """Environment for pip, uv and poetry: no PIP_*/UV_* settings, no pip config file."""
    # VIRTUAL_ENV (exported by ./run) would make poetry and uv install into the test runner's
    # own environment instead of the project's.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "MIRROR_", "POETRY_")) and k != "VIRTUAL_ENV"
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


@dataclass
class RunningMirror:
    url: str
    config_path: Path
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def index_url(self) -> str:
        return f"{self.url}/simple/"

    def cli(
        self, *args: str, env: dict[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a `mirror` command against this mirror's config."""
        result = subprocess.run(
            [sys.executable, "-m", "mirror", "--config", str(self.config_path), *args],
            env=client_env(**(env or {})),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"mirror {' '.join(args)} failed: {result.stderr}")
        return result

    def get(self, path: str, **kw: Any) -> urllib3.BaseHTTPResponse:
        return urllib3.request("GET", self.url + path, timeout=30, retries=False, **kw)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def access_lines(self, path: str, count: int = 1, seconds: float = 10) -> list[Any]:
        """The access log's entries for ``path`` once ``count`` are written (the workers write
        them in batches, about half a second late), or all there are after ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            entries = [
                json.loads(line)
                for line in self.logs().splitlines()
                if line.startswith("{") and '"method"' in line
            ]
            found = [entry for entry in entries if entry["path"] == path]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


def _wait_ready(mirror: RunningMirror) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if mirror.process.poll() is not None:
            raise AssertionError(f"mirror serve exited early:\n{mirror.logs()[-4000:]}")
        try:
            if mirror.get("/healthz").status == 200:
                return
        except urllib3.exceptions.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"mirror serve did not become ready:\n{mirror.logs()[-4000:]}")


@pytest.fixture
def start_mirror(
    tmp_path: Path,
    fake_upstream: FakeUpstream,  # noqa: F811
) -> Iterator[Callable[..., RunningMirror]]:
    """Start a real `mirror serve` (gunicorn) on a free port; stopped after the test."""
    started: list[RunningMirror] = []

    def start(
        upstream_url: str | None = None,
        env: dict[str, str] | None = None,
        data_dir: Path | None = None,
        **sections: dict[str, Any],
    ) -> RunningMirror:
        """Keyword args are config sections; pass an earlier ``data_dir`` to restart on it."""
        data_dir = data_dir or tmp_path / f"mirror-{len(started)}"
        port = free_port()
        config = merge(
            base_sections(data_dir, upstream_url or fake_upstream.simple_url),
            {"server": {"bind": f"127.0.0.1:{port}", "workers": 2}},
        )
        config_path = write_config(
            tmp_path / f"mirror-{len(started)}.toml", merge(config, sections)
        )
        log_path = tmp_path / f"mirror-{len(started)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "mirror", "--config", str(config_path), "serve"],
                env=client_env(**(env or {})),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        mirror = RunningMirror(f"http://127.0.0.1:{port}", config_path, data_dir, process, log_path)
        started.append(mirror)
        _wait_ready(mirror)
        return mirror

    yield start
    for mirror in started:
        stop_process(mirror.process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def fixtures_dir(name: str) -> Path:
    """A folder of ../shared/fixtures, or a skip that says what is missing."""
    path = FIXTURES / name
    if not path.is_dir():
        pytest.skip(f"needs ../shared/fixtures/{name} (real test data beside the checkout)")
    return path
