"""Pytest fixtures over the fake upstream, the distribution builders and the real servers the
scaled-out tests need (PostgreSQL, SeaweedFS for S3).

Import them into a conftest (``from tests.support.fixtures import fake_upstream, dist_builder``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from . import postgres, seaweed
from .dists import DistBuilder
from .fake_upstream import FakeUpstream
from .postgres import PostgresServer
from .seaweed import SeaweedServer
from .system import missing


@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    """A running fake index, empty, stopped after the test."""
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def dist_builder(tmp_path: Path) -> DistBuilder:
    """Builders of real wheels and sdists writing into a fresh ``tmp_path/dists``."""
    return DistBuilder(tmp_path / "dists")


def _postgres_cluster() -> Iterator[PostgresServer]:
    reason = postgres.available()
    if reason:
        missing(reason)
    with postgres.running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throw-away PostgreSQL cluster per test session (per xdist worker), stopped at the end."""
    yield from _postgres_cluster()


@pytest.fixture
def own_postgres_server() -> Iterator[PostgresServer]:
    """A cluster of the test's own, for tests that stop, restart or freeze it."""
    yield from _postgres_cluster()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A SQLAlchemy URL of a fresh, empty database on the session's cluster."""
    return postgres_server.database()


@pytest.fixture(scope="session")
def seaweed_server() -> Iterator[SeaweedServer]:
    """One SeaweedFS S3 server per test session (per xdist worker), stopped at the end."""
    reason = seaweed.available()
    if reason:
        missing(reason)
    with seaweed.running_seaweed() as server:
        yield server


@dataclass
class S3Bucket:
    """Where one test's objects go: a shared bucket and a prefix of the test's own."""

    server: SeaweedServer
    name: str
    prefix: str

    def storage_section(self, **s3: Any) -> dict[str, Any]:
        """The ``[storage]`` config section for this bucket; ``s3`` overrides keys."""
        settings = {
            "bucket": self.name,
            "prefix": self.prefix,
            "endpoint_url": self.server.endpoint_url,
            "region": seaweed.REGION,
        }
        return {"backend": "s3", "s3": settings | s3}

    def keys(self, under: str = "") -> list[str]:
        """Object keys below the mirror's prefix (without it)."""
        start = len(self.prefix) + 1
        return [key[start:] for key in self.server.keys(self.name, f"{self.prefix}/{under}")]


@pytest.fixture(scope="session")
def _session_bucket(seaweed_server: SeaweedServer) -> str:
    # SeaweedFS allocates volumes per bucket (about half a second): tests share one bucket.
    return seaweed_server.bucket()


_PREFIXES = itertools.count()


@pytest.fixture
def s3_bucket(
    seaweed_server: SeaweedServer, _session_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> S3Bucket:
    """An empty prefix in a bucket, with the server's credentials in the standard AWS variables."""
    for name, value in seaweed.aws_env().items():
        monkeypatch.setenv(name, value)
    return S3Bucket(seaweed_server, _session_bucket, f"test-{next(_PREFIXES)}")
