"""Fixtures for tuf_repo: fresh real keys, a metadata folder, a bootstrapped
repository and a local server for it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.tuf_repo.support import TufServer, make_keyring
from tuf_repo.keys import KeyRing
from tuf_repo.repository import bootstrap
from tuf_repo.store import DirectoryMetadataStore


@pytest.fixture
def now() -> datetime:
    # The client checks expiry against the real clock, so sign around it.
    return datetime.now(UTC)


@pytest.fixture
def keyring() -> KeyRing:
    return make_keyring()


@pytest.fixture
def store(tmp_path: Path) -> DirectoryMetadataStore:
    return DirectoryMetadataStore(tmp_path / "metadata")


@pytest.fixture
def repo(store: DirectoryMetadataStore, keyring: KeyRing, now: datetime) -> DirectoryMetadataStore:
    """A bootstrapped repository with 256 empty bins."""
    bootstrap(store, keyring, now)
    return store


@pytest.fixture
def server(repo: DirectoryMetadataStore) -> Iterator[TufServer]:
    with TufServer(repo) as srv:
        yield srv
