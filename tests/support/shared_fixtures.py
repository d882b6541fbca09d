"""Real test data kept beside the checkout, in ../shared/fixtures (recorded attestations,
real distributions): too large or too foreign to live in the repository."""

from pathlib import Path

import pytest

SHARED_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"


def fixtures_dir(name: str) -> Path:
    """A folder of ../shared/fixtures, or a skip that says what is missing."""
    path = SHARED_FIXTURES / name
    if not path.is_dir():
        pytest.skip(f"needs ../shared/fixtures/{name} (real test data beside the checkout)")
    return path
