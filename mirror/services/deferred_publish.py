"""Sign what a first look left queued, on a background thread, soon after its client's answer.

A first look signs the project's pages alone (``publish.publish_now(pages_only=True)``): two
targets, where its files' targets touch every bin. The files' targets are signed here, in one
batch for whatever several first looks queued meanwhile, once the requests asking for it pause
for ``quiet`` seconds (at most ``longest`` after the first): a resolver reads one project after
another (pip) or many at once (uv), and a batch run between its requests would take CPU from
the next first look the client waits for. A request made during a batch runs one more batch
after it, so nothing queued waits for the scheduler's cycle unless this process cannot sign (a
scaled-out web node) or dies first; then the worker's next cycle signs it, as it does every
queued change.
"""

import logging
import os
import threading
import time

from mirror.services import publish
from mirror.services.context import Services

log = logging.getLogger(__name__)


class DeferredPublisher:
    """One background thread per process that publishes everything ready when asked."""

    # Seconds without a new request before a batch starts, and the longest a request waits.
    quiet = 0.5
    longest = 5.0

    def __init__(self, services: Services) -> None:
        self._services = services
        self._wanted = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._pid = 0

    def pages_now(self, project: str) -> None:
        """Sign ``project``'s queued pages now (its client is waiting for them), and everything
        else ready soon, on the background thread."""
        publish.publish_now(self._services, project, pages_only=True)
        self.soon()

    def soon(self) -> None:
        """Publish everything ready after the batch in progress, if any."""
        with self._lock:
            # Started in the process that uses it: a thread made before gunicorn forks is gone.
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="deferred-publish", daemon=True).start()
            self._idle.clear()
            self._wanted.set()

    def wait_idle(self, timeout: float) -> bool:
        """Whether every requested batch is done within ``timeout`` seconds (tests, shutdown)."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._settle()
            try:
                publish.publish_now(self._services)
            except Exception:
                log.exception("deferred publish failed; the scheduler's cycle retries")
            with self._lock:
                if not self._wanted.is_set():
                    self._idle.set()

    def _settle(self) -> None:
        """Wait until no request came for ``quiet`` seconds, or ``longest`` passed."""
        deadline = time.monotonic() + self.longest
        while True:
            self._wanted.clear()
            left = deadline - time.monotonic()
            if left <= 0 or not self._wanted.wait(min(self.quiet, left)):
                return
