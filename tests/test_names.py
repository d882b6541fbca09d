"""Release versions read from distribution filenames, as upstream lists them."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import parse_wheel_filename
from packaging.version import Version

from mirror.names import (
    CANONICAL_VERSION,
    USUAL_SDIST_RELEASE,
    USUAL_WHEEL_RELEASE,
    is_valid_project_name,
    parsed_release_version,
    release_version,
    version_from_filename,
)


@pytest.mark.parametrize(
    ("filename", "version"),
    [
        ("demo-1.0-py3-none-any.whl", "1.0"),
        ("demo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", "1.0"),
        ("Demo_Pkg-2.0.post1-1-py3-none-any.whl", "2.0.post1"),  # a build tag
        ("demo-01.0-py3-none-any.whl", "1.0"),  # normalised
        ("demo-1.0.tar.gz", "1.0"),
        ("demo-1.0.tar.bz2", "1.0"),
        ("demo-1.0.zip", "1.0"),
        ("other-1.0-py3-none-any.whl", None),  # another project's
        ("demo-1.0-py3-any.whl", None),  # one tag short
        ("demo-1.0-x-y-z-w-v.whl", None),  # too many parts
        ("demo-notaversion-py3-none-any.whl", None),
        ("demo-1.0-build-py3-none-any.whl", None),  # a build tag starts with a digit
        ("de__mo-1.0-py3-none-any.whl", None),  # wheel names escape runs of separators
        ("demo-1.0.exe", None),
        ("../demo-1.0.tar.gz", None),
        ("demo-" + "1." * 125 + "0.tar.gz", None),  # longer than a filename may be
        ("demo-1.0.tgz", "1.0"),
        ("demo-1.0.tar", "1.0"),
        ("demo-1.0.tar.xz", None),
        ("Demo_Pkg-01.0.tar.gz", "1.0"),
        ("demo-pkg-1.0-1.tar.gz", None),  # the version is after the last "-"
    ],
)
def test_version_from_filename(filename: str, version: str | None) -> None:
    project = "demo-pkg" if filename.startswith("Demo_Pkg") else "demo"
    assert version_from_filename(project, filename) == version


def test_wheels_of_one_release_on_many_platforms_agree_with_packaging() -> None:
    # The release part is parsed once per release; every platform's wheel must still be read
    # as packaging reads it.
    tags = ["py3-none-any", "cp311-cp311-win_amd64", "cp312-abi3-macosx_11_0_arm64"]
    for tag in tags:
        filename = f"demo-3.1rc1-2-{tag}.whl"
        assert version_from_filename("demo", filename) == str(parse_wheel_filename(filename)[1])


# -- the usual release names' shortcut against packaging's parsers ----------------------------

# Pieces of odd and hostile release names: separators in runs and at the ends, versions
# packaging rewrites (leading zeros, epochs, local parts, spelled-out pre-releases, upper
# case), build tags of every kind, characters no release name has.
_NAME_PIECES = ["demo", "Demo", "DEMO", "pkg", "x", "0", "_", ".", "-", "__", "..", "+", "\n"]
_VERSION_PIECES = [
    *["0", "1", "01", "10", "007", "2", ".", "..", "-", "_", "+", "!", "1!", "0!", " "],
    *["a", "b", "c", "rc", "RC", "alpha", "pre", "preview", "post", ".post", "-post"],
    *["dev", ".dev", "DEV", "local", "+local", "+1", "+01", "v", "V", "x", "-1", "-1x", "-x"],
]
_PROJECTS = ["demo", "Demo", "demo-pkg", "demo.pkg", "DEMO__PKG", "x", "0", "pkg", "demo-1"]


def _joined(pieces: list[str], max_size: int) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(pieces), max_size=max_size).map("".join)


_ODD_RELEASES = st.one_of(
    st.builds(
        lambda name, version: f"{name}-{version}",
        _joined(_NAME_PIECES, 4),
        _joined(_VERSION_PIECES, 6),
    ),
    st.text(max_size=40),
)


def _projects_of(release: str) -> st.SearchStrategy[str]:
    """The project a release's name part says, as a page may spell it, or another one."""
    name = release.rsplit("-", 1)[0]
    first = release.split("-", 1)[0]
    spellings = [name, name.upper(), name.replace("_", "-"), first, first.lower()]
    return st.sampled_from(_PROJECTS + spellings)


def _assert_as_packaging_reads(data: st.DataObject, release: str) -> None:
    project = data.draw(_projects_of(release))
    for wheel in (True, False):
        assert release_version(project, release, wheel=wheel) == parsed_release_version(
            project, release, wheel=wheel
        ), (project, release, wheel)


@settings(max_examples=400)
@given(data=st.data())
def test_usual_releases_read_as_packaging_reads_them(data: st.DataObject) -> None:
    usual = st.one_of(
        st.from_regex(USUAL_WHEEL_RELEASE, fullmatch=True),
        st.from_regex(USUAL_SDIST_RELEASE, fullmatch=True),
    )
    _assert_as_packaging_reads(data, data.draw(usual))


@settings(max_examples=1000)
@given(data=st.data())
def test_odd_and_hostile_releases_read_as_packaging_reads_them(data: st.DataObject) -> None:
    _assert_as_packaging_reads(data, data.draw(_ODD_RELEASES))


@settings(max_examples=300)
@given(version=st.from_regex(CANONICAL_VERSION, fullmatch=True))
def test_a_canonical_version_is_its_own_packaging_form(version: str) -> None:
    assert str(Version(version)) == version


@pytest.mark.parametrize(
    ("pattern", "release"),
    [
        (USUAL_WHEEL_RELEASE, "demo-1.0"),
        (USUAL_WHEEL_RELEASE, "demo_pkg-2.0rc1.post3.dev4-1x"),
        (USUAL_SDIST_RELEASE, "demo.pkg-10.0.0"),
        (USUAL_SDIST_RELEASE, "Demo-Pkg-0"),
    ],
)
def test_usual_releases_take_the_shortcut(pattern: re.Pattern[str], release: str) -> None:
    # The comparisons above would say nothing if the shortcut never matched the usual names.
    assert pattern.fullmatch(release)


@pytest.mark.parametrize(
    "name",
    [
        "\u017fetuptools",  # LATIN SMALL LETTER LONG S folds to "s" case-insensitively
        "\u0131nternal",  # LATIN SMALL LETTER DOTLESS I folds to "i"
        "\u212aeras",  # KELVIN SIGN folds to "k"
        "t\u00f6rch",
        "demo\u00a0",
        "demo\n",  # "$" also matches before a final newline
    ],
)
def test_project_names_are_ascii(name: str) -> None:
    assert not is_valid_project_name(name)


def test_ascii_names_of_every_case_are_valid() -> None:
    assert is_valid_project_name("Setuptools") and is_valid_project_name("ZOPE.interface")
