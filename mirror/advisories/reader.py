"""Read OSV JSON documents from a file, a folder or a zip archive. The input is untrusted.

Limits keep hostile input small: a document is at most ``MAX_DOCUMENT_BYTES``, one import at
most ``MAX_TOTAL_BYTES`` of JSON in at most ``MAX_DOCUMENTS`` files. Zip members are read in
memory, never extracted; an archive with an unsafe member name (absolute, ``..``, a drive
letter), a symlink or an encrypted member is refused as a whole. A folder is walked without
following links, and a linked ``.json`` file is refused.
"""

import json
import os
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from mirror.advisories.osv import AdvisoryError
from mirror.bounded import read_at_most

MAX_DOCUMENT_BYTES = 8 << 20
MAX_TOTAL_BYTES = 2 << 30
MAX_DOCUMENTS = 1_000_000
_SUFFIX = ".json"


@dataclass(frozen=True)
class Document:
    """One parsed JSON value and where it came from (a path, or ``archive.zip:member``)."""

    name: str
    content: Any
    # The file name without ".json" when the file holds one advisory (stands in for no id).
    stem: str | None


@dataclass
class _Budget:
    documents: int = 0
    total_bytes: int = 0

    def take(self, name: str, size: int) -> None:
        self.documents += 1
        self.total_bytes += size
        if self.documents > MAX_DOCUMENTS:
            raise AdvisoryError(f"{name}: more than {MAX_DOCUMENTS} advisory files in one import")
        if self.total_bytes > MAX_TOTAL_BYTES:
            raise AdvisoryError(f"{name}: more than {MAX_TOTAL_BYTES >> 20} MiB in one import")


def read_documents(path: Path) -> Iterator[Document]:
    """Every OSV document under ``path`` (a ``.json`` file, a zip archive or a folder), one at
    a time so that a large feed is never held in memory as JSON.

    Raises:
        AdvisoryError: the path is missing, or a file is unreadable, too large or not JSON.
    """
    budget = _Budget()
    if path.is_dir():
        for file in _json_files(path):
            yield from _from_file(file, budget)
    elif not path.is_file():
        raise AdvisoryError(f"{path}: no such file or folder")
    elif zipfile.is_zipfile(path):
        yield from _from_zip(path, budget)
    else:
        yield from _from_file(path, budget)


def _json_files(folder: Path) -> Iterator[Path]:
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = Path(root, name)
            if not name.endswith(_SUFFIX):
                continue
            if path.is_symlink():
                raise AdvisoryError(f"{path}: is a symbolic link; not followed")
            yield path


def _from_file(path: Path, budget: _Budget) -> list[Document]:
    try:
        with path.open("rb") as handle:
            data = _bounded_read(handle, str(path))
    except OSError as exc:
        raise AdvisoryError(f"{path}: cannot read: {exc.strerror}") from exc
    budget.take(str(path), len(data))
    return _documents(str(path), path.name, data)


def _from_zip(path: Path, budget: _Budget) -> Iterator[Document]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > MAX_DOCUMENTS:
                raise AdvisoryError(f"{path}: more than {MAX_DOCUMENTS} members")
            for info in members:
                _check_member(path, info)
            for info in members:
                if info.is_dir() or not info.filename.endswith(_SUFFIX):
                    continue
                name = f"{path}:{info.filename}"
                if info.file_size > MAX_DOCUMENT_BYTES:
                    raise AdvisoryError(f"{name}: larger than {MAX_DOCUMENT_BYTES >> 20} MiB")
                budget.take(name, info.file_size)
                with archive.open(info) as handle:
                    data = _bounded_read(handle, name)
                yield from _documents(name, PurePosixPath(info.filename).name, data)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError, OSError) as exc:
        raise AdvisoryError(f"{path}: damaged or unsupported zip archive: {exc}") from exc


def _check_member(archive: Path, info: zipfile.ZipInfo) -> None:
    name = info.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    unsafe = (
        name.startswith(("/", "\\"))
        or ".." in parts
        or (len(name) > 1 and name[1] == ":")
        or "\x00" in name
    )
    if unsafe:
        raise AdvisoryError(f"{archive}: unsafe member name {name[:200]!r}; archive refused")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise AdvisoryError(f"{archive}: member {name[:200]!r} is a symbolic link; refused")
    if info.flag_bits & 0x1:
        raise AdvisoryError(f"{archive}: member {name[:200]!r} is encrypted; refused")


def _bounded_read(handle: BinaryIO | Any, name: str) -> bytes:
    data = read_at_most(handle, MAX_DOCUMENT_BYTES)
    if data is None:
        raise AdvisoryError(f"{name}: larger than {MAX_DOCUMENT_BYTES >> 20} MiB")
    return data


def _documents(name: str, filename: str, data: bytes) -> list[Document]:
    try:
        content = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise AdvisoryError(f"{name}: not valid JSON: {str(exc)[:200]}") from exc
    if isinstance(content, list):
        # Some exports put many advisories in one file; then no file name can stand in for an id.
        return [Document(f"{name}[{i}]", item, None) for i, item in enumerate(content)]
    return [Document(name, content, filename.removesuffix(_SUFFIX))]
