"""One thread of one process on this host at a time per name: concurrent first requests for
one file share a single upstream download, concurrent first looks at a project one fetch.

The first takes a lock file named after what it guards in the staging folder, the others wait
on it and then find the work done. The lock file goes when the work is done.
"""

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from mirror.services.backends import Backends


@contextlib.contextmanager
def single_flight(backends: Backends, name: str) -> Iterator[None]:
    """Run the block in one thread of one process on this host at a time, per ``name``.

    The lock file is removed once the block is done (a mirror downloads millions of distinct
    files, each with its own lock), before the lock is let go: a waiter that then gets the
    lock of a file no longer at its path takes the one there now instead.
    """
    lock_path = backends.blobs.staging_dir() / f"{name}.lock"
    handle = _lock_at(lock_path)
    try:
        yield
    finally:
        lock_path.unlink(missing_ok=True)
        handle.close()


def _lock_at(path: Path) -> IO[str]:
    """An open handle on the file at ``path``, exclusively locked while it is still there."""
    while True:
        handle = path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            if _same_file(handle, path):
                return handle
        except BaseException:
            handle.close()
            raise
        handle.close()


def _same_file(handle: IO[str], path: Path) -> bool:
    try:
        linked = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(handle.fileno())
    return (linked.st_dev, linked.st_ino) == (opened.st_dev, opened.st_ino)
