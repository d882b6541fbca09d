"""The access log's batches: lines written together, soon, and at exit."""

import io
import logging
import subprocess
import sys
import time

from mirror.access_log import AccessBatch


class Recording(logging.Handler):
    """A handler that is not a stream (as syslog's): it keeps each message."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class CountingStream(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.writes = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.writes += 1
        super().emit(record)


def logger_with(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(f"test.access.{name}")
    logger.handlers = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def test_a_full_batch_is_written_at_once() -> None:
    stream = CountingStream()
    batch = AccessBatch(logger_with(stream, "full"), batch_lines=3, flush_seconds=3600.0)
    batch.add('{"n": 1}')
    batch.add('{"n": 2}')
    assert stream.writes == 0
    batch.add('{"n": 3}')
    assert stream.writes == 1
    assert stream.stream.getvalue().splitlines() == ['{"n": 1}', '{"n": 2}', '{"n": 3}']


def test_lines_are_written_soon_without_more_requests() -> None:
    stream = CountingStream()
    batch = AccessBatch(logger_with(stream, "soon"), flush_seconds=0.05)
    batch.add('{"n": 1}')
    deadline = time.monotonic() + 10
    while not stream.writes and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.stream.getvalue() == '{"n": 1}\n'


def test_a_handler_that_is_not_a_stream_gets_one_line_per_message() -> None:
    recording = Recording()
    batch = AccessBatch(logger_with(recording, "syslog"), batch_lines=2)
    batch.add('{"n": 1}')
    batch.add('{"n": 2}')
    assert recording.messages == ['{"n": 1}', '{"n": 2}']


def test_lines_left_are_written_when_the_process_exits() -> None:
    script = (
        "import logging, sys\n"
        "from mirror.access_log import AccessBatch\n"
        "logger = logging.getLogger('exit')\n"
        "logger.addHandler(logging.StreamHandler(sys.stdout))\n"
        "logger.setLevel(logging.INFO)\n"
        "AccessBatch(logger).add('{\"last\": true}')\n"
    )
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"last": true}\n'
