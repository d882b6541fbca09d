"""The lock parsers: what each format installs for a target, and hostile locks refused with
one line (a ``RequirementsError``), never a traceback."""

import sys
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirror.pipeline.inputs import read_input
from mirror.pipeline.pins import Identity, LockedFile, RequirementsError
from mirror.pipeline.target import Target, probe

HERE: Target = probe(sys.executable)[1]
A = "a" * 64
B = "b" * 64
LINUX = "sys_platform == 'linux'"
NEVER = "python_version < '3'"

PYLOCK = f"""
lock-version = "1.0"
environments = ["{LINUX}", "sys_platform == 'win32'"]
requires-python = ">=3.8"
created-by = "uv"

[[packages]]
name = "Lib_A"
version = "1.0"
wheels = [
  {{ url = "https://elsewhere.invalid/lib_a-1.0-py3-none-any.whl", hashes = {{ sha256 = "{A}" }} }},
]
sdist = {{ name = "lib_a-1.0.tar.gz", hashes = {{ sha256 = "{B}" }} }}
[[packages.attestation-identities]]
kind = "GitHub"
repository = "acme/lib-a"
workflow = "release.yml"

[[packages]]
name = "old"
version = "1"
marker = "{NEVER}"
wheels = [{{ name = "old-1-py2-none-any.whl", hashes = {{ sha256 = "{A}" }} }}]
"""

UV_LOCK = f"""
version = 1
revision = 3
requires-python = ">=3.11"

[[package]]
name = "consumer"
version = "0"
source = {{ virtual = "." }}
dependencies = [{{ name = "lib-a" }}, {{ name = "old", marker = "{NEVER}" }}]

[[package]]
name = "lib-a"
version = "1.0"
source = {{ registry = "https://elsewhere.invalid/simple" }}
dependencies = [{{ name = "lib-b" }}]
wheels = [{{ url = "https://elsewhere.invalid/lib_a-1.0-py3-none-any.whl", hash = "sha256:{A}" }}]

[[package]]
name = "lib-b"
version = "0.5"
source = {{ registry = "https://elsewhere.invalid/simple" }}
sdist = {{ url = "https://elsewhere.invalid/lib_b-0.5.tar.gz", hash = "sha256:{B}" }}

[[package]]
name = "old"
version = "1"
source = {{ registry = "https://elsewhere.invalid/simple" }}
wheels = [{{ url = "https://elsewhere.invalid/old-1-py2-none-any.whl", hash = "sha256:{A}" }}]
"""

POETRY_LOCK = f"""
[[package]]
name = "lib-a"
version = "1.0"
optional = false
python-versions = ">=3.8"
groups = ["main"]
files = [{{ file = "lib_a-1.0-py3-none-any.whl", hash = "sha256:{A}" }}]

[[package]]
name = "pytest"
version = "8.0"
optional = false
groups = ["dev"]
files = [{{ file = "pytest-8.0-py3-none-any.whl", hash = "sha256:{A}" }}]

[[package]]
name = "old"
version = "1"
optional = false
groups = ["main"]
markers = {{ main = "{NEVER}" }}
files = [{{ file = "old-1-py2-none-any.whl", hash = "sha256:{A}" }}]

[metadata]
lock-version = "2.1"
python-versions = ">=3.11"
content-hash = "0"
"""


def read(tmp_path: Path, name: str, text: str) -> list[Any]:
    path = tmp_path / name
    path.write_text(text)
    return read_input(path, HERE.markers)


def test_pylock_for_the_target(tmp_path: Path) -> None:
    if HERE.markers["sys_platform"] != "linux":
        pytest.skip("the sample lock's environments name linux")
    [pin] = read(tmp_path, "pylock.toml", PYLOCK)
    assert (pin.project, pin.version) == ("lib-a", "1.0")
    assert pin.files == (
        LockedFile("lib_a-1.0-py3-none-any.whl", A),
        LockedFile("lib_a-1.0.tar.gz", B),
    )
    assert pin.identities == (
        Identity("GitHub", (("repository", "acme/lib-a"), ("workflow", "release.yml"))),
    )
    verified = {"kind": "GitHub", "repository": "acme/lib-a", "workflow": "release.yml"}
    assert pin.identities[0].matches({**verified, "environment": "pypi"})
    assert not pin.identities[0].matches({**verified, "repository": "evil/lib-a"})
    other = PYLOCK.replace("sys_platform == 'win32'", "sys_platform == 'nowhere'")
    elsewhere = other.replace(LINUX, "sys_platform == 'plan9'")
    with pytest.raises(RequirementsError, match="none of the lock's environments"):
        read(tmp_path, "pylock.toml", elsewhere)


def test_uv_lock_follows_the_graph_for_the_target(tmp_path: Path) -> None:
    pins = read(tmp_path, "uv.lock", UV_LOCK)
    assert {(p.project, p.version, p.files) for p in pins} == {
        ("lib-a", "1.0", (LockedFile("lib_a-1.0-py3-none-any.whl", A),)),
        ("lib-b", "0.5", (LockedFile("lib_b-0.5.tar.gz", B),)),
    }


def test_poetry_lock_main_group_for_the_target(tmp_path: Path) -> None:
    [pin] = read(tmp_path, "poetry.lock", POETRY_LOCK)
    assert (pin.project, pin.files) == ("lib-a", (LockedFile("lib_a-1.0-py3-none-any.whl", A),))
    with pytest.raises(RequirementsError, match=r"lock-version 2\.0 is not supported"):
        read(tmp_path, "poetry.lock", POETRY_LOCK.replace('"2.1"', '"2.0"'))


def test_recognised_by_content_under_any_name_and_refused_when_names_lie(tmp_path: Path) -> None:
    assert [p.project for p in read(tmp_path, "deps.lock", UV_LOCK)] != []
    with pytest.raises(RequirementsError, match=r"named like a poetry\.lock but its content"):
        read(tmp_path, "poetry.lock", UV_LOCK)
    with pytest.raises(RequirementsError, match=r"uv\.lock: not valid TOML"):
        read(tmp_path, "uv.lock", "lib-a==1.0\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (PYLOCK.replace('version = "1.0"\nwheels', 'version = "1.0"\nvcs = {}\nwheels'),
         "a vcs source cannot come from the mirror"),
        (PYLOCK.replace('lock-version = "1.0"', 'lock-version = "2.0"'), "lock-version 2.0"),
        (PYLOCK.replace(f'sha256 = "{A}"', 'sha256 = "zz"', 1), "a sha256 is 64 hex digits"),
        (PYLOCK.replace('requires-python = ">=3.8"', 'requires-python = "<3"'), "excludes"),
    ],
)  # fmt: skip
def test_hostile_or_unusable_pylocks_are_refused(tmp_path: Path, text: str, message: str) -> None:
    if HERE.markers["sys_platform"] != "linux":
        pytest.skip("the sample lock's environments name linux")
    with pytest.raises(RequirementsError, match=message):
        read(tmp_path, "pylock.toml", text)


# Any TOML value: what a hostile lock can put where a parser expects something else.
toml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.sampled_from(
        ["sha256:" + A, A, "lib-a", "1.0", "x-1.0-py3-none-any.whl", LINUX, "1.0", "2.1"]
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["name", "version", "wheels", "sdist", "hashes", "sha256", "url",
                         "marker", "source", "registry", "virtual", "dependencies", "hash",
                         "file", "files", "groups", "markers", "kind", "lock-version",
                         "package", "packages", "metadata", "content-hash",
                         "attestation-identities", "environments", "requires-python"]),
        inner, max_size=5),
    max_leaves=25,
)  # fmt: skip


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value if v is not None]
    return value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    name=st.sampled_from(["pylock.toml", "uv.lock", "poetry.lock", "requirements.txt"]),
    shape=st.sampled_from(["pylock", "uv", "poetry"]),
    body=st.dictionaries(st.text(max_size=10), toml_values, max_size=4),
    payload=toml_values,
)
def test_hostile_locks_fail_with_one_line(
    tmp_path: Path, name: str, shape: str, body: dict[str, Any], payload: Any
) -> None:
    document: dict[str, Any] = {
        "pylock": {"lock-version": "1.0", "packages": [payload]},
        "uv": {"version": 1, "package": [payload, {"name": "c", "source": {"virtual": "."},
                                                   "dependencies": [{"name": "lib-a"}]}]},
        "poetry": {"metadata": {"lock-version": "2.1", "content-hash": "0"}, "package": [payload]},
    }[shape]  # fmt: skip
    document.update({k: v for k, v in _without_none(body).items() if k not in document})
    text = tomlkit.dumps(_without_none(document))
    try:
        read(tmp_path, name, text)
    except RequirementsError as exc:
        assert "\n" not in str(exc).strip()


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(["pylock.toml", "uv.lock", "poetry.lock", "requirements.txt"]),
       text=st.text(max_size=200))  # fmt: skip
def test_arbitrary_text_fails_with_one_line(tmp_path: Path, name: str, text: str) -> None:
    try:
        read(tmp_path, name, text)
    except RequirementsError as exc:
        assert "\n" not in str(exc).strip()
