"""The scheduler's read-ahead (``mirror.services.prefetch.Lookahead``) run beside a test, as
`mirror worker` runs it beside the web."""

import contextlib
import threading
from collections.abc import Callable, Iterator

from mirror.db import lookahead_rows
from mirror.services.backends import Backends
from mirror.services.prefetch import Lookahead
from tests.support.waiting import wait_until


@contextlib.contextmanager
def running_lookahead(backends: Backends) -> Iterator[Lookahead]:
    """The read-ahead on its threads for the block; stopped after it (what it took finished)."""
    consumer = Lookahead(backends)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run_until, args=(stop,))
    thread.start()
    try:
        yield consumer
    finally:
        stop.set()
        thread.join(60)


def settled(backends: Backends, consumer: Lookahead) -> bool:
    """Whether nothing is queued and nothing taken is running."""
    with backends.engine.connect() as conn:
        return consumer.idle() and not lookahead_rows.entries(conn)


def run_lookahead(backends: Backends, done: Callable[[], bool] | None = None) -> bool:
    """Run the read-ahead until ``done()`` (default: all queued done); whether it came true."""
    with running_lookahead(backends) as consumer:
        return wait_until(done or (lambda: settled(backends, consumer)), 30)
