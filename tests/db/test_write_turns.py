"""SQLite writers take turns before BEGIN IMMEDIATE: threads of a process and other processes
alike, and a turn not had in time fails as SQLite's own wait does."""

import fcntl
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from mirror.db import write_turns
from mirror.db.engine import DATABASE_UNAVAILABLE, database_fault, make_engine, migrate, writing


@pytest.fixture
def database(tmp_path: Path) -> str:
    path = str(tmp_path / "m.db")
    migrate(make_engine(f"sqlite:///{path}"))
    return path


@contextmanager
def turn_held_by_another_process(database: str) -> Iterator[None]:
    """Another process inside a write transaction for the block."""
    holder = textwrap.dedent(
        f"""
        import sys
        from mirror.db.engine import make_engine, writing
        with writing(make_engine("sqlite:///{database}")):
            print("holding", flush=True)
            sys.stdin.readline()
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        assert process.stdout.readline() == "holding\n"
        yield
        process.stdin.write("done\n")
        process.stdin.flush()
        assert process.wait(30) == 0
    finally:
        process.kill()
        process.wait()


def test_a_write_transaction_holds_the_turn_of_every_process(database: str) -> None:
    fd = os.open(f"{database}.write-lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        with writing(make_engine(f"sqlite:///{database}")), pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # given back with the transaction
    finally:
        os.close(fd)


def test_a_writer_starts_once_another_process_ends_its_turn(database: str) -> None:
    engine = make_engine(f"sqlite:///{database}")
    written = threading.Event()

    def write() -> None:
        with writing(engine):
            written.set()

    with turn_held_by_another_process(database):
        writer = threading.Thread(target=write)
        writer.start()
        assert not written.wait(0.3)
    writer.join(30)
    assert written.is_set()


def test_a_turn_not_had_in_time_fails_as_a_locked_database(database: str) -> None:
    with (
        turn_held_by_another_process(database),
        pytest.raises(OperationalError, match="database is locked") as failed,
        write_turns.turn(database, timeout=0.2),
    ):
        pass
    assert database_fault(failed.value) == DATABASE_UNAVAILABLE


def test_a_thread_waits_for_the_turn_of_another_thread_of_its_process(database: str) -> None:
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with write_turns.turn(database, timeout=30):
            inside.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(30)
        with (
            pytest.raises(OperationalError, match="database is locked"),
            write_turns.turn(database, timeout=0.2),
        ):
            pass
    finally:
        release.set()
        holder.join(30)
    with write_turns.turn(database, timeout=30):  # free again
        pass
