"""The scheduler beside `mirror serve`, kept running by gunicorn's own master loop.

The scheduler is started from the thread that forks gunicorn's workers, never from a thread of
its own: a worker forked while another thread is inside ``subprocess.Popen`` inherits the pipe
through which Popen learns that its child has started, and holds that Popen until the worker
exits; the scheduler, once killed, would then never be started again.
"""

import logging
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from gunicorn.arbiter import Arbiter
from gunicorn.errors import HaltServer

log = logging.getLogger(__name__)


@dataclass
class Supervisor:
    """Keeps a child process running, one `tick` at a time: an unexpected exit (kill -9, a
    crash) is followed by a restart after a delay that doubles from ``first_delay`` up to
    ``max_delay``; more than ``max_restarts`` within ``window`` seconds and it gives up and
    records why in ``failure``."""

    command: list[str]
    max_restarts: int = 5
    window: float = 300.0
    first_delay: float = 1.0
    max_delay: float = 30.0
    failure: str | None = None
    process: subprocess.Popen[bytes] | None = None
    _exits: list[float] = field(default_factory=list)
    _start_at: float = 0.0

    def tick(self) -> bool:
        """Start the child when it is due, note its exit when it has exited; False once the
        supervisor has given up."""
        if self.failure is not None:
            return False
        if self.process is not None:
            status = self.process.poll()
            if status is None:
                return True
            self.process = None
            self._exited(status)
        if self.failure is None and time.monotonic() >= self._start_at:
            self.process = subprocess.Popen(self.command)
        return self.failure is None

    def reap(self) -> None:
        """Collect the child's exit status before anything else waits for any child (gunicorn's
        master does), which would leave only "it exited" without how."""
        if self.process is not None:
            self.process.poll()

    def stop(self, timeout: float = 30) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _exited(self, status: int) -> None:
        now = time.monotonic()
        self._exits = [moment for moment in self._exits if now - moment < self.window] + [now]
        if len(self._exits) > self.max_restarts:
            self.failure = (
                f"the scheduler exited {len(self._exits)} times within {self.window:.0f} s "
                f"(last status {status}); stopping the server"
            )
            log.critical(self.failure)
            return
        delay = min(self.first_delay * 2 ** (len(self._exits) - 1), self.max_delay)
        self._start_at = now + delay
        log.error(
            "the scheduler exited unexpectedly; restarting it",
            extra={"status": status, "delay_seconds": delay, "restarts": len(self._exits)},
        )


class SupervisingArbiter(Arbiter):  # type: ignore[misc]
    """gunicorn's master, which also keeps ``supervisor``'s child running; when the supervisor
    gives up, the master stops its workers gracefully and exits non-zero."""

    def __init__(self, app: Any, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        super().__init__(app)

    def handle_chld(self) -> None:
        self.supervisor.reap()
        super().handle_chld()

    # gunicorn names SIGCHLD by its alias SIGCLD on some platforms and dispatches either name.
    handle_cld = handle_chld

    def manage_workers(self) -> None:
        super().manage_workers()
        if not self.supervisor.tick():
            raise HaltServer(self.supervisor.failure, 1)

    def stop(self, graceful: bool = True) -> None:
        super().stop(graceful)
        self.supervisor.stop()
