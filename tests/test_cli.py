"""The command line: one clear line and a non-zero exit for every error, never a traceback."""

import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import client_env, free_port, write_config


def mirror(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mirror", *args],
        env=client_env(),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("mirror: error:")]
    assert len(errors) == 1 and text in errors[0], result.stderr


def test_malformed_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[policy\n")
    assert_one_line_error(mirror("--config", str(bad), "sync"), "not valid TOML")


def test_unknown_config_key(tmp_path: Path) -> None:
    bad = write_config(tmp_path / "bad.toml", {"policy": {"quarantin": "1d"}})
    assert_one_line_error(mirror("--config", str(bad), "sync"), "unknown config key")


def test_port_in_use(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(
        tmp_path / "m.toml",
        {"storage": {"path": str(tmp_path / "d")}, "upstream": {"url": "http://127.0.0.1:9/"}},
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        result = mirror("--config", str(config), "serve", "--bind", f"127.0.0.1:{port}")
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}")


def test_unreachable_upstream(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "m.toml",
        {
            "storage": {"path": str(tmp_path / "d")},
            "upstream": {"url": f"http://127.0.0.1:{free_port()}/simple/", "retries": 0},
        },
    )
    result = mirror("--config", str(config), "sync", "demo")
    assert result.returncode == 1
    assert "demo: upstream unreachable" in result.stdout
    assert "Traceback" not in result.stderr


def test_invalid_project_name(tmp_path: Path) -> None:
    config = write_config(tmp_path / "m.toml", {"storage": {"path": str(tmp_path / "d")}})
    assert_one_line_error(mirror("--config", str(config), "sync", "../etc"), "invalid project")


def test_review_needs_a_known_release(tmp_path: Path) -> None:
    config = write_config(tmp_path / "m.toml", {"storage": {"path": str(tmp_path / "d")}})
    result = mirror("--config", str(config), "review", "approve", "demo", "1.0", "--reason", "x")
    assert_one_line_error(result, "no such release")
