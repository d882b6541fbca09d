"""The benchmark's upstream: the test suite's fake index, filled with realistic synthetic data.

Projects are named ``bench-*``. Each has one installable release, ``1.0.0`` (a real wheel with
an incompressible payload and dependencies on other bench projects), and a history of older
files; a few projects have thousands of them, like the large projects of the real index.
Older files are never downloaded (the requirement set pins 1.0.0), so their bodies are a few
bytes: they exist to make pages as large as real ones.

The large file is a wheel whose payload is a stored member of zeros, written as a hole (a sparse
file) and served by :class:`BenchUpstream` in chunks, so a 1 GB file costs neither memory nor
disk until a mirror caches it; being a readable wheel, the mirror admits it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import random
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from tests.support import dists
from tests.support.fake_upstream import FakeUpstream

PINNED = "1.0.0"
LARGE_PROJECT = "bench-large"
_FIRST_UPLOAD = datetime(2020, 1, 1, tzinfo=UTC)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Size:
    """How much data to make: ``full`` for the benchmark, ``tiny`` for the smoke test."""

    projects: int
    history: tuple[int, ...]  # older files per project, cycled; the first few are the big ones
    payloads: tuple[int, ...]  # wheel payload bytes of the pinned release, cycled
    large_file: int


FULL = Size(
    projects=20,
    history=(3000, 2000, 1500, 60, 40, 25, 12),
    payloads=(60_000, 250_000, 1_200_000, 3_000_000, 30_000),
    large_file=1 << 30,
)
TINY = Size(projects=3, history=(30, 5), payloads=(20_000,), large_file=8 << 20)


@dataclass(frozen=True)
class Dataset:
    projects: list[str]  # normalized names, including the large file's project
    requirements: list[str]  # the fixed requirement set: every installable project, pinned
    listed: dict[str, int]  # files on each project's page, but the large file's
    large_filename: str
    large_size: int
    wheel_bytes: int  # total size of the pinned wheels

    @property
    def files(self) -> int:
        """Files on all pages, the large file's included."""
        return sum(self.listed.values()) + 1


class BenchUpstream(FakeUpstream):
    """The fake upstream, plus files whose bodies are read from disk in chunks when served."""

    def __init__(self) -> None:
        super().__init__()
        self._on_disk: dict[tuple[str, str], Path] = {}

    def add_file_on_disk(self, project: str, path: Path, sha256: str, **kw: Any) -> None:
        # The advertised digest and size are the file's; the in-memory body stays empty.
        self.add_file(
            project,
            b"",
            filename=path.name,
            sha256_override=sha256,
            size_override=path.stat().st_size,
            **kw,
        )
        self._on_disk[(dists.normalize(project), path.name)] = path

    def _file(self, request: Request, project: str, filename: str) -> Response:
        path = self._on_disk.get((project, filename))
        if path is None:
            return super()._file(request, project, filename)
        body = wrap_file(request.environ, path.open("rb"), buffer_size=_CHUNK)
        response = Response(body, content_type="application/octet-stream", direct_passthrough=True)
        response.headers["Content-Length"] = str(path.stat().st_size)
        return response


def project_names(size: Size) -> list[str]:
    return [f"bench-{i:02d}" for i in range(size.projects)]


def _dependencies(index: int, names: list[str]) -> list[str]:
    # A small tree: each project needs up to two later ones, so resolvers walk several levels.
    later = names[index + 1 :]
    return [f"{name}>=0.1" for name in later[:: max(1, len(later) // 2)][:2]]


def _history(name: str, count: int) -> Iterator[tuple[str, str]]:
    """(filename, version) of ``count`` older files: wheels for three platforms plus an sdist."""
    tags = ("py3-none-any", "cp311-cp311-manylinux_2_17_x86_64", "cp312-cp312-win_amd64")
    made = 0
    for minor in range(10_000):
        version = f"0.{minor // 10}.{minor % 10}"
        for filename in [dists.wheel_filename(name, version, tag) for tag in tags] + [
            dists.sdist_filename(name, version)
        ]:
            if made == count:
                return
            yield filename, version
            made += 1


def populate(upstream: BenchUpstream, size: Size, workdir: Path) -> Dataset:
    """Fill ``upstream`` with the data set; wheels and the large file go under ``workdir``."""
    names = project_names(size)
    rng = random.Random(20260101)
    # Upload times to the microsecond, as the public index writes them (mostly not 0).
    micros = functools.partial(random.Random(20261206).randrange, 1, 10**6)
    wheels = workdir / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    total, listed = 0, {}
    for index, name in enumerate(names):
        count = size.history[index % len(size.history)]
        listed[name] = count + 1
        for k, (filename, version) in enumerate(_history(name, count)):
            upstream.add_file(
                name,
                f"{filename}\n".encode(),
                filename=filename,
                version=version,
                upload_time=_FIRST_UPLOAD + timedelta(hours=k, microseconds=micros()),
            )
        payload = rng.randbytes(size.payloads[index % len(size.payloads)])
        fake = upstream.publish_release(
            name,
            PINNED,
            tmpdir=wheels,
            upload_time=_FIRST_UPLOAD + timedelta(days=900),
            deps=_dependencies(index, names),
            files={f"{dists.dist_name(name)}/payload.bin": payload},
        )
        total += fake.size
    large = large_file(workdir, size.large_file)
    upstream.add_file_on_disk(
        LARGE_PROJECT, large, _sha256_of(large), upload_time=_FIRST_UPLOAD + timedelta(days=900)
    )
    return Dataset(
        projects=[*names, LARGE_PROJECT],
        requirements=[f"{name}=={PINNED}" for name in names],
        listed=listed,
        large_filename=large.name,
        large_size=large.stat().st_size,
        wheel_bytes=total,
    )


def large_file(workdir: Path, size: int) -> Path:
    """A wheel the mirror admits, ``size`` bytes of it a stored member of zeros that the file
    holds as a hole (a sparse file): on disk and in memory it costs next to nothing."""
    payload = f"{dists.dist_name(LARGE_PROJECT)}/payload.bin"
    parts = dists.build_wheel(workdir / "large-parts", LARGE_PROJECT, PINNED)
    path = workdir / parts.name
    with (
        zipfile.ZipFile(parts) as small,
        path.open("wb") as handle,
        zipfile.ZipFile(_HolesForZeros(handle), "w") as wheel,  # type: ignore[arg-type]
    ):
        info = zipfile.ZipInfo(payload, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type, info.file_size = zipfile.ZIP_STORED, size
        with wheel.open(info, "w") as member:
            for chunk in _zeros(size):
                member.write(chunk)
        for part in small.infolist():
            data = small.read(part)
            if part.filename.endswith(".dist-info/RECORD"):
                data = _record_of_zeros(payload, size).encode() + data
            wheel.writestr(part, data)
    return path


class _HolesForZeros:
    """A binary file that skips over chunks of zeros instead of writing them, leaving holes."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def write(self, data: bytes) -> int:
        if data.count(0) == len(data):
            self._handle.seek(len(data), os.SEEK_CUR)
            return len(data)
        return self._handle.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def _zeros(size: int) -> Iterator[bytes]:
    chunk = bytes(_CHUNK)
    for start in range(0, size, _CHUNK):
        yield chunk[: min(_CHUNK, size - start)]


def _record_of_zeros(path: str, size: int) -> str:
    """The RECORD line (PEP 376: urlsafe base64 sha256, unpadded) of ``size`` zeros."""
    digest = hashlib.sha256()
    for chunk in _zeros(size):
        digest.update(chunk)
    encoded = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    return f"{path},sha256={encoded},{size}\n"


def _sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
