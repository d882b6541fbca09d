"""The gunicorn worker `mirror serve` runs stops listening while its threads are busy, so a
new connection goes to a worker with a free thread (docs/performance.md: bursts landed on one
process)."""

import http.client
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port

pytestmark = pytest.mark.slow  # starts gunicorn

ROUNDS = 5  # without the balancing, all five landing elsewhere by chance: 1 in 32


@pytest.fixture
def two_single_thread_workers(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--worker-class",
        "mirror.balanced_worker.BalancedThreadWorker",
        "--workers",
        "2",
        "--threads",
        "1",
        "--bind",
        f"127.0.0.1:{port}",
        "tests.support.holding_app:app",
    ]
    log = (tmp_path / "gunicorn.log").open("wb")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_both_workers(port)
        yield port
    finally:
        server.terminate()
        server.wait(30)


def _wait_for_both_workers(port: int) -> None:
    pids: set[str] = set()
    deadline = time.monotonic() + 30
    while len(pids) < 2:
        assert time.monotonic() < deadline, f"workers answering: {pids}"
        pids |= {get(port, "/pid")} - {""}
        time.sleep(0.02)


def get(port: int, path: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        return connection.getresponse().read().decode()
    except OSError:
        return ""
    finally:
        connection.close()


def test_a_connection_goes_to_the_worker_with_a_free_thread(
    two_single_thread_workers: int, tmp_path: Path
) -> None:
    port = two_single_thread_workers
    for round_ in range(ROUNDS):
        folder = tmp_path / f"hold-{round_}"
        folder.mkdir()
        holding = threading.Thread(target=get, args=(port, f"/hold{folder}"))
        holding.start()
        while not (folder / "holder").exists():
            time.sleep(0.01)
        holder = (folder / "holder").read_text()
        try:
            assert get(port, "/pid") not in ("", holder)
        finally:
            (folder / "release").touch()
            holding.join(30)
