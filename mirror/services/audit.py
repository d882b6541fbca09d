"""Who pulled which file: every distribution file served is recorded, in batches.

The first question after an incident is "which pipelines installed this release". Serving must
not wait for the database, so a request only appends to an in-process buffer; a background
thread writes the buffer as one INSERT statement in one transaction every ``audit.flush_interval``
or as soon as ``audit.batch_size`` records are waiting, and once more when the process exits
(``atexit``: gunicorn workers exit through ``sys.exit`` on TERM, QUIT and INT). Each gunicorn
worker has its own buffer. A process killed with SIGKILL loses what it had not flushed yet: at
most one interval's worth of records. If the database is unreachable, records stay buffered (up
to ``MAX_BUFFERED``; beyond that the oldest are dropped and the loss is logged).
"""

import atexit
import logging
import os
import threading
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from mirror.db import download_rows
from mirror.db.engine import writing
from mirror.errors import NotFoundError
from mirror.names import is_valid_project_name, normalize
from mirror.services.context import Services

log = logging.getLogger(__name__)

MAX_BUFFERED = 100_000
MAX_USER_AGENT = 500


@dataclass(frozen=True)
class Download:
    at: datetime
    project: str
    version: str
    filename: str
    token_id: str | None
    remote_addr: str | None
    user_agent: str | None


class DownloadRecorder:
    """Buffers download records and writes them from one background thread per process."""

    def __init__(self, engine: Engine, *, interval: float, batch_size: int) -> None:
        self._engine = engine
        self._interval = interval
        self._batch_size = max(1, batch_size)
        self._reset()

    def _reset(self) -> None:
        # Also run in a forked child: the parent's buffer, lock and thread are not ours.
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._buffer: list[Download] = []
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._at_exit = False

    def record(self, download: Download) -> None:
        """Queue one record; never blocks on the database."""
        if self._pid != os.getpid():
            self._reset()
        with self._lock:
            self._buffer.append(download)
            full = len(self._buffer) >= self._batch_size
            if self._thread is None:
                self._start()
        if full:
            self._wake.set()

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="download-audit", daemon=True)
        self._thread.start()
        if not self._at_exit:
            atexit.register(self.close)
            self._at_exit = True

    def _run(self) -> None:
        # The thread ends once a flush leaves nothing behind; the next record starts another,
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
        """Write everything buffered now; the number of records written."""
        with self._lock:
            batch, self._buffer = self._buffer, []
        if not batch:
            return 0
        try:
            with writing(self._engine) as conn:
                download_rows.add_downloads(conn, [asdict(item) for item in batch])
        except SQLAlchemyError as exc:
            self._requeue(batch, exc)
            return 0
        return len(batch)

    def _requeue(self, batch: list[Download], exc: Exception) -> None:
        with self._lock:
            self._buffer = batch + self._buffer
            dropped = len(self._buffer) - MAX_BUFFERED
            if dropped > 0:
                del self._buffer[:dropped]
        log.error(
            "download audit not written; kept for the next flush",
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


def recorder_for(services: Services) -> DownloadRecorder:
    config = services.config
    return DownloadRecorder(
        services.engine,
        interval=config.duration("audit", "flush_interval").total_seconds(),
        batch_size=int(config.get("audit", "batch_size")),
    )


def downloads(
    services: Services, project: str, version: str | None = None, *, limit: int | None = None
) -> list[Download]:
    """Who pulled ``project`` (one ``version`` when given), newest first."""
    if not is_valid_project_name(project):
        raise NotFoundError(f"invalid project name {project[:100]!r}")
    with services.engine.connect() as conn:
        rows = download_rows.release_downloads(conn, normalize(project), version, limit)
    return [
        Download(
            at=row.at,
            project=row.project,
            version=row.version,
            filename=row.filename,
            token_id=row.token_id,
            remote_addr=row.remote_addr,
            user_agent=row.user_agent,
        )
        for row in rows
    ]
