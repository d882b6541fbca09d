"""Reading advisory files, folders and zips; hostile archives are refused as a whole."""

import os
import zipfile
from pathlib import Path

import pytest

from mirror.advisories import reader
from mirror.advisories.osv import AdvisoryError
from tests.support.osv import malicious, write_json, write_zip


def list_documents(path: Path) -> list[reader.Document]:
    return list(reader.read_documents(path))


def test_folder_is_walked_for_json_files_only(tmp_path: Path) -> None:
    write_json(tmp_path / "feed/pypi/evil/MAL-2026-1.json", malicious("MAL-2026-1", "evil"))
    write_json(tmp_path / "feed/pypi/bad/MAL-2026-2.json", [malicious("MAL-2026-2", "bad")])
    (tmp_path / "feed/README.md").write_text("not an advisory")
    documents = list_documents(tmp_path / "feed")
    assert [d.name for d in documents] == [
        str(tmp_path / "feed/pypi/bad/MAL-2026-2.json[0]"),
        str(tmp_path / "feed/pypi/evil/MAL-2026-1.json"),
    ]
    assert [d.stem for d in documents] == [None, "MAL-2026-1"]


def test_zip_members_are_read_in_memory(tmp_path: Path) -> None:
    archive = write_zip(
        tmp_path / "feed.zip",
        {"osv/MAL-2026-1.json": malicious("MAL-2026-1", "evil"), "osv/notes.txt": b"x"},
    )
    (document,) = list_documents(archive)
    assert document.name == f"{archive}:osv/MAL-2026-1.json"
    assert document.content["id"] == "MAL-2026-1"


@pytest.mark.parametrize("member", ["../../escape.json", "/etc/evil.json", "C:\\evil.json"])
def test_zip_with_path_traversal_is_refused(tmp_path: Path, member: str) -> None:
    archive = write_zip(
        tmp_path / "evil.zip",
        {"ok/MAL-2026-1.json": malicious("MAL-2026-1", "evil"), member: malicious("MAL-2", "x")},
    )
    with pytest.raises(AdvisoryError, match=r"unsafe member name .*archive refused"):
        list_documents(archive)


def test_zip_bomb_is_refused_without_inflating_it(tmp_path: Path) -> None:
    bomb = b"[" + b" " * (reader.MAX_DOCUMENT_BYTES + 10) + b"]"
    archive = write_zip(tmp_path / "bomb.zip", {"MAL-2026-1.json": bomb})
    assert archive.stat().st_size < 100_000
    with pytest.raises(AdvisoryError, match=r"bomb.zip:MAL-2026-1.json: larger than 8 MiB"):
        list_documents(archive)


def test_zip_member_lying_about_its_size_is_cut_off(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "liar.zip", {"MAL-2026-1.json": b"[" + b" " * 5000 + b"]"})
    data = bytearray(archive.read_bytes())
    # Shrink the declared size in the central directory; the CRC check then fails the read.
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("MAL-2026-1.json")
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    local = info.header_offset
    data[local + 22 : local + 26] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    with pytest.raises(AdvisoryError, match=r"liar\.zip: damaged .*Bad CRC"):
        list_documents(archive)


def test_symlinked_zip_member_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("MAL-2026-1.json")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(AdvisoryError, match="symbolic link"):
        list_documents(archive)


def test_damaged_zip(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "feed.zip", {"MAL-2026-1.json": malicious("MAL-2026-1", "e")})
    data = archive.read_bytes()
    archive.write_bytes(data[:30] + b"\x00" * 40 + data[70:])
    with pytest.raises(AdvisoryError, match=r"feed\.zip: damaged"):
        list_documents(archive)


def test_huge_file_and_bad_json_name_the_file(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    with huge.open("wb") as handle:
        handle.truncate(reader.MAX_DOCUMENT_BYTES + 1)
    with pytest.raises(AdvisoryError, match=f"^{huge}: larger than 8 MiB$"):
        list_documents(huge)
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": "MAL-1", ')
    with pytest.raises(AdvisoryError, match=f"^{bad}: not valid JSON: "):
        list_documents(bad)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(AdvisoryError, match="not valid JSON"):
        list_documents(deep)


def test_symlinked_file_in_a_folder_is_refused(tmp_path: Path) -> None:
    write_json(tmp_path / "outside.json", malicious("MAL-2026-1", "evil"))
    (tmp_path / "feed").mkdir()
    os.symlink(tmp_path / "outside.json", tmp_path / "feed/MAL-2026-1.json")
    with pytest.raises(AdvisoryError, match="symbolic link"):
        list_documents(tmp_path / "feed")


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(AdvisoryError, match="no such file or folder"):
        list_documents(tmp_path / "nope")


def test_import_wide_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(3):
        write_json(tmp_path / f"feed/MAL-2026-{n}.json", malicious(f"MAL-2026-{n}", "evil"))
    monkeypatch.setattr(reader, "MAX_DOCUMENTS", 2)
    with pytest.raises(AdvisoryError, match="more than 2 advisory files in one import"):
        list_documents(tmp_path / "feed")
    monkeypatch.setattr(reader, "MAX_DOCUMENTS", 10)
    monkeypatch.setattr(reader, "MAX_TOTAL_BYTES", 3 << 20)
    big = malicious("MAL-2026-9", "evil")
    big["details"] = "x" * (2 << 20)
    write_json(tmp_path / "feed/MAL-2026-9.json", big)
    write_json(tmp_path / "feed/MAL-2026-8.json", big)
    with pytest.raises(AdvisoryError, match="more than 3 MiB in one import"):
        list_documents(tmp_path / "feed")
