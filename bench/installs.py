"""`pip install` and `uv pip install` of a fixed requirement set, timed, into a fresh target.

Client caches are off (``--no-cache-dir``, ``--no-cache``), so "cold" and "warm" describe the
server only: cold is its first install after a fresh start with empty state, warm the next one.
pip and uv run with no configuration (``PIP_CONFIG_FILE=/dev/null``, no ``PIP_*``/``UV_*``,
``--no-config``): a machine-wide pip config may add indexes or local wheel folders.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.servers import UV_VERSION, clean_env, tool_venv

TIMEOUT = 600.0


@dataclass(frozen=True)
class InstallResult:
    seconds: float | None  # None when it failed
    error: str = ""


def tools(tools_dir: Path) -> dict[str, list[str]]:
    """The install commands, by tool name, without target, index and requirements."""
    beside = Path(sys.executable).with_name("uv")  # the test environment pins uv itself
    uv = beside if beside.exists() else tool_venv(tools_dir, "uv", [f"uv=={UV_VERSION}"]) / "uv"
    return {
        "pip": [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--quiet"],
        "uv": [str(uv), "pip", "install", "--no-config", "--no-cache", "--quiet", *_python()],
    }


def _python() -> list[str]:
    # uv installs for an interpreter; with --target it must be named.
    return ["--python", sys.executable]


def install(command: list[str], index_url: str, requirements: Path) -> InstallResult:
    target = Path(tempfile.mkdtemp(prefix="bench-install-"))
    try:
        started = time.monotonic()
        result = subprocess.run(
            [*command, "--target", str(target), "--index-url", index_url, "-r", str(requirements)],
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=TIMEOUT,
        )
        seconds = time.monotonic() - started
    except subprocess.TimeoutExpired:
        return InstallResult(None, f"timed out after {TIMEOUT:.0f} s")
    finally:
        shutil.rmtree(target, ignore_errors=True)
    if result.returncode != 0:
        return InstallResult(None, (result.stderr.strip().splitlines() or ["failed"])[-1][:300])
    return InstallResult(seconds)
