"""`mirror keys`: init, export-root, rotate, and the offline-root ceremony (import-root)."""

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tuf.api.metadata import Metadata, Root

from mirror.app import create_app
from mirror.cli import main
from mirror.config import load_config
from mirror.services.backends import Backends
from tests.support.config_files import base_sections, write_config
from tests.support.fake_upstream import FakeUpstream
from tests.support.tuf_clients import FlaskFetcher, plain_updater
from tuf_repo.keys import load_keyring


@pytest.fixture
def config_path(tmp_path: Path, fake_upstream: FakeUpstream) -> Path:
    return write_config(
        tmp_path / "mirror.toml", base_sections(tmp_path / "data", fake_upstream.simple_url)
    )


def run(config_path: Path, *args: str) -> int:
    return main(["--config", str(config_path), *args])


def verify(config_path: Path, root: bytes, cache: Path) -> None:
    """A plain ngclient refresh through the app, trusting ``root``."""
    config = load_config(config_path, env={})
    client = create_app(config, Backends.from_config(config)).test_client()
    plain_updater("http://mirror", root, cache, FlaskFetcher(client)).refresh()


def test_init_export_and_refuse_a_second_init(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(config_path, "keys", "init", "--root-keys", "3", "--threshold", "2") == 0
    keys = tmp_path / "data" / "keys"
    for pem in keys.glob("*.pem"):
        assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    capsys.readouterr()
    assert run(config_path, "keys", "export-root") == 0
    root = Metadata[Root].from_bytes(capsys.readouterr().out.encode()).signed
    assert root.roles["root"].threshold == 2 and len(root.roles["root"].keyids) == 3
    assert run(config_path, "keys", "init") == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == [
        "mirror: error: the TUF repository is already initialised: use `mirror keys rotate`"
    ]


def test_rotating_the_online_key_keeps_pinned_clients_working(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(config_path, "keys", "export-root")  # first use creates keys and metadata
    pinned = capsys.readouterr().out.encode()
    verify(config_path, pinned, tmp_path / "client")
    assert run(config_path, "keys", "rotate", "online") == 0
    verify(config_path, pinned, tmp_path / "client")
    verify(config_path, pinned, tmp_path / "new-client")
    assert run(config_path, "keys", "rotate", "root") == 0
    verify(config_path, pinned, tmp_path / "client")  # follows root 2 -> 3
    with pytest.raises(SystemExit):  # targets and bins are offline roles: a ceremony
        run(config_path, "keys", "rotate", "targets")
    manifest = json.loads((tmp_path / "data" / "keys" / "keyring.json").read_text())
    root = json.loads((tmp_path / "data" / "tuf" / "metadata" / "3.root.json").read_text())
    online = manifest["online"]["keys"][0].removeprefix("online-")
    assert root["signed"]["roles"]["timestamp"]["keyids"][0].startswith(online)


def test_offline_root_ceremony(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(config_path, "keys", "export-root")
    current = capsys.readouterr().out.encode()
    # On the offline machine: root N+1, here with a longer expiry, signed by the root key.
    keys = load_keyring(tmp_path / "data" / "keys")
    new = Metadata[Root].from_bytes(current)
    new.signed.version += 1
    new.signed.expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=730)
    new.signatures.clear()
    for signer in keys.root:
        new.sign(signer, append=True)
    signed_root = tmp_path / "root-2.json"
    signed_root.write_bytes(new.to_bytes())
    assert run(config_path, "keys", "import-root", str(signed_root)) == 0
    verify(config_path, current, tmp_path / "client")
    assert (
        json.loads((tmp_path / "client" / "metadata" / "root.json").read_text())["signed"][
            "version"
        ]
        == 2
    )
    # Replaying it, or a root signed by a stranger, is refused with one line.
    assert run(config_path, "keys", "import-root", str(signed_root)) == 1
    assert "version 2, expected 3" in capsys.readouterr().err
