"""Release versions read from distribution filenames, as upstream lists them."""

import pytest
from packaging.utils import parse_wheel_filename

from mirror.names import is_valid_project_name, version_from_filename


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
