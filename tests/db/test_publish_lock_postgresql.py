"""The publish lock on PostgreSQL: an advisory lock that spans processes and dies with them."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from mirror.db.engine import make_engine, migrate, writing
from mirror.db.locks import LockBusyError, publish_lock
from tests.db.lock_holder import assert_the_lock_dies_with_its_holder

pytestmark = pytest.mark.scaled


def test_a_second_publisher_gives_up_or_waits(postgres_url: str) -> None:
    engine, other = make_engine(postgres_url), make_engine(postgres_url)
    migrate(engine)
    holding, release = threading.Event(), threading.Event()
    order: list[str] = []

    def first() -> None:
        with publish_lock(engine):
            holding.set()
            release.wait(30)
            order.append("first")

    def second() -> None:
        with publish_lock(other):
            order.append("second")

    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(first)
        holding.wait(30)
        with pytest.raises(LockBusyError), publish_lock(other, wait=False):
            pass
        with writing(other):  # ordinary writers are not held up by a publish
            pass
        waiting = pool.submit(second)
        release.set()
        held.result(30)
        waiting.result(30)
    assert order == ["first", "second"]


def test_the_lock_dies_with_the_process_holding_it(postgres_url: str) -> None:
    migrate(make_engine(postgres_url))
    assert_the_lock_dies_with_its_holder(postgres_url)
