"""Free TCP ports on 127.0.0.1 for the servers tests start."""

from __future__ import annotations

import random
import socket


def free_port() -> int:
    """A port the kernel just handed out (free now; another process may take it later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports_with_offset(count: int, offset: int) -> list[int]:
    """``count`` distinct ports P, each with P + ``offset`` free too.

    SeaweedFS puts each component's gRPC listener at its HTTP port + 10000.
    """
    chosen: list[int] = []
    while len(chosen) < count:
        port = random.randint(20000, 65535 - offset)
        taken = {p for c in chosen for p in (c, c + offset)}
        if taken.isdisjoint({port, port + offset}) and _is_free(port) and _is_free(port + offset):
            chosen.append(port)
    return chosen
