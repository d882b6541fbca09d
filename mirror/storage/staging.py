"""The local staging folder: downloads in progress, temporary files, single-flight lock files.

A process killed mid-download (kill -9, out of memory) leaves its partial files there. Every
process that opens a blob store holds a shared lock on the folder's ``.in-use`` file for as long
as the store is open, and the kernel lets go of it when the process dies, however it dies. A
store opened while no other process holds the folder (the start of `mirror serve`, which opens
one before its workers and its scheduler start; of `mirror worker` on a host of its own; of any
command with nothing else running) takes the lock exclusively first and removes everything else
there: nobody can be writing it. A store opened beside a live process leaves the folder as it
is; the scheduler removes stray partial downloads hours old (``staging_leftovers``).
"""

import fcntl
import logging
from datetime import datetime
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

IN_USE = ".in-use"


def claim(staging: Path) -> IO[bytes]:
    """Hold ``staging`` for this process until the returned handle is closed; clear it first
    when no other process holds it."""
    handle = (staging / IN_USE).open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fcntl.flock(handle, fcntl.LOCK_SH)  # waits while a starting process clears the folder
        return handle
    except BaseException:
        handle.close()
        raise
    _clear(staging)
    fcntl.flock(handle, fcntl.LOCK_SH)
    return handle


def _clear(staging: Path) -> None:
    removed = 0
    for entry in staging.iterdir():
        if entry.name != IN_USE and not entry.is_dir():
            entry.unlink(missing_ok=True)
            removed += 1
    if removed:
        log.info(
            "removed what stopped processes left", extra={"folder": str(staging), "files": removed}
        )


def staging_leftovers(staging: Path, now: datetime) -> list[Path]:
    """Temporary downloads older than an hour: what a killed process left behind."""
    cutoff = now.timestamp() - 3600
    return [p for p in staging.glob("*.part") if p.stat().st_mtime < cutoff]
