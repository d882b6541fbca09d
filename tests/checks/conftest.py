"""Fixtures for the evidence gatherers: the recorded PEP 740 attestations, isolated caches."""

from pathlib import Path

import pytest

# tests/checks/ -> tests/ -> the repository -> its parent, where shared/ sits beside it.
PEP740_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "pep740"


@pytest.fixture
def pep740() -> Path:
    """The folder of real attestations and the files they cover (see its README)."""
    if not PEP740_FIXTURES.is_dir():
        pytest.skip("needs ../shared/fixtures/pep740 (real PEP 740 attestations)")
    return PEP740_FIXTURES


@pytest.fixture
def sigstore_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fresh XDG dirs: sigstore's TUF cache must not leak in from (or out to) the user's."""
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    return cache
