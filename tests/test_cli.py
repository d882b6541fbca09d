"""The command line: one clear line and a non-zero exit for every error, never a traceback."""

import socket
import subprocess
import sys
from pathlib import Path

from tests.support.config_files import write_config
from tests.support.ports import free_port
from tests.support.processes import client_env


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


def test_wrong_type_stops_serve_before_any_data_is_created(tmp_path: Path) -> None:
    data = tmp_path / "d"
    bad = write_config(
        tmp_path / "bad.toml", {"storage": {"path": str(data)}, "server": {"workers": "four"}}
    )
    assert_one_line_error(
        mirror("--config", str(bad), "serve"),
        "server.workers must be a whole number of at least 1, not 'four'",
    )
    assert not data.exists()


def test_bad_policy_rule_stops_serve_before_any_data_is_created(tmp_path: Path) -> None:
    data = tmp_path / "d"
    bad = write_config(
        tmp_path / "bad.toml",
        {"storage": {"path": str(data)}, "policy": {"allow": ["acme-*>=1"]}},
    )
    assert_one_line_error(mirror("--config", str(bad), "serve"), "acme-*>=1")
    assert not data.exists()


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


def test_config_is_taken_before_and_after_the_subcommand(tmp_path: Path) -> None:
    # docs show `mirror serve --config F`; every command takes it in either place.
    bad = write_config(tmp_path / "bad.toml", {"policy": {"quarantin": "1d"}})
    for args in (
        ("--config", str(bad), "serve"),
        ("serve", "--config", str(bad)),
        ("review", "list", "--config", str(bad)),
        ("review", "--config", str(bad), "list"),
    ):
        assert_one_line_error(mirror(*args), "unknown config key")
    verbose = mirror("token", "list", "--config", str(bad), "--verbose")
    assert "unknown config key" in verbose.stderr and "Traceback" in verbose.stderr


def test_run_keeps_the_callers_working_directory(tmp_path: Path) -> None:
    # ./run installs from the checkout but must read relative arguments where it was called.
    # A stand-in venv whose stamp says "installed" keeps ./run from installing anything.
    repo = Path(__file__).parents[1]
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    script = venv / "bin" / "mirror"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mirror "$@"\n')
    script.chmod(0o755)
    stamp = subprocess.run(
        ["sha256sum", "requirements/main.txt", "pyproject.toml"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    (venv / ".run-stamp-main.txt").write_text(stamp.stdout)
    config = write_config(tmp_path / "here.toml", {"policy": {"quarantin": "1d"}})
    result = subprocess.run(
        [str(repo / "run"), "mirror", "--config", config.name, "sync"],
        env={**client_env(), "MIRROR_VENV": str(venv)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert_one_line_error(result, "unknown config key")
