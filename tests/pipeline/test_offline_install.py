"""The install step runs with no network (docs/tuf.md, "No network while installing"): pip, and
anything it starts, cannot connect anywhere, not even to this machine."""

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mirror.pipeline.install import run_pip
from mirror.pipeline.offline import unavailable_reason
from mirror.pipeline.target import probe

UNAVAILABLE = unavailable_reason()
needs_namespaces = pytest.mark.skipif(
    UNAVAILABLE is not None,
    reason=f"this machine allows no private network namespace: {UNAVAILABLE}",
)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A local TCP port that accepts connections, and tells whether one arrived."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.5)
        yield server


def connections(server: socket.socket) -> int:
    """How many connections arrived since the last call."""
    count = 0
    while True:
        try:
            accepted, _ = server.accept()
        except TimeoutError:
            return count
        accepted.close()
        count += 1


def pip_download_from(server: socket.socket, tmp_path: Path, isolated: bool) -> int:
    """pip, through ``run_pip``, asked to fetch from ``server``; returns pip's exit code."""
    port = server.getsockname()[1]
    target = probe(sys.executable)[1]
    arguments = [
        "download", "--no-deps", "--retries", "0", "--timeout", "5", "-d", str(tmp_path),
        "--index-url", f"http://127.0.0.1:{port}/simple/", "anything",
    ]  # fmt: skip
    return run_pip(target, arguments, isolated=isolated).returncode


@pytest.mark.slow  # runs pip twice
@needs_namespaces
def test_pip_run_isolated_cannot_reach_even_a_local_port(
    listener: socket.socket, tmp_path: Path
) -> None:
    # Without the namespace the same pip call reaches the port: the check can fail.
    assert pip_download_from(listener, tmp_path, isolated=False) != 0
    assert connections(listener) >= 1

    assert pip_download_from(listener, tmp_path, isolated=True) != 0
    assert connections(listener) == 0


def test_where_no_namespace_can_be_made_the_reason_is_one_line() -> None:
    if UNAVAILABLE is None:
        assert unavailable_reason() is None  # stable across calls
    else:
        assert UNAVAILABLE and "\n" not in UNAVAILABLE
