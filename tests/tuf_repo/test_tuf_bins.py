"""Pure helpers: bin assignment agrees with python-tuf, paths, batches."""

from __future__ import annotations

import hashlib

import pytest
from tuf.api.metadata import SuccinctRoles

from tuf_repo.bins import (
    TargetChange,
    bin_for_path,
    bin_names,
    check_target_path,
    group_by_bin,
    index_html_path,
    index_json_path,
    package_path,
)

SHA = hashlib.sha256(b"x").hexdigest()


def test_demo_wheel_goes_to_bin_88() -> None:
    assert bin_for_path("packages/demo/demo-1.0-py3-none-any.whl") == "bin-88"


@pytest.mark.parametrize("bit_length", [1, 4, 8, 10, 14])
def test_bin_assignment_matches_succinct_roles(bit_length: int) -> None:
    succinct = SuccinctRoles([], 1, bit_length, "bin")
    paths = [f"packages/p{i}/p{i}-1.0.tar.gz" for i in range(2000)]
    assert [bin_for_path(p, bit_length) for p in paths] == [
        succinct.get_role_for_target(p) for p in paths
    ]
    assert bin_names(bit_length) == list(succinct.get_roles())


def test_path_constructors() -> None:
    assert package_path("demo", "demo-1.0.tar.gz") == "packages/demo/demo-1.0.tar.gz"
    assert index_html_path("zope-interface") == "simple/zope-interface/index.html"
    assert index_json_path("zope-interface") == "simple/zope-interface/index.json"


@pytest.mark.parametrize("project", ["Demo", "zope.interface", "a_b", "x/y", "", "-x"])
def test_non_normalized_project_refused(project: str) -> None:
    with pytest.raises(ValueError, match="normalized"):
        package_path(project, "f.whl")


@pytest.mark.parametrize("filename", ["", "../x", "a/b", ".hidden", "a b.whl", "a\n.whl"])
def test_bad_file_name_refused(filename: str) -> None:
    with pytest.raises(ValueError):
        package_path("demo", filename)


@pytest.mark.parametrize(
    "path", ["packages/demo", "packages/demo/x/y.whl", "other/demo/x.whl", "simple//index.html"]
)
def test_paths_outside_the_delegation_refused(path: str) -> None:
    # targets delegates only packages/*/* and simple/*/*: anything else would
    # be signed but never found by a client.
    with pytest.raises(ValueError, match="outside"):
        check_target_path(path)


def test_target_change_validation() -> None:
    assert TargetChange.remove("packages/demo/a.whl").op == "remove"
    with pytest.raises(ValueError, match="sha256"):
        TargetChange.add("packages/demo/a.whl", 1, "ABC")
    with pytest.raises(ValueError, match="negative"):
        TargetChange.add("packages/demo/a.whl", -1, SHA)
    with pytest.raises(ValueError, match="op"):
        TargetChange("move", "packages/demo/a.whl")  # type: ignore[arg-type]


def test_group_by_bin_keeps_the_last_change_per_path() -> None:
    a = "packages/demo/demo-1.0-py3-none-any.whl"
    b = "simple/demo/index.html"
    changes = [TargetChange.add(a, 1, SHA), TargetChange.add(b, 2, SHA), TargetChange.remove(a)]
    grouped = group_by_bin(changes)
    assert sorted(c.path for g in grouped.values() for c in g) == sorted([a, b])
    assert [c.op for g in grouped.values() for c in g if c.path == a] == ["remove"]
