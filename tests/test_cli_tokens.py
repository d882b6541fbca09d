"""`mirror token create|list|revoke`: shown once, listed without secrets, one-line errors."""

import re
import subprocess
import sys
from pathlib import Path

from tests.support.config_files import write_config
from tests.support.processes import client_env
from tests.test_cli import assert_one_line_error


def mirror(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mirror", "--config", str(config), *args],
        env=client_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_create_list_revoke(tmp_path: Path) -> None:
    config = write_config(tmp_path / "m.toml", {"storage": {"path": str(tmp_path / "data")}})
    created = mirror(config, "token", "create", "--scope", "review", "--ttl", "2h", "--name", "bob")
    assert created.returncode == 0, created.stderr
    secret = re.search(r"^token: (smt_\S{40,})$", created.stdout, re.M).group(1)  # type: ignore[union-attr]
    token_id = re.search(r"^id: (\w+)$", created.stdout, re.M).group(1)  # type: ignore[union-attr]
    assert "shown only now" in created.stderr
    listed = mirror(config, "token", "list").stdout
    assert re.search(rf"^{token_id}\treview\tactive\t\S+Z\tnever\tbob$", listed, re.M)
    assert secret not in listed
    assert secret not in (tmp_path / "data" / "mirror.db").read_bytes().decode(errors="replace")
    assert mirror(config, "token", "revoke", token_id).stdout == f"revoked {token_id}\n"
    assert f"{token_id}\treview\trevoked" in mirror(config, "token", "list").stdout
    assert_one_line_error(mirror(config, "token", "revoke", token_id), "already revoked")
    assert_one_line_error(mirror(config, "token", "revoke", "nope"), "no token with id")
    bad_ttl = mirror(config, "token", "create", "--scope", "read", "--ttl", "soon")
    assert_one_line_error(bad_ttl, "invalid duration")


def test_unused_lists_read_tokens_never_presented(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "m.toml",
        {"storage": {"path": str(tmp_path / "data")}, "auth": {"max_ttl": "1d"}},
    )
    too_long = mirror(config, "token", "create", "--scope", "read", "--ttl", "2d")
    assert_one_line_error(too_long, "longer than auth.max_ttl")
    assert mirror(config, "token", "list", "--unused").stdout == "no unused read tokens\n"
    created = mirror(config, "token", "create", "--scope", "read", "--name", "idle")
    mirror(config, "token", "create", "--scope", "review", "--name", "person")
    expires = re.search(r"^expires: (\S+)$", created.stdout, re.M).group(1)  # type: ignore[union-attr]
    token_id = re.search(r"^id: (\w+)$", created.stdout, re.M).group(1)  # type: ignore[union-attr]
    unused = mirror(config, "token", "list", "--unused").stdout
    assert unused == f"{token_id}\tread\tactive\t{expires}\tnever\tidle\n"


def test_upload_tokens_carry_their_project_patterns(tmp_path: Path) -> None:
    config = write_config(tmp_path / "m.toml", {"storage": {"path": str(tmp_path / "data")}})
    made = mirror(config, "token", "create", "--scope", "upload", "--projects", "acme-*,Tools_X")
    assert made.returncode == 0, made.stderr
    assert "projects: acme-*, tools-x" in made.stdout
    assert re.search(
        r"\tupload\tactive\t\S+Z\tnever\tupload-\w+\tprojects=acme-\*,tools-x$",
        mirror(config, "token", "list").stdout,
        re.M,
    )
    no_patterns = mirror(config, "token", "create", "--scope", "upload")
    assert_one_line_error(no_patterns, "--projects: the upload scope needs 1 to 50")
    read_with_patterns = mirror(config, "token", "create", "--scope", "read", "--projects", "a")
    assert_one_line_error(
        read_with_patterns, "--projects: project name patterns are for the upload"
    )
    unknown = mirror(config, "private", "delete", "acme-x", "acme_x-1.0.tar.gz", "--reason", "r")
    assert_one_line_error(unknown, "no such uploaded file")
