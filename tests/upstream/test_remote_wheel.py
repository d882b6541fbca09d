"""Reading a wheel's METADATA on the upstream by HTTP ranges, without downloading the wheel."""

import io
import os
import struct
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mirror.errors import UpstreamError
from mirror.services.backends import Backends
from mirror.services.wheel_metadata import read_metadata
from mirror.upstream.remote_wheel import MAX_RANGE_BYTES, RemoteFile
from tests.support.fake_upstream import FakeUpstream

OLD = datetime.now(UTC) - timedelta(days=30)


def remote_metadata(backends: Backends, url: str, size: int, filename: str) -> bytes | None:
    with zipfile.ZipFile(RemoteFile(backends.upstream.for_project("demo"), url, size)) as wheel:
        return read_metadata(wheel, filename)


def test_metadata_is_read_with_a_few_ranges(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    payload = {"big/payload.bin": os.urandom(400_000)}  # incompressible: the wheel is large
    fake = fake_upstream.publish_release(
        "big", "1.0", tmpdir=tmp_path, upload_time=OLD, deps=["dep-a"], files=payload
    )
    url = fake_upstream.file_url("big", fake.filename)
    metadata = remote_metadata(backends, url, fake.size, fake.filename)
    with zipfile.ZipFile(io.BytesIO(fake.content)) as local:
        assert metadata == read_metadata(local, fake.filename)
    assert metadata is not None and b"Requires-Dist: dep-a" in metadata
    # Each request reads a 64 KiB block at most, a fraction of the 400 KB wheel.
    assert 1 <= fake_upstream.hits(url.split(fake_upstream.url, 1)[1]) <= 3


def test_an_upstream_without_ranges_is_not_read_whole(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake = fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    url = fake_upstream.file_url("demo", fake.filename)
    path = url.split(fake_upstream.url, 1)[1]
    fake_upstream.fail(200, path=path)  # the whole body, whatever was asked for
    with pytest.raises(UpstreamError, match="answered 200 to a range"):
        remote_metadata(backends, url, fake.size, fake.filename)
    assert fake_upstream.hits(path) == 1


def test_a_table_of_contents_naming_megabytes_is_refused_before_reading_them(
    backends: Backends, fake_upstream: FakeUpstream
) -> None:
    # A zip's end record claiming a table of contents larger than one range may ask for.
    size = MAX_RANGE_BYTES + (1 << 20)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, size - 22, 0, 0)
    fake_upstream.add_file(
        "hostile", b"\0" * (size - 22) + end, filename="hostile-1.0-py3-none-any.whl"
    )
    url = fake_upstream.file_url("hostile", "hostile-1.0-py3-none-any.whl")
    with pytest.raises(UpstreamError, match="too much to read"):
        remote_metadata(backends, url, size, "hostile-1.0-py3-none-any.whl")
    assert fake_upstream.hits(url.split(fake_upstream.url, 1)[1]) == 1


def test_a_wheel_shorter_than_a_zip_end_record_is_no_zip(
    backends: Backends, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.add_file("tiny", b"PK\x05\x06", filename="tiny-1.0-py3-none-any.whl")
    url = fake_upstream.file_url("tiny", "tiny-1.0-py3-none-any.whl")
    with pytest.raises(zipfile.BadZipFile):
        remote_metadata(backends, url, 4, "tiny-1.0-py3-none-any.whl")
