"""Structured logging: one JSON object per line, with the ``extra`` fields a call passes and,
for lines a web request logs, its request id (``mirror.web.errors``)."""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}

# Set while a web request is answered; handlers format in the logging thread, so it is the
# request's own id.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# Where the request's id is kept in its WSGI environ, for the access log.
REQUEST_ID_ENVIRON = "mirror.request_id"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# Libraries that log routine steps at INFO; a start that fails must print one line, not these.
_CHATTY = ("alembic", "botocore.credentials")


def setup_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _CHATTY:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
