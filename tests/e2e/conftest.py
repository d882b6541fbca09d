"""What the end-to-end tests share: a small dependency tree upstream, a poetry project and a
headless Chromium."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import browser as chromium
from tests.support.fake_upstream import FakeUpstream
from tests.support.system import missing

OLD = datetime.now(UTC) - timedelta(days=30)
FRESH = datetime.now(UTC) - timedelta(days=2)


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium (``playwright.sync_api.Browser``); tests/conftest.py marks every test
    that uses it slow."""
    if not chromium.CHROMIUM.exists():
        missing("needs /usr/bin/chromium (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    with chromium.chromium() as launched:
        yield launched


@pytest.fixture
def tree(fake_upstream: FakeUpstream, tmp_path: Path) -> FakeUpstream:
    """app-pkg -> lib-a, lib-b; lib-a 2.0 is two days old (inside the 7-day quarantine);
    extra 1.0 is old and nothing depends on it."""
    build = tmp_path / "build"
    fake_upstream.publish_release(
        "app-pkg", "1.0", tmpdir=build, upload_time=OLD, deps=["lib-a>=1", "lib-b"]
    )
    fake_upstream.publish_release("lib-a", "1.0", tmpdir=build, upload_time=OLD)
    fake_upstream.publish_release("lib-a", "2.0", tmpdir=build, upload_time=FRESH)
    fake_upstream.publish_release("lib-b", "0.5", tmpdir=build, upload_time=OLD)
    fake_upstream.publish_release("extra", "1.0", tmpdir=build, upload_time=OLD)
    return fake_upstream


def poetry_project(tmp_path: Path, index_url: str) -> tuple[Path, dict[str, str]]:
    """A poetry project depending on app-pkg with the mirror as its primary source, and the
    environment that keeps poetry's venv and cache inside ``tmp_path``."""
    project = tmp_path / "poetry-project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[tool.poetry]\nname = "consumer"\nversion = "0.1.0"\ndescription = ""\n'
        "authors = []\npackage-mode = false\n\n"
        '[tool.poetry.dependencies]\npython = ">=3.11,<4"\napp-pkg = "*"\n\n'
        f'[[tool.poetry.source]]\nname = "mirror"\nurl = "{index_url}"\n'
        'priority = "primary"\n'
    )
    env = {
        "POETRY_VIRTUALENVS_IN_PROJECT": "true",
        "POETRY_CACHE_DIR": str(tmp_path / "pc"),
        "POETRY_VIRTUALENVS_OPTIONS_NO_PIP": "true",
        "POETRY_NO_INTERACTION": "1",
    }
    return project, env
