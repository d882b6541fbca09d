"""Fixtures for the evidence gatherers: the recorded PEP 740 attestations, isolated caches."""

from pathlib import Path

import pytest

from tests.support.shared_fixtures import fixtures_dir


@pytest.fixture
def pep740() -> Path:
    """The folder of real attestations and the files they cover (see its README)."""
    return fixtures_dir("pep740")


@pytest.fixture
def sigstore_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fresh XDG dirs: sigstore's TUF cache must not leak in from (or out to) the user's."""
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    return cache
