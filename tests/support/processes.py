"""Running pip, uv, poetry and `mirror` as the tests' child processes, and stopping them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def pip_install_command(index_url: str, target: Path, *requirements: str) -> list[str]:
    """pip installing ``requirements`` from ``index_url`` into the folder ``target``, with no
    cache and no prompt, as the end-to-end tests run it."""
    return [
        sys.executable, "-m", "pip", "install", "--no-input", "--no-cache-dir",
        "--disable-pip-version-check", "--target", str(target), "--index-url", index_url,
        *requirements,
    ]  # fmt: skip


def uv_install_command(index_url: str, target: Path, *requirements: str) -> list[str]:
    """uv's pip interface doing what ``pip_install_command`` does, for this interpreter."""
    return [
        "uv", "pip", "install", "--no-cache", "--target", str(target),
        "--python", sys.executable, "--index-url", index_url, *requirements,
    ]  # fmt: skip


def client_env(**extra: str) -> dict[str, str]:
    """Environment for pip, uv and poetry: no PIP_*/UV_* settings, no pip config file."""
    # VIRTUAL_ENV (exported by ./run) would make poetry and uv install into the test runner's
    # own environment instead of the project's.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "MIRROR_", "POETRY_")) and k != "VIRTUAL_ENV"
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Ask ``process`` to stop; kill its process group after 30 seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
