"""The fake upstream speaks PEP 503/691/658/700/740 the way a real index does."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urljoin

import pytest
import urllib3

from tests.support import dists
from tests.support.dists import DistBuilder
from tests.support.fake_upstream import (
    INTEGRITY_JSON,
    SIMPLE_JSON,
    FakeFile,
    FakeUpstream,
)

# `+` in a query string means a space, so the format value must be percent-encoded.
FORMAT_JSON = f"?format={quote(SIMPLE_JSON, safe='')}"
PIP_ACCEPT = f"{SIMPLE_JSON}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
WHEN = datetime(2024, 12, 4, 23, 14, 4, 599813, tzinfo=UTC)


def sha256_hex(data: bytes | None) -> str:
    assert data is not None
    return hashlib.sha256(data).hexdigest()


def get(url: str, **headers: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", url, headers=headers, redirect=False, retries=False)


def get_json(url: str) -> dict:
    response = get(url, Accept=SIMPLE_JSON)
    assert response.status == 200
    return response.json()


@pytest.fixture
def release(fake_upstream: FakeUpstream, dist_builder: DistBuilder) -> FakeFile:
    return fake_upstream.publish_release(
        "Demo_Pkg",
        "1.0",
        tmpdir=dist_builder.dir,
        upload_time=WHEN,
        deps=["dep>=1"],
        requires_python=">=3.9",
        provenance=b'{"version": 1}',
    )


def test_json_project_page(fake_upstream: FakeUpstream, release: FakeFile) -> None:
    page = get_json(fake_upstream.project_url("demo-pkg"))
    assert page["meta"] == {"api-version": "1.3"}
    assert (page["name"], page["versions"]) == ("demo-pkg", ["1.0"])
    (entry,) = page["files"]
    metadata_sha = {"sha256": sha256_hex(release.metadata)}
    assert entry == {
        "filename": "demo_pkg-1.0-py3-none-any.whl",
        "url": fake_upstream.file_url("demo-pkg", release.filename),
        "hashes": {"sha256": release.sha256},
        "requires-python": ">=3.9",
        "size": len(release.content),
        "upload-time": "2024-12-04T23:14:04.599813Z",
        "yanked": False,
        "core-metadata": metadata_sha,
        "data-dist-info-metadata": metadata_sha,
        "provenance": fake_upstream.integrity_url("demo-pkg", "1.0", release.filename),
    }


def test_html_project_page(fake_upstream: FakeUpstream, release: FakeFile) -> None:
    fake_upstream.yank("demo-pkg", release.filename, "broken <b>")
    response = get(fake_upstream.project_url("demo-pkg"))
    body = response.data.decode()
    assert response.headers["Content-Type"].startswith("text/html")
    assert '<meta name="pypi:repository-version" content="1.3">' in body
    assert f"#sha256={release.sha256}" in body
    assert 'data-requires-python="&gt;=3.9"' in body
    assert 'data-yanked="broken &lt;b&gt;"' in body
    assert f'data-core-metadata="sha256={sha256_hex(release.metadata)}"' in body
    assert 'data-provenance="http://127.0.0.1:' in body
    assert fake_upstream.get_file("Demo.Pkg", release.filename).yanked == "broken <b>"


def test_html_omits_absent_attributes(fake_upstream: FakeUpstream) -> None:
    fake_upstream.add_file("plain", b"x", filename="plain-1.tar.gz")
    body = get(fake_upstream.project_url("plain")).data.decode()
    assert "data-" not in body


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({"Accept": PIP_ACCEPT}, "", SIMPLE_JSON),
        ({}, "", "text/html"),
        ({"Accept": "*/*"}, "", "text/html"),
        ({"Accept": "application/vnd.pypi.simple.latest+json"}, "", SIMPLE_JSON),
        (
            {"Accept": "application/vnd.pypi.simple.v1+html"},
            "",
            "application/vnd.pypi.simple.v1+html",
        ),
        ({"Accept": "text/html"}, FORMAT_JSON, SIMPLE_JSON),
        ({"Accept": "image/png"}, "", None),
        ({}, "?format=bogus", None),
    ],
)
def test_content_negotiation(
    fake_upstream: FakeUpstream, release: FakeFile, headers: dict, query: str, expected: str | None
) -> None:
    for url in (fake_upstream.simple_url, fake_upstream.project_url("demo-pkg")):
        response = get(url + query, **headers)
        if expected is None:
            assert response.status == 406
        else:
            assert response.status == 200
            assert response.headers["Content-Type"].split(";")[0] == expected
            assert response.headers["Vary"] == "Accept"


def test_html_only_ignores_json_accept(release: FakeFile, fake_upstream: FakeUpstream) -> None:
    fake_upstream.html_only = True
    response = get(fake_upstream.project_url("demo-pkg") + FORMAT_JSON, Accept=SIMPLE_JSON)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/html")


def test_project_list(fake_upstream: FakeUpstream, release: FakeFile) -> None:
    fake_upstream.add_file("Other", b"x", filename="other-1.zip")
    assert get_json(fake_upstream.simple_url)["projects"] == [
        {"name": "Demo_Pkg"},
        {"name": "Other"},
    ]
    body = get(fake_upstream.simple_url).data.decode()
    assert re.findall(r'href="([^"]+)"', body) == ["demo-pkg/", "other/"]


def test_etag_and_last_modified_answer_304_until_the_page_changes(
    fake_upstream: FakeUpstream, release: FakeFile
) -> None:
    url, path = fake_upstream.project_url("demo-pkg"), "/simple/demo-pkg/"
    first = get(url, Accept=SIMPLE_JSON)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert get(url, Accept=SIMPLE_JSON, **{"If-None-Match": etag}).status == 304
    assert get(url, Accept=SIMPLE_JSON, **{"If-Modified-Since": modified}).status == 304
    # Another representation has another ETag.
    assert get(url, **{"If-None-Match": etag}).status == 200

    fake_upstream.yank("demo-pkg", release.filename, "oops")  # same second: still a change
    assert get(url, Accept=SIMPLE_JSON, **{"If-Modified-Since": modified}).status == 200
    changed = get(url, Accept=SIMPLE_JSON, **{"If-None-Match": etag})
    assert changed.status == 200
    assert changed.headers["ETag"] != etag
    assert fake_upstream.hits(path) == fake_upstream.requests[path] == 6
    assert fake_upstream.log[1].headers["If-None-Match"] == etag


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/simple/Demo_Pkg/", "/simple/demo-pkg/"),
        ("/simple/demo.pkg/?format=x", "/simple/demo-pkg/?format=x"),
        ("/simple/demo-pkg", "/simple/demo-pkg/"),
        ("/simple", "/simple/"),
    ],
)
def test_non_normalized_names_redirect(
    fake_upstream: FakeUpstream, release: FakeFile, path: str, location: str
) -> None:
    response = get(fake_upstream.url + path)
    assert (response.status, response.headers["Location"]) == (301, location)


def test_unknown_project_and_removals_404(fake_upstream: FakeUpstream, release: FakeFile) -> None:
    assert get(fake_upstream.project_url("nope")).status == 404
    fake_upstream.remove_file("demo-pkg", release.filename)
    assert get_json(fake_upstream.project_url("demo-pkg"))["files"] == []
    assert get(fake_upstream.file_url("demo-pkg", release.filename)).status == 404
    fake_upstream.remove_project("demo-pkg")
    assert get(fake_upstream.project_url("demo-pkg")).status == 404
    assert get_json(fake_upstream.simple_url)["projects"] == []


def test_files_metadata_head_and_range(fake_upstream: FakeUpstream, release: FakeFile) -> None:
    url = fake_upstream.file_url("demo-pkg", release.filename)
    assert get(url).data == release.content
    assert get(url + ".metadata").data == release.metadata
    head = urllib3.request("HEAD", url, retries=False)
    assert (head.status, head.data) == (200, b"")
    assert head.headers["Content-Length"] == str(len(release.content))
    partial = get(url, Range="bytes=10-19")
    assert (partial.status, partial.data) == (206, release.content[10:20])
    fake_upstream.add_file("sd", b"x", filename="sd-1.tar.gz")
    assert get(fake_upstream.file_url("sd", "sd-1.tar.gz") + ".metadata").status == 404


def test_relative_urls_resolve_to_the_files(fake_upstream: FakeUpstream, release: FakeFile) -> None:
    fake_upstream.relative_urls = True
    page_url = fake_upstream.project_url("demo-pkg")
    (entry,) = get_json(page_url)["files"]
    assert not entry["url"].startswith("http")
    assert get(urljoin(page_url, entry["url"])).data == release.content


def test_files_on_another_host_and_path(dist_builder: DistBuilder) -> None:
    with FakeUpstream(files_path="/packages/x") as upstream:
        upstream.files_host_url = f"http://localhost:{upstream.port}"
        fake = upstream.publish_release("p", "1", tmpdir=dist_builder.dir)
        (entry,) = get_json(upstream.project_url("p"))["files"]
        assert entry["url"] == f"http://localhost:{upstream.port}/packages/x/p/{fake.filename}"
        assert get(f"{upstream.url}/packages/x/p/{fake.filename}").data == fake.content


def test_advertised_overrides_and_upload_time_forms(fake_upstream: FakeUpstream) -> None:
    fake_upstream.add_file(
        "p", b"abc", filename="p-1.zip", sha256_override="0" * 64, size_override=9
    )
    fake_upstream.add_file("p", b"abc", filename="p-2.zip", upload_time=None, yanked=True)
    fake_upstream.add_file("p", b"abc", filename="p-3.zip", upload_time="absent")
    one, two, three = get_json(fake_upstream.project_url("p"))["files"]
    assert (one["hashes"]["sha256"], one["size"]) == ("0" * 64, 9)
    assert (two["upload-time"], two["yanked"]) == (None, True)
    assert "upload-time" not in three
    fake_upstream.set_upload_time("p", "p-3.zip", WHEN)
    assert get_json(fake_upstream.project_url("p"))["files"][2]["upload-time"].endswith(".599813Z")
    with pytest.raises(ValueError, match="timezone"):
        fake_upstream.set_upload_time("p", "p-3.zip", datetime(2024, 1, 1))


def test_integrity_api(fake_upstream: FakeUpstream, release: FakeFile) -> None:
    url = fake_upstream.integrity_url("demo-pkg", "1.0", release.filename)
    for accept, expected in [(None, INTEGRITY_JSON), ("application/json", "application/json")]:
        response = get(url, **({"Accept": accept} if accept else {}))
        assert (response.status, response.data) == (200, b'{"version": 1}')
        assert response.headers["Content-Type"] == expected
        assert response.headers["Vary"] == "Accept"
    refused = get(url, Accept="text/html")
    assert (refused.status, refused.json()) == (406, {"message": "Request not acceptable"})
    assert get(fake_upstream.integrity_url("demo-pkg", "2.0", release.filename)).status == 404

    fake_upstream.add_file("demo-pkg", b"x", filename="demo_pkg-1.0.tar.gz")
    none = get(fake_upstream.integrity_url("demo-pkg", "1.0", "demo_pkg-1.0.tar.gz"))
    assert none.status == 404
    assert none.json() == {"message": "No provenance available for demo_pkg-1.0.tar.gz"}

    fake_upstream.attestations_disabled = True
    assert get(url).json() == {"message": "Attestations temporarily disabled"}


def test_sdist_version_feeds_the_integrity_url(fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    sdist = dists.build_sdist(tmp_path, "pypi-attestations", "0.0.19")
    fake = fake_upstream.add_file("pypi-attestations", sdist, provenance=b"{}")
    assert fake.version == "0.0.19"
    (entry,) = get_json(fake_upstream.project_url("pypi_attestations"))["files"]
    assert entry["provenance"].endswith(
        "/integrity/pypi-attestations/0.0.19/pypi_attestations-0.0.19.tar.gz/provenance"
    )
    assert entry["core-metadata"] is False
