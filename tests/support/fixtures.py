"""Pytest fixtures over the fake upstream and the distribution builders.

Import them into a conftest (``from tests.support.fixtures import fake_upstream, dist_builder``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .dists import DistBuilder
from .fake_upstream import FakeUpstream


@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    """A running fake index, empty, stopped after the test."""
    with FakeUpstream() as upstream:
        yield upstream


@pytest.fixture
def dist_builder(tmp_path: Path) -> DistBuilder:
    """Builders of real wheels and sdists writing into a fresh ``tmp_path/dists``."""
    return DistBuilder(tmp_path / "dists")
