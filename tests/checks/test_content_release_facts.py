"""What inspection keeps for the release diff on the review page: every member with its size
and checksum, METADATA's dependencies, Requires-Python, maintainers and project URLs, and
the text of .pth files and startup hooks (docs/review.md, "What changed")."""

import zipfile
from pathlib import Path

from mirror.checks.content import (
    REPORT_VERSION,
    ContentReport,
    member_table,
    report_is_current,
)
from tests.checks.test_content import build_sdist, build_wheel, inspect

METADATA = (
    "Metadata-Version: 2.1\nName: demo\nVersion: 1.1\nRequires-Python: >=3.9\n"
    "Author-email: Eve <eve@example.invalid>\nMaintainer: Mallory\n"
    "Requires-Dist: requests>=2\nRequires-Dist: evil-helper; extra == 'x'\n"
    "Project-URL: Source, https://code.example.invalid/demo\n\nlong description\n"
)


def test_members_are_listed_with_size_and_checksum(tmp_path: Path) -> None:
    one = inspect(build_wheel(tmp_path / "a", {"demo/core.py": b"x = 1\n"}))
    two = inspect(build_wheel(tmp_path / "b", {"demo/core.py": b"x = 22\n"}))
    members = member_table(one)
    assert members["demo/core.py"][0] == 6
    assert "demo-1.0.dist-info/RECORD" in members
    assert member_table(two)["demo/core.py"][1] != members["demo/core.py"][1]


def test_sdist_members_are_listed_inside_their_root(tmp_path: Path) -> None:
    report = inspect(build_sdist(tmp_path, {"src/demo.py": b"print(1)\n"}))
    assert member_table(report)["src/demo.py"][0] == 9
    assert "PKG-INFO" in member_table(report)


def test_metadata_fields_are_kept(tmp_path: Path) -> None:
    wheel = tmp_path / "demo-1.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo-1.1.dist-info/METADATA", METADATA)
        archive.writestr("demo/METADATA", "Requires-Dist: not-the-metadata\n")
    metadata = inspect(wheel).metadata
    assert metadata["requires_dist"] == ["requests>=2", "evil-helper; extra == 'x'"]
    assert metadata["requires_python"] == ">=3.9"
    assert metadata["maintainers"] == ["Eve <eve@example.invalid>", "Mallory"]
    assert metadata["project_urls"] == ["Source, https://code.example.invalid/demo"]
    (tmp_path / "s").mkdir()
    sdist = inspect(build_sdist(tmp_path / "s", {"PKG-INFO": METADATA.encode()}))
    assert sdist.metadata["requires_python"] == ">=3.9"


def test_pth_and_startup_hook_text_is_kept(tmp_path: Path) -> None:
    pth = "some/path\nimport os; os.system('id')\n"
    report = inspect(
        build_wheel(tmp_path, {"evil.pth": pth.encode(), "sitecustomize.py": b"import x\n"})
    )
    assert report.pth_files[0].text == pth
    assert report.startup_hooks[0].text == "import x\n"


def test_reports_of_the_previous_rules_are_made_again(tmp_path: Path) -> None:
    report = inspect(build_wheel(tmp_path, {}))
    assert REPORT_VERSION == 4 and report_is_current(report.to_dict())
    older = {**report.to_dict(), "version": 3}
    del older["members"], older["metadata"]
    assert not report_is_current(older)
    again = ContentReport.from_dict(older)
    assert member_table(again) == {} and again.metadata == {}
