"""Items gathered in memory and written together, from a thread of their own: the one shape of
the download audit (``mirror.services.audit``) and the access log (``mirror.access_log``).

A batch is written every ``interval`` seconds, as soon as ``batch_size`` items wait, and when
the process exits (``atexit``: gunicorn workers exit through ``sys.exit`` on TERM, QUIT and
INT). Each process has its own buffer: one made before a fork starts afresh in the child, whose
parent's buffer, lock and thread are not its own. A process killed outright (SIGKILL, out of
memory) loses what it had not written yet: at most one interval's worth.
"""

import atexit
import logging
import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class BatchWriter(Generic[T]):
    """Gathers items and hands them to ``write`` in batches.

    ``keep_on``: errors of ``write`` after which the batch is kept for the next one (the oldest
    dropped beyond ``max_kept``, and the loss logged). ``full_in_caller``: a full batch is
    written by the thread that filled it, not the writer's thread (when writing costs less
    than waking a thread).
    """

    def __init__(
        self,
        write: Callable[[list[T]], None],
        *,
        name: str,
        interval: float,
        batch_size: int,
        keep_on: tuple[type[Exception], ...] = (),
        max_kept: int = 0,
        full_in_caller: bool = False,
    ) -> None:
        self._write = write
        self._name = name
        self._interval = interval
        self._batch_size = max(1, batch_size)
        self._keep_on = keep_on
        self._max_kept = max_kept
        self._full_in_caller = full_in_caller
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._buffer: list[T] = []
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._at_exit = False

    def add(self, item: T) -> None:
        """Queue one item; never waits for a write unless ``full_in_caller``."""
        if self._pid != os.getpid():
            self._reset()
        with self._lock:
            self._buffer.append(item)
            full = len(self._buffer) >= self._batch_size
            if self._thread is None:
                self._start()
        if full and self._full_in_caller:
            self.flush()
        elif full:
            self._wake.set()

    def _start(self) -> None:
        thread_name = self._name.replace(" ", "-")
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self._thread.start()
        if not self._at_exit:
            atexit.register(self.close)
            self._at_exit = True

    def _run(self) -> None:
        # The thread ends once a flush leaves nothing behind; the next item starts another,
        # so an idle process (or a test's app) keeps no thread.
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            self.flush()
            with self._lock:
                if self._stopping or not self._buffer:
                    self._thread = None
                    return

    def flush(self) -> int:
        """Write everything buffered now; the number of items written."""
        with self._lock:
            batch, self._buffer = self._buffer, []
        if not batch:
            return 0
        try:
            self._write(batch)
        except self._keep_on as exc:
            self._keep(batch, exc)
            return 0
        return len(batch)

    def _keep(self, batch: list[T], exc: Exception) -> None:
        with self._lock:
            self._buffer = batch + self._buffer
            dropped = len(self._buffer) - self._max_kept
            if dropped > 0:
                del self._buffer[:dropped]
        log.error(
            f"{self._name} not written; kept for the next flush",
            extra={"error": str(exc), "records": len(batch), "dropped": max(dropped, 0)},
        )

    def close(self) -> None:
        """Stop the thread and write what is left (at process exit)."""
        if self._at_exit:
            atexit.unregister(self.close)
            self._at_exit = False
        with self._lock:
            thread, self._stopping = self._thread, True
        self._wake.set()
        if thread is not None and self._pid == os.getpid():
            thread.join(timeout=30)
        self._stopping = False
        self.flush()
