"""The warm-page load asks for gzip as pip does, and the static servers answer it with the gzip
bytes ours makes (bench/README.md, "What is measured")."""

import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from bench import load
from bench.servers import Nginx, StaticGunicorn, StaticServer, build_static_root
from mirror.codings import encode

HTML = b"<!DOCTYPE html>\n" + b"".join(
    f'<a href="../../files/bench-{n}.tar.gz">bench-{n}.tar.gz</a><br />\n'.encode()
    for n in range(500)
)
JSON = json.dumps({"files": [{"filename": f"bench-{n}.tar.gz"} for n in range(500)]}).encode()
KINDS = [StaticGunicorn] + ([Nginx] if shutil.which("nginx") else [])


@pytest.fixture(params=KINDS, ids=lambda kind: kind.name)
def static_server(request: pytest.FixtureRequest, tmp_path: Path):
    large = tmp_path / "large.bin"
    large.write_bytes(b"\0" * 4096)
    root = tmp_path / "root"
    build_static_root(root, large, {"bench-00": (HTML, JSON)})
    server: StaticServer = request.param(tmp_path, root, large.name)
    server.start()
    yield server
    server.stop()


def fetch(url: str, accept: str, accept_encoding: str | None) -> tuple[dict[str, str], bytes]:
    headers = {"Accept": accept} | ({"Accept-Encoding": accept_encoding} if accept_encoding else {})
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as response:
        return dict(response.headers), response.read()


@pytest.mark.slow  # starts gunicorn and nginx
@pytest.mark.parametrize(("accept", "body"), [("text/html", HTML), ("application/json", JSON)])
def test_a_static_server_answers_gzip_with_the_bytes_ours_sends(
    static_server: StaticServer, accept: str, body: bytes
) -> None:
    url = static_server.page_url("bench-00")
    headers, sent = fetch(url, accept, load.ACCEPT_ENCODING)
    assert (headers.get("Content-Encoding"), sent) == ("gzip", encode(body, "gzip"))
    assert headers.get("Vary") == "Accept-Encoding"
    headers, sent = fetch(url, accept, None)
    assert ("Content-Encoding" not in headers, sent) == (True, body)


@pytest.mark.slow  # starts gunicorn and nginx
@pytest.mark.parametrize("generator", ["wrk", "python-threads"])
def test_the_page_load_asks_for_gzip_and_counts_the_compressed_bytes(
    static_server: StaticServer, generator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if generator == "wrk" and not shutil.which("wrk"):
        pytest.skip("wrk is not installed")
    if generator == "python-threads":  # what runs on a machine without wrk
        monkeypatch.setattr(load.shutil, "which", lambda _name: None)
    assert load.generator() == generator
    paths = ["/simple/bench-00/"]
    result = load.run(static_server.base_url, paths, "text/html", clients=1, seconds=1)
    assert result.requests > 0 and result.errors == 0
    # At least the gzip bytes (wrk counts headers too), well under the page as it is.
    assert len(encode(HTML, "gzip")) <= result.bytes_per_request < len(HTML) / 4
