"""`mirror advisories` and `mirror audit`: tables, and one-line errors for bad input."""

from pathlib import Path

from tests.support.config_files import write_config
from tests.support.osv import malicious, write_json, write_zip
from tests.test_cli import assert_one_line_error, mirror


def config(tmp_path: Path) -> str:
    path = write_config(
        tmp_path / "m.toml",
        {"storage": {"path": str(tmp_path / "d")}, "upstream": {"url": "http://127.0.0.1:9/"}},
    )
    return str(path)


def test_import_then_list(tmp_path: Path) -> None:
    feed = write_json(tmp_path / "feed/MAL-2026-31.json", malicious("MAL-2026-31", "evil"))
    result = mirror("--config", config(tmp_path), "advisories", "import", str(feed.parent))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        "advisories: 1 new, 0 updated, 0 unchanged, 0 without PyPI packages"
    )
    again = mirror("--config", config(tmp_path), "advisories", "import", str(feed.parent))
    assert "0 new, 0 updated, 1 unchanged" in again.stdout
    listing = mirror("--config", config(tmp_path), "advisories", "list").stdout
    assert listing.split("\t")[:2] == ["MAL-2026-31", "malicious"]
    assert "evil (all)" in listing


def test_bad_advisory_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert_one_line_error(
        mirror("--config", config(tmp_path), "advisories", "import", str(bad)),
        f"{bad}: not valid JSON",
    )
    evil = write_zip(tmp_path / "evil.zip", {"../../../tmp/x.json": malicious("MAL-1", "x")})
    assert_one_line_error(
        mirror("--config", config(tmp_path), "advisories", "import", str(evil)),
        "unsafe member name",
    )
    assert_one_line_error(
        mirror("--config", config(tmp_path), "advisories", "import", str(tmp_path / "none")),
        "no such file or folder",
    )


def test_audit_downloads_of_an_invalid_name(tmp_path: Path) -> None:
    assert_one_line_error(
        mirror("--config", config(tmp_path), "audit", "downloads", "bad name==1"),
        "invalid project name",
    )
    empty = mirror("--config", config(tmp_path), "audit", "downloads", "demo")
    assert empty.returncode == 0 and "no downloads of demo" in empty.stdout
