"""gunicorn's threaded worker, accepting connections only while one of its threads is free.

Every worker process waits on the same listening socket, and gunicorn's ``gthread`` worker
accepts whatever it is woken for, queueing requests for its threads however busy they are. A
burst of connections (a load test opening 32 at once, uv asking for every project of a
resolution) could land on one process while the other sat idle: that process then served
everything on one core, because its threads share one interpreter. In the benchmark's warm
runs this halved the requests per second now and then (docs/performance.md; per-process CPU
showed one worker at 100% and the other at 0%).

This worker stops listening while all its threads are busy and listens again as one frees,
so the other process takes the next connection; with every thread of every process busy, new
connections wait in the kernel's backlog, as their requests would otherwise wait in a queue.
Kept-alive idle connections hold no thread and do not count.
"""

from typing import Any

from gunicorn.workers.gthread import ThreadWorker


class BalancedThreadWorker(ThreadWorker):  # type: ignore[misc]
    """``gthread`` that listens only while it has a free thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.busy = 0  # requests handed to the thread pool and not finished

    # All three run on the worker's main thread (gunicorn's event loop), so ``busy`` needs no
    # lock.

    def enqueue_req(self, conn: Any) -> None:
        self.busy += 1
        super().enqueue_req(conn)
        if self.busy >= self.cfg.threads:
            self.set_accept_enabled(False)

    def finish_request(self, conn: Any, fs: Any) -> None:
        self.busy -= 1
        super().finish_request(conn, fs)

    def set_accept_enabled(self, enabled: bool) -> None:
        # The run loop asks for "enabled" on every turn while listening is off and the
        # connection limit allows it: a freed thread turns listening back on here.
        super().set_accept_enabled(enabled and self.busy < self.cfg.threads)
