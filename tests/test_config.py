import tomllib
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mirror.config import key_types, load_config
from mirror.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_example_config_documents_every_default() -> None:
    example = load_config(REPO / "config" / "mirror.toml", env={})
    defaults = load_config(None, env={})
    assert replace(example, source=defaults.source) == defaults


# Keys whose default is worked out at run time: config/mirror.toml shows them commented out.
DERIVED = {"upstream.url", "database.url", "auth.anonymous_read", "tuf.keys_dir"}


def _dotted(table: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for key, value in table.items():
        nested = isinstance(value, dict)
        keys |= _dotted(value, f"{prefix}{key}.") if nested else {prefix + key}
    return keys


def test_example_config_lists_every_key_of_the_typed_sections() -> None:
    text = (REPO / "config" / "mirror.toml").read_text()
    written = _dotted(tomllib.loads(text))
    commented = {key for key in DERIVED if f"# {key.rsplit('.', 1)[1]} = " in text}
    # policy.projects is a table per project, notify.webhook, auth.oidc.trust and
    # checks.external lists of tables: each shown by a commented-out example.
    assert "# [policy.projects." in text and "# [[notify.webhook]]" in text
    assert "# [[auth.oidc.trust]]" in text and "# [[checks.external]]" in text
    examples = {"policy.projects", "notify.webhook", "auth.oidc.trust", "checks.external"}
    assert written | commented | examples == set(key_types())


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
    assert config.policy.quarantine == timedelta(hours=36)
    assert config.policy.deny == ("evil",)
    assert config.server.workers == 4
    assert config.upstream.url == "http://upstream.test/simple/"
    assert config.storage.s3.bucket == "blobs"
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
        ('[server]\nworkers = "four"\n', "server.workers must be a whole number of at least 1"),
        ("[server]\nthreads = 2.5\n", "server.threads must be a whole number of at least 1"),
        ("[upstream]\nretries = -1\n", "upstream.retries must be a whole number of at least 0"),
        ('[upstream]\nprefetch_dependencies = "yes"\n', "prefetch_dependencies must be true or"),
        ("[upstream]\ntimeout = true\n", "upstream.timeout must be a duration"),
        ('[policy]\ndeny = "evil"\n', "policy.deny must be a list of strings"),
        ("[policy]\nallow = [1]\n", "policy.allow must be a list of strings"),
        ('[provenance]\nmode = "strict"\n', 'provenance.mode must be one of: "required"'),
        ("[storage.s3]\nbucket = 3\n", "storage.s3.bucket must be a string"),
        ('[storage]\ns3 = "bucket"\n', "config key 'storage.s3' must be a table"),
        ('[storage]\nbackend = "s3"\n', "storage.backend is s3 but storage.s3.bucket is empty"),
        ("[auth]\nanonymous_read = 1\n", "auth.anonymous_read must be true or false"),
        ('[policy.projects.x]\nprovenance = "often"\n', "policy.projects.x.provenance must be"),
        ('[policy.projects.x]\nquarantine = "soon"\n', "policy.projects.x.quarantine: invalid"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(path, env={})
    assert "\n" not in str(raised.value)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.toml", env={})


@pytest.mark.parametrize(
    "value", ['"files.internal"', '["http://files.internal/"]', "[1]", '["a:b"]']
)
def test_allowed_hosts_must_be_host_or_host_port_strings(value: str) -> None:
    with pytest.raises(ConfigError, match="allowed_hosts"):
        load_config(None, env={"MIRROR_UPSTREAM_ALLOWED_HOSTS": value})


def test_env_overrides_are_checked_like_the_file() -> None:
    with pytest.raises(ConfigError, match=r"server\.workers must be a whole number"):
        load_config(None, env={"MIRROR_SERVER_WORKERS": "many"})


def test_env_override_of_a_string_key_keeps_the_text_as_written() -> None:
    config = load_config(None, env={"MIRROR_STORAGE_S3_PREFIX": "2024", "MIRROR_TUF_KEYS_DIR": "1"})
    assert config.storage.s3.prefix == "2024"
    assert config.tuf.keys_dir == "1"


WEBHOOK = (
    '[[notify.webhook]]\nurl = "https://chat.example/hooks/T0K3N"\nsecret = "0123456789abcdef"\n'
)
BLOCKED = 'events = ["blocked"]\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (WEBHOOK, r"notify.webhook\[0\].events must be a list of strings"),
        (WEBHOOK + 'events = ["blocked", "lunch"]\n', "events must list some of"),
        (WEBHOOK.replace("https://chat", "file://chat") + BLOCKED, "http or https"),
        (WEBHOOK + 'events = ["blocked"]\ncolour = "red"\n', "unknown key"),
        (
            '[[notify.webhook]]\nurl = "https://a.example/"\nsecret = "short"\n' + BLOCKED,
            "secret must be a string of at least 16 characters",
        ),
        ((WEBHOOK + 'events = ["blocked"]\n') * 2, "two entries share a name"),
        ('[notify]\nwebhook = "https://a.example/"\n', "must be an array of tables"),
    ],
)
def test_bad_webhooks_are_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(path, env={})
    assert "\n" not in str(raised.value) and "short" not in str(raised.value)


def test_a_webhook_is_named_without_its_path_and_its_secret_is_not_shown(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(WEBHOOK + 'events = ["blocked", "exposure", "blocked"]\n')
    (hook,) = load_config(path, env={}).notify.webhook
    assert (hook.name, hook.events) == ("https://chat.example", ("blocked", "exposure"))
    assert "0123456789abcdef" not in repr(hook) and "T0K3N" not in hook.name


def oidc_config(tmp_path: Path, trust: str, auth: str = "") -> Path:
    path = tmp_path / "m.toml"
    path.write_text(f"[auth]\n{auth}\n[auth.oidc]\n[[auth.oidc.trust]]\n{trust}\n")
    return path


def test_oidc_trust_entries_are_parsed_with_defaults(tmp_path: Path) -> None:
    trust = 'issuer = "https://ci.example"\nclaims = { repository = "acme/*" }'
    config = load_config(oidc_config(tmp_path, trust, 'max_ttl = "2d"'), env={})
    assert config.auth.max_ttl == timedelta(days=2)
    (entry,) = config.auth.oidc.trust
    assert (entry.issuer, dict(entry.claims), entry.scope, entry.ttl, entry.jwks_file) == (
        "https://ci.example",
        {"repository": "acme/*"},
        "read",
        timedelta(minutes=15),
        "",
    )
    assert config.auth.oidc.audience == "signed-mirror"


@pytest.mark.parametrize(
    ("trust", "message"),
    [
        ('issuer = "https://ci.example"\nclaims = {}', "at least one claim"),
        ('issuer = "https://ci.example"', "at least one claim"),
        ('issuer = "http://ci.example"\nclaims = { a = "b" }', "must be an https:// URL"),
        ('issuer = "http://127.0.0.1@ci.example"\nclaims = { a = "b" }', "https:// URL"),
        ('issuer = "https://ci.example"\nclaims = { a = "b" }\nttl = "2h"', "at most 1h"),
        ('issuer = "https://ci.example"\nclaims = { a = "b" }\nttl = "0"', "at most 1h"),
        ('issuer = "https://ci.example"\nclaims = { a = 1 }', "claims.a must be a string"),
        ('issuer = "https://ci.example"\nclaims = { a = "b" }\naudience = "x"', "unknown key"),
    ],
)
def test_bad_oidc_trust_entries_are_one_line_errors(
    tmp_path: Path, trust: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(oidc_config(tmp_path, trust), env={})


def test_an_upload_trust_entry_carries_its_project_patterns_normalised(tmp_path: Path) -> None:
    trust = (
        'issuer = "https://ci.example"\nclaims = { repository = "acme/*" }\n'
        'scope = "upload"\nprojects = ["Acme_*", "acme-*", "tools"]'
    )
    (entry,) = load_config(oidc_config(tmp_path, trust), env={}).auth.oidc.trust
    assert (entry.scope, entry.projects) == ("upload", ("acme-*", "tools"))


UPLOAD_TRUST = 'issuer = "https://ci.example"\nclaims = { a = "b" }\nscope = "upload"\n'


@pytest.mark.parametrize(
    ("trust", "message"),
    [
        (UPLOAD_TRUST, r"trust\[0\].projects: the upload scope needs 1 to 50 project name"),
        (UPLOAD_TRUST + "projects = []", "needs 1 to 50 project name patterns"),
        (UPLOAD_TRUST + 'projects = ["acme/*"]', "'acme/\\*' is no project name pattern"),
        (UPLOAD_TRUST + 'projects = "acme-*"', r"trust\[0\].projects must be a list of str"),
        (UPLOAD_TRUST + "projects = [1]", r"trust\[0\].projects must be a list of str"),
        (
            UPLOAD_TRUST.replace('"upload"', '"read"') + 'projects = ["acme-*"]',
            r"trust\[0\].projects: project name patterns are for the upload scope only",
        ),
        (
            'issuer = "https://ci.example"\nclaims = { a = "b" }\nprojects = ["acme-*"]',
            "are for the upload scope only",
        ),
    ],
)
def test_upload_trust_entries_need_project_patterns_and_only_they(
    tmp_path: Path, trust: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(oidc_config(tmp_path, trust), env={})
    assert "\n" not in str(raised.value)


def test_max_ttl_must_be_positive(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text('[auth]\nmax_ttl = "0"\n')
    with pytest.raises(ConfigError, match="max_ttl must be longer than zero"):
        load_config(path, env={})


GPU = '[[upstream.indexes]]\nname = "gpu"\nurl = "http://gpu.test/simple/"\nprojects = ["torch"]\n'
CATCH_ALL = '[[upstream.indexes]]\nname = "{name}"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GPU + "quarantinee = '1d'\n", r"unknown config key 'upstream.indexes\[gpu\].quarantinee'"),
        (
            CATCH_ALL.format(name="a") + CATCH_ALL.format(name="b"),
            "a and b both have no `projects`",
        ),
        (CATCH_ALL.format(name="all") + GPU, "all has no `projects` and must come last"),
        (
            GPU.replace('["torch"]', '["torch/*"]'),
            r"indexes\[gpu\].projects: 'torch/\*' is neither",
        ),
        (GPU.replace('["torch"]', '["torch>=2"]'), "is neither a project name nor a glob"),
        (GPU + GPU, "two indexes are named 'gpu'"),
        (GPU.replace('url = "http://gpu.test/simple/"\n', ""), r"indexes\[gpu\] needs a url"),
        ('[[upstream.indexes]]\nurl = "http://a.test/"\n', r"'upstream.indexes\[0\].name' is req"),
        (GPU.replace("gpu.test", "u:p@gpu.test"), "must not carry credentials"),
        (GPU.replace("http://", "file://"), "must be an http"),
        (GPU + 'token_env = "T"\npassword_env = "P"\nusername = "u"\n', "not several"),
        (GPU + 'password_env = "P"\n', "password_env needs a username"),
        (GPU + 'missing_upload_time = "guess"\n', "missing_upload_time must be one of"),
        (GPU + "retries = -1\n", r"indexes\[gpu\].retries must be a whole number of at least 0"),
        (GPU + 'allowed_hosts = ["a/b"]\n', "allowed_hosts"),
        ('[upstream]\nindexes = ["gpu"]\n', "must be a list of tables"),
    ],
)
def test_bad_indexes_are_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as raised:
        load_config(path, env={})
    assert "\n" not in str(raised.value)


def test_a_single_upstream_is_one_catch_all_index() -> None:
    config = load_config(None, env={"MIRROR_UPSTREAM_URL": "http://upstream.test/simple/"})
    [index] = config.upstream.routes
    assert index.catch_all and index.url is None  # the backends use upstream.url
    assert config.index_for("torch") is index


def test_indexes_route_by_first_match_and_settings_fall_back(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        "[policy]\nquarantine = '7d'\n[policy.projects.torch]\nquarantine = '5d'\n"
        + GPU.replace('["torch"]', '["torch", "Nvidia_*"]')
        + 'quarantine = "1d"\nprovenance = "off"\nmissing_upload_time = "first-seen"\n'
        + CATCH_ALL.format(name="default")
    )
    config = load_config(path, env={})
    assert config.upstream.indexes[0].projects == ("torch", "nvidia-*")
    assert config.index_for("nvidia-cudnn-cu12").name == "gpu"  # type: ignore[union-attr]
    assert config.index_for("numpy").name == "default"  # type: ignore[union-attr]
    assert config.quarantine_for("torch") == timedelta(days=5)  # the project's own wins
    assert config.quarantine_for("nvidia-nccl") == timedelta(days=1)
    assert config.quarantine_for("numpy") == timedelta(days=7)
    assert config.provenance_mode_for("nvidia-nccl") == "off"
    assert config.provenance_mode_for("numpy") == "continuity"
    assert (config.age_clock_for("torch"), config.age_clock_for("numpy")) == ("first-seen", "hold")


def test_indexes_can_come_from_the_environment() -> None:
    env = {"MIRROR_UPSTREAM_INDEXES": '[{name = "gpu", url = "http://g.test/", projects = ["t"]}]'}
    config = load_config(None, env=env)
    assert config.index_for("t") is not None and config.index_for("numpy") is None
