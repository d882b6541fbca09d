"""Pages on the wire: gzip or zstd when the client accepts it (pip asks for gzip, uv for zstd
too), made once per page and process; ETags per variant; TUF signs the identity bytes."""

import gzip
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from mirror.codings import zstd
from tests.support.fake_upstream import FakeUpstream

OLD = datetime.now(UTC) - timedelta(days=30)
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
DECODE = {"gzip": gzip.decompress, "zstd": zstd.decompress}


@pytest.fixture
def demo(fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    for version in ("1.0", "1.1", "2.0"):
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path, upload_time=OLD)


@pytest.mark.parametrize(
    ("accept_encoding", "coding"),
    [
        ("gzip, deflate", "gzip"),  # pip
        ("gzip, deflate, zstd", "zstd"),  # uv
        ("zstd;q=0.5, gzip", "zstd"),
        ("gzip;q=0, zstd;q=0", None),
        ("*", "zstd"),
        ("*;q=0, gzip", "gzip"),
        ("identity", None),
        ("br", None),
        ("", None),
    ],
)
def test_a_page_is_sent_in_the_coding_the_client_accepts(
    client: FlaskClient, demo: None, accept_encoding: str, coding: str | None
) -> None:
    identity = client.get("/simple/demo/", headers=JSON)
    digest = identity.headers["ETag"].strip('"')
    assert hashlib.sha256(identity.data).hexdigest() == digest  # what TUF signs
    sent = client.get("/simple/demo/", headers={**JSON, "Accept-Encoding": accept_encoding})
    assert sent.status_code == 200
    assert "Accept-Encoding" in sent.headers["Vary"]
    assert sent.headers["Content-Length"] == str(len(sent.data))
    if coding is None:
        assert "Content-Encoding" not in sent.headers and sent.data == identity.data
        return
    assert sent.headers["Content-Encoding"] == coding
    assert DECODE[coding](sent.data) == identity.data
    assert len(sent.data) < len(identity.data)
    assert sent.headers["ETag"] not in (identity.headers["ETag"], "")


def test_each_variant_has_its_etag_and_revalidates(client: FlaskClient, demo: None) -> None:
    etags = set()
    for coding in ("gzip", "zstd", "identity"):
        first = client.get("/simple/demo/", headers={**JSON, "Accept-Encoding": coding})
        etags.add(first.headers["ETag"])
        headers = {**JSON, "Accept-Encoding": coding, "If-None-Match": first.headers["ETag"]}
        again = client.get("/simple/demo/", headers=headers)
        assert again.status_code == 304 and again.data == b""
        assert again.headers["ETag"] == first.headers["ETag"]
        head = client.head("/simple/demo/", headers={**JSON, "Accept-Encoding": coding})
        assert head.headers["Content-Length"] == first.headers["Content-Length"]
        assert head.headers.get("Content-Encoding") == first.headers.get("Content-Encoding")
    assert len(etags) == 3


def test_the_html_page_and_the_root_index_are_compressed_too(
    client: FlaskClient, demo: None
) -> None:
    html = client.get("/simple/demo/")
    sent = client.get("/simple/demo/", headers={"Accept-Encoding": "gzip"})
    assert sent.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(sent.data) == html.data
    root = client.get("/simple/", headers=JSON)
    sent_root = client.get("/simple/", headers={**JSON, "Accept-Encoding": "zstd"})
    assert sent_root.headers["Content-Encoding"] == "zstd"
    assert zstd.decompress(sent_root.data) == root.data
    assert "Accept-Encoding" in sent_root.headers["Vary"]
    revalidated = client.get(
        "/simple/",
        headers={**JSON, "Accept-Encoding": "zstd", "If-None-Match": sent_root.headers["ETag"]},
    )
    assert revalidated.status_code == 304


def test_a_range_request_gets_the_identity_bytes(client: FlaskClient, demo: None) -> None:
    full = client.get("/simple/demo/", headers=JSON)
    part = client.get(
        "/simple/demo/", headers={**JSON, "Accept-Encoding": "gzip", "Range": "bytes=0-9"}
    )
    assert part.status_code == 206 and part.data == full.data[:10]
    assert "Content-Encoding" not in part.headers
