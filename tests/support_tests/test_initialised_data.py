"""make_backends starts from a copy of one initialised data directory: what it gets must be
what `initialise` makes of an empty one."""

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import inspect

from mirror.config import load_config
from mirror.db.engine import make_engine
from mirror.server import initialise
from mirror.services.backends import Backends
from tests.support.config_files import base_sections, write_config


def shape(data_dir: Path) -> tuple[list[str], int, list[str]]:
    """The TUF metadata files, the number of key files (their names are key ids) and the
    database's tables."""
    metadata = sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*.json"))
    keys = [name for name in metadata if name.startswith("keys/")]
    engine = make_engine(f"sqlite:///{data_dir / 'mirror.db'}")
    tables = sorted(inspect(engine).get_table_names())
    engine.dispose()
    return [name for name in metadata if name not in keys], len(keys), tables


def test_the_copy_is_what_a_first_start_makes(
    make_backends: Callable[..., Backends], tmp_path: Path
) -> None:
    make_backends()
    fresh = tmp_path / "fresh"
    config = write_config(tmp_path / "fresh.toml", base_sections(fresh, "http://127.0.0.1:9/"))
    initialise(load_config(config, env={}))
    assert shape(tmp_path / "data") == shape(fresh)
    assert "alembic_version" in shape(fresh)[2]


def test_a_test_choosing_its_own_storage_starts_empty(
    make_backends: Callable[..., Backends], initialised_data: Path, tmp_path: Path
) -> None:
    own = tmp_path / "own"
    make_backends(storage={"path": str(own)})
    assert not (tmp_path / "data").exists()

    def key_names(data_dir: Path) -> set[str]:
        return {path.name for path in (data_dir / "keys").iterdir()}

    # Keys of its own: the same roles, other key ids.
    assert shape(own)[1] == shape(initialised_data)[1] > 0
    assert key_names(own) != key_names(initialised_data)
