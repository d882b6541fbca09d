import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirror.errors import ConfigError
from mirror.policy.rules import Rules


def rules(**kw: object) -> Rules:
    base = {"internal": [], "allow": [], "deny": [], "allowlist_only": False}
    base.update(kw)
    return Rules.parse(**base)  # type: ignore[arg-type]


def test_deny_by_specifier_blocks_only_matching_versions() -> None:
    r = rules(deny=["LiteLLM>=1.82.7,<1.82.9"])
    assert r.file_refusal("litellm", "1.82.7") == "denied by rule 'LiteLLM>=1.82.7,<1.82.9'"
    assert r.file_refusal("litellm", "1.82.8") is not None
    assert r.file_refusal("litellm", "1.82.9") is None
    assert r.file_refusal("other", "1.82.7") is None


def test_deny_by_name_blocks_every_version() -> None:
    assert rules(deny=["evil_pkg"]).file_refusal("evil-pkg", "0.1") is not None


def test_allow_entry_constrains_its_project() -> None:
    r = rules(allow=["torch>=2,<3"])
    assert r.file_refusal("torch", "2.4.0") is None
    assert "outside allowed versions" in (r.file_refusal("torch", "3.0") or "")
    assert r.file_refusal("numpy", "1.0") is None
    assert r.project_refusal("numpy") is None


def test_allowlist_only_refuses_unlisted_projects() -> None:
    r = rules(allowlist_only=True, allow=["numpy", "acme-*"])
    assert r.project_refusal("numpy") is None
    assert r.project_refusal("acme-tools") is None
    assert r.project_refusal("requests") == "not on the allowlist"


def test_internal_names_and_globs() -> None:
    r = rules(internal=["acme-*", "Secret_Tool"])
    assert r.is_internal("acme-core")
    assert r.is_internal("secret-tool")
    assert not r.is_internal("numpy")
    assert "internal" in (r.project_refusal("acme-core") or "")


@pytest.mark.parametrize(
    "entry", ["not a requirement !!", "pkg @ https://x.test/p.whl", "pkg; python_version<'3'"]
)
def test_invalid_entries_are_config_errors(entry: str) -> None:
    with pytest.raises(ConfigError):
        rules(deny=[entry])


# A glob with anything but name characters around it would match no project name at all: a
# rule that silently refuses nothing.
@pytest.mark.parametrize(
    "entry", ["acme-*>=1.0", "acme-* ==1.0", "acme-*; python_version<'3'", "acme/*", "acme *"]
)
@pytest.mark.parametrize("key", ["internal", "allow", "deny"])
def test_a_glob_takes_nothing_but_a_name_pattern(entry: str, key: str) -> None:
    with pytest.raises(ConfigError, match="glob"):
        rules(**{key: [entry]})


def test_internal_takes_no_specifier() -> None:
    with pytest.raises(ConfigError):
        rules(internal=["acme>=1"])


ENTRIES = st.sampled_from(["demo", "demo==1.0", "demo>=2", "dem*", "other", "other<1", "*-ml"])
NAMES = st.sampled_from(["demo", "demo-ml", "other", "plain"])
VERSIONS = ["0.9", "1.0", "2.0", "2.1rc1", "not-a-version"]


@settings(max_examples=300, deadline=None)
@given(
    internal=st.lists(st.sampled_from(["demo", "acme-*"]), max_size=1),
    allow=st.lists(ENTRIES, max_size=2),
    deny=st.lists(ENTRIES, max_size=2),
    allowlist_only=st.booleans(),
    project=NAMES,
)
def test_a_project_no_rule_may_refuse_has_no_version_refused(
    internal: list[str], allow: list[str], deny: list[str], allowlist_only: bool, project: str
) -> None:
    """The test for the whole project agrees with the rules asked version by version."""
    parsed = rules(internal=internal, allow=allow, deny=deny, allowlist_only=allowlist_only)
    refused = [parsed.file_refusal(project, version) for version in VERSIONS]
    if not parsed.refuses_versions(project):
        assert refused == [None] * len(VERSIONS)
