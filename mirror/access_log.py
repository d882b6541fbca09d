"""gunicorn's access log: one JSON object per request, written in batches.

Written one by one, each line cost a write as its request ended, and with it the interpreter
handed to another thread and taken back: about a sixth of a warm page request's CPU
(measured under the benchmark's load; docs/performance.md). So each worker gathers its lines
and writes them together: once ``BATCH_LINES`` have gathered, every ``FLUSH_SECONDS`` from a
thread of its own, and when the worker exits. A line reaches the log at most about
``FLUSH_SECONDS`` after its request; a worker killed outright (SIGKILL, out of memory) loses
the lines it had not written yet.

Lines go through gunicorn's access logger, so ``accesslog``, log reopening on SIGUSR1 and
logging configs apply as usual. A handler that is not a stream (syslog) gets one line per
message, as it expects.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from gunicorn.glogging import Logger

from mirror.batches import BatchWriter
from mirror.logs import REQUEST_ID_ENVIRON

BATCH_LINES = 256
FLUSH_SECONDS = 0.5


class JsonAccessLogger(Logger):
    """gunicorn's logger, with the access log as JSON lines written in batches."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.batch = AccessBatch(self.access_log)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        entry = {
            "time": datetime.now(UTC).isoformat(),
            "remote_addr": environ.get("REMOTE_ADDR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "query": environ.get("QUERY_STRING") or None,
            "status": resp.status_code if hasattr(resp, "status_code") else str(resp.status),
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 2),
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "request_id": environ.get(REQUEST_ID_ENVIRON),
        }
        self.batch.add(json.dumps(entry))


class AccessBatch:
    """Lines gathered for ``logger``, written as one message per batch to stream handlers."""

    def __init__(
        self,
        logger: logging.Logger,
        batch_lines: int = BATCH_LINES,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self._logger = logger
        # A log write costs less than waking a thread: a full batch is written by its request.
        self._batches: BatchWriter[str] = BatchWriter(
            self._write,
            name="access log",
            interval=flush_seconds,
            batch_size=batch_lines,
            full_in_caller=True,
        )

    def add(self, line: str) -> None:
        self._batches.add(line)

    def flush(self) -> None:
        self._batches.flush()

    def _write(self, lines: list[str]) -> None:
        if all(isinstance(h, logging.StreamHandler) for h in self._logger.handlers):
            self._logger.info("\n".join(lines))
            return
        for line in lines:
            self._logger.info(line)
