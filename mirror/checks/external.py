"""External scanners (docs/admission.md, "External scanners"): an operator's command run on a
downloaded file, whose JSON verdict is kept as advisory evidence (what it may hold, and how:
``mirror.scanner_rules``). A scanner never admits anything.

The command runs without a shell: the argument list as configured, with the file's path in
place of every ``{file}`` in it, else appended as the last argument. It gets no standard
input, a fresh working directory and only ``PATH``, ``HOME``, ``LANG``, ``LC_ALL`` and
``TMPDIR`` of the mirror's environment (no database URL, no storage keys); its whole process
group is killed at ``timeout`` or as soon as it prints more than ``max_output`` bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from mirror.scanner_rules import Scanner, ScanOutcome, record

_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
_STDERR_KEPT = 500
_CHUNK = 64 * 1024


def scan(scanner: Scanner, path: Path) -> ScanOutcome:
    """Run ``scanner`` on the file at ``path``; never raises for anything the scanner does."""
    env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
    with tempfile.TemporaryDirectory(prefix="scanner-") as work:
        try:
            process = subprocess.Popen(
                scanner.argv(path),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=work,
                env=env,
                start_new_session=True,  # its own process group: killed whole
            )
        except OSError as exc:
            return ScanOutcome(error=f"cannot start: {exc.strerror or exc}")
        return _finish(scanner, process)


def _finish(scanner: Scanner, process: subprocess.Popen[bytes]) -> ScanOutcome:
    assert process.stdout is not None and process.stderr is not None
    stdout = _Capped(process.stdout, scanner.max_output, on_overflow=lambda: _kill(process))
    stderr = _Capped(process.stderr, _STDERR_KEPT)
    readers = [threading.Thread(target=r.drain, daemon=True) for r in (stdout, stderr)]
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + scanner.timeout
    try:
        status = process.wait(timeout=scanner.timeout)
    except subprocess.TimeoutExpired:
        _kill(process)
        process.wait()
        return ScanOutcome(error=f"timed out after {scanner.timeout:g}s")
    finally:
        for reader in readers:
            reader.join(timeout=max(0.1, deadline - time.monotonic()))
    if stdout.overflowed:
        return ScanOutcome(error=f"printed more than {scanner.max_output} bytes")
    if status < 0:
        return ScanOutcome(error=f"killed by signal {-status}{stderr.excerpt()}")
    try:
        verdict = json.loads(stdout.data)
    except ValueError:
        error = f"no JSON verdict (exit {status}){stderr.excerpt()}"
        return ScanOutcome(error=error, exit_status=status)
    return ScanOutcome(verdict=verdict, exit_status=status)


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


class _Capped:
    """Reads a pipe to its end, keeping at most ``limit`` bytes; past that, ``on_overflow``
    runs once and the rest is discarded."""

    def __init__(self, pipe: IO[bytes], limit: int, on_overflow: Any = None) -> None:
        self.pipe, self.limit, self.on_overflow = pipe, limit, on_overflow
        self.data = b""
        self.overflowed = False

    def drain(self) -> None:
        with self.pipe:
            while chunk := self.pipe.read1(_CHUNK):  # type: ignore[attr-defined]
                if self.overflowed:
                    continue
                self.data += chunk
                if len(self.data) > self.limit:
                    self.data = self.data[: self.limit]
                    self.overflowed = True
                    if self.on_overflow is not None:
                        self.on_overflow()

    def excerpt(self) -> str:
        text = self.data.decode("utf-8", "replace").strip()
        return f": {text}" if text else ""


def scan_all(scanners: Sequence[Scanner], path: Path, at: str) -> dict[str, Any]:
    """Every scanner's evidence record for the file at ``path``, by scanner name."""
    return {scanner.name: record(scanner, scan(scanner, path), at) for scanner in scanners}
