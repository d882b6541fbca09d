from datetime import timedelta
from pathlib import Path

import pytest

from mirror.config import load_config
from mirror.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_example_config_documents_every_default() -> None:
    example = load_config(REPO / "config" / "mirror.toml", env={})
    defaults = load_config(None, env={})
    assert example.raw == defaults.raw


def test_env_overrides_use_toml_values(tmp_path: Path) -> None:
    env = {
        "MIRROR_POLICY_QUARANTINE": "36h",
        "MIRROR_POLICY_DENY": '["evil"]',
        "MIRROR_SERVER_WORKERS": "4",
        "MIRROR_UPSTREAM_URL": "http://upstream.test/simple/",
        "MIRROR_STORAGE_S3_BUCKET": "blobs",
        "MIRROR_AUTH_ANONYMOUS_READ": "false",
    }
    config = load_config(None, env=env)
    assert config.duration("policy", "quarantine") == timedelta(hours=36)
    assert config.get("policy", "deny") == ["evil"]
    assert config.get("server", "workers") == 4
    assert config.get("upstream", "url") == "http://upstream.test/simple/"
    assert config.get("storage", "s3")["bucket"] == "blobs"
    assert config.anonymous_read is False


def test_anonymous_read_defaults_to_loopback_only() -> None:
    assert load_config(None, env={}).anonymous_read is True
    public = load_config(None, env={"MIRROR_SERVER_BIND": "0.0.0.0:8080"})
    assert public.anonymous_read is False


def test_per_project_overrides(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        '[policy]\nquarantine = "7d"\n[policy.projects.Torch_Lib]\n'
        'quarantine = "1d"\nprovenance = "off"\n'
    )
    config = load_config(path, env={})
    assert config.quarantine_for("torch-lib") == timedelta(days=1)
    assert config.quarantine_for("numpy") == timedelta(days=7)
    assert config.provenance_mode_for("torch-lib") == "off"


def test_pinned_publishers_parse_and_key_the_evidence(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        '[policy.projects.a]\nprovenance = "required"\npublisher = "github:o/r@release.yml#pypi"\n'
        '[policy.projects.b]\npublisher = { kind = "GitLab", repository = "g/p", '
        'workflow_filepath = ".gitlab-ci.yml" }\n'
    )
    config = load_config(path, env={})
    assert config.pinned_publisher_key("a") == "GitHub:o/r@release.yml#pypi"
    assert config.pinned_publisher_key("b") == "GitLab:g/p@.gitlab-ci.yml"
    assert config.pinned_publisher_key("c") is None
    assert config.provenance_mode_for("b") == "continuity"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[policy]\ndenyy = []\n", "unknown config key 'policy.denyy'"),
        ('[policy]\nquarantine = "soon"\n', "invalid duration"),
        ('[storage]\nbackend = "tape"\n', "storage.backend"),
        ('[policy.projects.x]\nprovenance = "required"\n', "needs a publisher"),
        ('[policy.projects.x]\npublisher = "Bitbucket:a/b@c.yml"\n', "unknown publisher kind"),
        ('[policy.projects.x]\npublisher = { kind = "GitHub", repository = "a/b" }\n', "workflow"),
        ("[policy]\nchecks_per_sync = 0\n", "checks_per_sync"),
        ("[server]\ntrusted_proxies = -1\n", "server.trusted_proxies must be a whole number"),
        ("[server]\ntrusted_proxies = true\n", "server.trusted_proxies must be a whole number"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, env={})


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.toml", env={})


@pytest.mark.parametrize(
    "value", ['"files.internal"', '["http://files.internal/"]', "[1]", '["a:b"]']
)
def test_allowed_hosts_must_be_host_or_host_port_strings(value: str) -> None:
    with pytest.raises(ConfigError, match="allowed_hosts"):
        load_config(None, env={"MIRROR_UPSTREAM_ALLOWED_HOSTS": value})
