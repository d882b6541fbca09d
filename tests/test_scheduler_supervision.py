"""`mirror serve` keeps its scheduler up: restarted after kill -9, and the server stops (non-zero)
when it cannot be kept up."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mirror.server import Supervisor
from tests.support.fake_upstream import FakeUpstream
from tests.support.running_mirror import RunningMirror
from tests.support.waiting import wait_until

OLD = datetime.now(UTC) - timedelta(days=30)

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
CRASHER = [sys.executable, "-c", "raise SystemExit(3)"]


def tick_until(supervisor: Supervisor, done: Callable[[], bool], timeout: float) -> bool:
    """Drive the supervisor as gunicorn's master loop does, forking a short-lived "worker"
    between ticks: the supervisor must not be held up by forks in its own thread."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fork_a_worker()
        supervisor.tick()
        if done():
            return True
        time.sleep(0.02)
    return False


def fork_a_worker() -> None:
    pid = os.fork()
    if pid == 0:
        time.sleep(0.5)
        os._exit(0)
    threading.Thread(target=os.waitpid, args=(pid, 0), daemon=True).start()


def test_a_killed_child_is_started_again_within_seconds() -> None:
    supervisor = Supervisor(SLEEPER, first_delay=0.2)
    try:
        assert tick_until(supervisor, lambda: supervisor.process is not None, 10)
        first = supervisor.process
        assert first is not None
        os.kill(first.pid, signal.SIGKILL)
        assert tick_until(
            supervisor,
            lambda: supervisor.process not in (None, first) and supervisor.process.poll() is None,
            10,
        )
        assert supervisor.failure is None
        second = supervisor.process
    finally:
        supervisor.stop()
    assert second is not None and second.poll() is not None


def test_a_child_that_keeps_exiting_makes_the_supervisor_give_up() -> None:
    supervisor = Supervisor(CRASHER, max_restarts=3, first_delay=0.05)
    try:
        assert tick_until(supervisor, lambda: not supervisor.tick(), 30)
    finally:
        supervisor.stop()
    assert supervisor.failure is not None
    assert supervisor.failure.startswith("the scheduler exited 4 times within 300 s")


def scheduler_children(serve_pid: int) -> list[int]:
    # Per thread: the master's threads are listed apart.
    tasks = Path(f"/proc/{serve_pid}/task").glob("*/children")
    children = [pid for task in tasks for pid in task.read_text().split()]
    return [
        int(pid)
        for pid in children
        if Path(f"/proc/{pid}/cmdline").exists()
        and Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[-2:-1] == [b"worker"]
    ]


def metric(mirror: RunningMirror, name: str) -> float | None:
    found = re.search(rf"^{name} (\S+)$", mirror.get("/metrics").data.decode(), re.M)
    return float(found[1]) if found else None


@pytest.mark.slow
def test_mirror_serve_restarts_its_killed_scheduler_which_then_signs_again(
    start_mirror: Callable[..., RunningMirror], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    mirror = start_mirror()
    assert wait_until(lambda: len(scheduler_children(mirror.process.pid)) == 1, 30)
    (first,) = scheduler_children(mirror.process.pid)
    os.kill(first, signal.SIGKILL)
    killed_at = time.time()
    assert wait_until(lambda: scheduler_children(mirror.process.pid) not in ([], [first]), 30), (
        mirror.logs()[-3000:]
    )
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    assert mirror.get("/simple/demo/").status in (200, 503)  # a first look queues targets
    assert wait_until(
        lambda: (
            (metric(mirror, "mirror_scheduler_last_cycle_timestamp_seconds") or 0) > killed_at
            and metric(mirror, "mirror_tuf_pending_changes") == 0
        ),
        30,
    ), mirror.logs()[-3000:]
    assert mirror.get("/readyz").status == 200
    assert mirror.process.poll() is None
    assert "Control socket" not in mirror.logs()


GIVING_UP_SERVER = """
import sys
from gunicorn.app.base import BaseApplication
from mirror.supervision import Supervisor, SupervisingArbiter

class Server(BaseApplication):
    def load_config(self):
        self.cfg.set("bind", "127.0.0.1:0")
        self.cfg.set("workers", 1)
        self.cfg.set("control_socket_disable", True)

    def load(self):
        return lambda environ, start_response: []

crasher = [sys.executable, "-c", "raise SystemExit(3)"]
SupervisingArbiter(Server(), Supervisor(crasher, max_restarts=2, first_delay=0.05)).run()
"""


def test_a_master_whose_scheduler_keeps_exiting_stops_its_workers_and_exits_non_zero() -> None:
    server = subprocess.run(
        [sys.executable, "-c", GIVING_UP_SERVER], capture_output=True, text=True, timeout=60
    )
    assert server.returncode == 1, server.stderr
    assert "the scheduler exited 3 times within 300 s (last status 3)" in server.stderr
    assert "Shutting down: Master" in server.stderr
