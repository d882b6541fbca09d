"""Writers take turns on SQLite before they ask for its write lock (docs/performance.md,
"Writers take turns").

SQLite's own wait for its write lock (``busy_timeout``) sleeps between tries, 1 ms at first and
up to 100 ms after a while, so a writer waiting behind a 20 ms transaction often starts tens of
milliseconds after it ended, and writers queued under load (a resolver's concurrent first
looks) leave the lock idle between them. So writers first take a turn: threads of one process
queue on a lock of the process, which wakes the next at once; the one thread a process has
waiting then takes an exclusive ``flock`` on a file beside the database, looking again within
1 ms while another process holds it. BEGIN IMMEDIATE then finds the lock free (anything else
writing meanwhile, a migration, is still waited for by SQLite). A turn not had within the busy
timeout fails as SQLite's own wait does. PostgreSQL needs none of this: its advisory lock
queues writers in the server.
"""

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError

# The first look again at another process's turn, and the longest between two looks: a write
# transaction takes a millisecond to tens of them.
FIRST_LOOK = 0.0002
LONGEST_LOOK = 0.001

_in_process: dict[str, threading.Lock] = {}
_in_process_guard = threading.Lock()


@contextmanager
def turn(database: str, timeout: float) -> Iterator[None]:
    """Hold the write turn of the SQLite file ``database`` for the block.

    Raises:
        OperationalError: no turn within ``timeout`` seconds ("database is locked", as SQLite
            says when its own wait ends).
    """
    deadline = time.monotonic() + timeout
    queue = _process_queue(database)
    if not queue.acquire(timeout=timeout):
        raise _locked()
    try:
        # One open file description per turn: the flock goes with its close.
        fd = os.open(f"{database}.write-lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _flock_before(fd, deadline)
            yield
        finally:
            os.close(fd)
    finally:
        queue.release()


def _process_queue(database: str) -> threading.Lock:
    with _in_process_guard:
        return _in_process.setdefault(database, threading.Lock())


def _flock_before(fd: int, deadline: float) -> None:
    pause = FIRST_LOOK
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise _locked() from None
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_LOOK)


def _locked() -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
