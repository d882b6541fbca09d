"""Fixtures and hooks shared by the whole suite: a hermetic environment, the app on a fake
upstream, a real `mirror serve` process for end-to-end tests, and the slow mark on every test
that starts a server. Helpers that tests and bench/ import live in tests/support/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mirror.app import create_app
from mirror.config import load_config
from mirror.server import initialise
from mirror.services.backends import Backends
from tests.support import running_mirror
from tests.support.config_files import base_sections, merge, write_config
from tests.support.fake_upstream import FakeUpstream
from tests.support.fixtures import (  # noqa: F401 (fixtures)
    _session_bucket,
    dist_builder,
    fake_upstream,
    own_postgres_server,
    postgres_server,
    postgres_url,
    s3_bucket,
    seaweed_server,
)
from tests.support.processes import stop_process
from tests.support.running_mirror import RunningMirror

# A test that uses one of these fixtures, itself or through another fixture, starts a server
# or a browser; one that carries one of these marks needs a server. Either is slow, whoever
# writes it: `-m "not slow"` (the fast loop, README.md) leaves it out. A new fixture that starts
# a server belongs here; a test that runs an installer (pip, uv, poetry, `mirror install`)
# marks itself, as nothing at collection says so.
SERVER_FIXTURES = frozenset(
    {"start_mirror", "postgres_server", "own_postgres_server", "seaweed_server", "browser"}
)
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


# What `initialise` makes of a new data directory depends on these sections only.
INITIALISED_BY = frozenset({"storage", "database", "tuf", "debug"})


@pytest.fixture(scope="session")
def initialised_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory as `initialise` leaves it on the defaults: the migrated SQLite database,
    TUF keys and version 1 of every role. Copied, never changed: migrating and bootstrapping
    TUF cost each test that builds backends about 0.3 s of CPU; the copy about 0.03 s."""
    root = tmp_path_factory.mktemp("initialised")
    unreachable = "http://127.0.0.1:9/simple/"  # initialise never asks upstream
    config = write_config(root / "mirror.toml", base_sections(root / "data", unreachable))
    initialise(load_config(config, env={}))
    return root / "data"


@pytest.fixture
def make_backends(
    tmp_path: Path,
    fake_upstream: FakeUpstream,  # noqa: F811
    initialised_data: Path,
) -> Callable[..., Backends]:
    """Backends on a fresh data dir and the fake upstream; keyword args are config sections.
    Unless they choose the storage, database, keys or clock, the data dir starts as a copy of
    ``initialised_data``, which `initialise` then finds complete."""

    def build(**sections: dict[str, Any]) -> Backends:
        data_dir = tmp_path / "data"
        if not INITIALISED_BY.intersection(sections) and not data_dir.exists():
            shutil.copytree(initialised_data, data_dir, copy_function=shutil.copyfile)
        path = write_config(
            tmp_path / "mirror.toml",
            merge(base_sections(data_dir, fake_upstream.simple_url), sections),
        )
        config = load_config(path, env={})
        initialise(config)
        return Backends.from_config(config)

    return build


@pytest.fixture
def backends(make_backends: Callable[..., Backends]) -> Backends:
    return make_backends()


@pytest.fixture
def app(backends: Backends) -> Flask:
    return create_app(backends.config, backends)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


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
        mirror = running_mirror.launch(
            tmp_path,
            upstream_url or fake_upstream.simple_url,
            label=f"mirror-{len(started)}",
            data_dir=data_dir,
            env=env,
            **sections,
        )
        started.append(mirror)
        mirror.wait_ready()
        return mirror

    yield start
    for mirror in started:
        stop_process(mirror.process)
