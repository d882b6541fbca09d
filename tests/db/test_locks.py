"""The publish lock admits one publisher at a time (SQLite here; PostgreSQL in the scale tests)."""

import threading
from pathlib import Path

import pytest

from mirror.db.engine import make_engine, migrate, writing
from mirror.db.locks import LockBusyError, publish_lock
from tests.db.lock_holder import assert_the_lock_dies_with_its_holder


def test_a_second_publisher_waits_or_gives_up(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    other = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    order: list[str] = []
    with publish_lock(engine):
        with pytest.raises(LockBusyError), publish_lock(other, wait=False):
            pass
        with writing(other):  # ordinary writers are not held up by a publish
            pass

        def waiter() -> None:
            with publish_lock(other):
                order.append("second")

        thread = threading.Thread(target=waiter)
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive()  # blocked while the first holds the lock
        order.append("first")
    thread.join(timeout=10)
    assert order == ["first", "second"]
    with publish_lock(other, wait=False):  # free again
        pass


def test_the_lock_dies_with_the_process_holding_it(tmp_path: Path) -> None:
    assert_the_lock_dies_with_its_holder(f"sqlite:///{tmp_path / 'm.db'}")
