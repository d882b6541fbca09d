"""A WSGI app for testing gunicorn workers: ``/pid`` answers the worker's process id, and
``/hold/<dir>`` keeps its thread until ``<dir>/release`` exists (``<dir>/holder`` says who)."""

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path.startswith("/hold/"):
        folder = Path("/" + path.removeprefix("/hold/"))
        (folder / "holder").write_text(str(os.getpid()))
        deadline = time.monotonic() + 30
        while not (folder / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
