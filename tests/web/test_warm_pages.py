"""The warm page layer in front of Flask: same answers as the Flask view, and only when safe."""

import hashlib
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import urllib3
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from werkzeug.test import Client

from mirror.app import create_app
from mirror.errors import NotFoundError, StorageError
from mirror.services.backends import Backends
from mirror.services.page_bytes import PageBytes
from mirror.storage import blob_key
from mirror.web import simple
from mirror.web.errors import REQUEST_ID_HEADER, RequestIds
from mirror.web.warm_pages import WarmPages
from tests.support.fake_upstream import FakeUpstream
from tests.web.conftest import Tokens

JSON = "application/vnd.pypi.simple.v1+json"
OLD = datetime.now(UTC) - timedelta(days=30)
ASKS = [
    {},
    {"Accept": JSON},
    {"Accept": "application/vnd.pypi.simple.v1+html"},
    {"Accept": "text/html;q=0.5, application/vnd.pypi.simple.latest+json"},
]


class FlaskCalls:
    """Counts the requests the warm page layer hands on to Flask."""

    def __init__(self, client: FlaskClient) -> None:
        outer = client.application.wsgi_app
        assert isinstance(outer, RequestIds)
        layer = outer._app
        assert isinstance(layer, WarmPages)
        self.count = 0
        self.inner = inner = layer._app

        def counted(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            self.count += 1
            return inner(environ, start_response)

        layer._app = counted


def answered(client: FlaskClient, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (but the request id, new each time) and body."""
    response = client.get(path, headers=headers)
    return response.status_code, without_request_id(response.headers), response.data


def without_request_id(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name: value for name, value in headers if name != REQUEST_ID_HEADER}


def test_warm_pages_skip_flask_and_answer_as_the_flask_view_does(
    open_: tuple[FlaskClient, Backends, Tokens],
) -> None:
    client, _, made = open_
    assert client.get("/simple/demo/").status_code == 200  # the first request publishes
    calls = FlaskCalls(client)
    flask = Client(calls.inner)  # the Flask app itself, without the layer
    token = made.bearer("read")["Authorization"]
    for ask in ASKS:
        fast = answered(client, "/simple/demo/", **ask)
        with_token = answered(client, "/simple/demo/", **ask, Authorization=token)
        response = flask.get("/simple/demo/", headers=ask)
        through_flask = (response.status_code, without_request_id(response.headers), response.data)
        assert fast == with_token == through_flask
    assert calls.count == 0
    status, headers, body = answered(client, "/simple/demo/?format=" + JSON)
    assert status == 200 and headers["Content-Type"] == JSON and body.startswith(b"{")
    html = client.get("/simple/demo/")
    assert html.headers["Content-Type"] == "text/html; charset=utf-8"
    assert html.headers["Vary"] == "Accept, Accept-Encoding, Authorization"
    assert html.headers["X-Frame-Options"] == "DENY"
    assert calls.count == 0


def test_warm_page_head_and_not_modified_skip_flask(
    open_: tuple[FlaskClient, Backends, Tokens],
) -> None:
    client, _, _ = open_
    full = client.get("/simple/demo/")
    calls = FlaskCalls(client)
    head = client.head("/simple/demo/")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == str(len(full.data))
    again = client.get("/simple/demo/", headers={"If-None-Match": full.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == full.headers["ETag"]
    assert "Content-Type" not in again.headers
    assert calls.count == 0


def test_warm_pages_are_counted_in_the_request_metrics(
    open_: tuple[FlaskClient, Backends, Tokens],
) -> None:
    client, _, _ = open_
    client.get("/simple/demo/")
    labels = {"endpoint": "simple.project_page", "status": "200"}
    before = REGISTRY.get_sample_value("mirror_http_requests_total", labels)
    calls = FlaskCalls(client)
    client.get("/simple/demo/")
    assert REGISTRY.get_sample_value("mirror_http_requests_total", labels) == before + 1
    assert calls.count == 0


def test_everything_else_goes_to_flask(open_: tuple[FlaskClient, Backends, Tokens]) -> None:
    client, _, made = open_
    client.get("/simple/demo/")
    calls = FlaskCalls(client)
    assert client.get("/simple/Demo/").status_code == 301
    assert client.get("/simple/demo/", headers=made.bearer("revoked")).status_code == 401
    assert client.post("/simple/demo/").status_code == 405
    ranged = client.get("/simple/demo/", headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and len(ranged.data) == 10
    assert client.get("/simple/demo").status_code in {301, 308}
    assert calls.count == 5


def test_anonymous_read_off_answers_only_valid_tokens_here(
    closed: tuple[FlaskClient, Backends, Tokens],
) -> None:
    client, _, made = closed
    assert client.get("/simple/demo/", headers=made.bearer("read")).status_code == 200
    calls = FlaskCalls(client)
    assert client.get("/simple/demo/", headers=made.bearer("read")).status_code == 200
    assert client.get("/simple/demo/", headers=made.basic("read")).status_code == 200
    assert calls.count == 0
    # No credential, or one that does not verify: Flask answers the 401.
    assert client.get("/simple/demo/").status_code == 401
    assert client.get("/simple/demo/", headers=made.bearer("revoked")).status_code == 401
    assert client.get("/simple/demo/", headers=made.bearer("expired")).status_code == 401
    assert client.get("/simple/demo/", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert calls.count == 4


def test_refused_projects_are_not_answered_from_memory(
    open_: tuple[FlaskClient, Backends, Tokens], make_backends: Callable[..., Backends]
) -> None:
    client, _, _ = open_
    assert client.get("/simple/demo/").status_code == 200
    # The same data, now with demo declared internal: its signed pages stay unserved.
    refusing = make_backends(policy={"internal": ["demo"]})
    refused = create_app(refusing.config, refusing).test_client().get("/simple/demo/")
    assert refused.status_code == 404


def test_pages_too_large_to_keep_are_served_from_the_store(
    open_: tuple[FlaskClient, Backends, Tokens], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _, _ = open_
    kept = answered(client, "/simple/demo/", Accept=JSON)
    monkeypatch.setattr(simple, "PAGE_BYTES", PageBytes(max_page=10))
    calls = FlaskCalls(client)
    assert answered(client, "/simple/demo/", Accept=JSON) == kept
    assert calls.count == 1


def test_page_bytes_check_the_digest_and_keep_to_the_budget(backends: Backends) -> None:
    pages = [bytes([n]) * 1000 for n in range(3)]
    digests = [hashlib.sha256(page).hexdigest() for page in pages]
    for digest, page in zip(digests, pages, strict=True):
        backends.blobs.put_bytes(blob_key(digest), page)
    kept = PageBytes(budget=2 * 1000)
    assert [kept.get(backends.blobs, digest) for digest in digests] == pages
    for digest in digests:
        backends.blobs.delete(blob_key(digest))
    # The two most recent stay in memory; the oldest went and must be read again.
    assert [kept.get(backends.blobs, digest) for digest in digests[1:]] == pages[1:]
    with pytest.raises(NotFoundError):
        kept.get(backends.blobs, digests[0])
    wrong = "0" * 64
    backends.blobs.put_bytes(blob_key(wrong), b"not the page")
    with pytest.raises(StorageError, match="does not match its digest"):
        kept.get(backends.blobs, wrong)


def test_warm_pages_under_gunicorn_keep_alive_head_and_not_modified(
    start_mirror,  # type: ignore[no-untyped-def]
    fake_upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    mirror = start_mirror()
    pool = urllib3.PoolManager(maxsize=1, retries=False, timeout=30)
    url = f"{mirror.url}/simple/demo/"
    first = pool.request("GET", url, headers={"Accept": JSON})
    assert first.status == 200
    # Enough requests on one connection that both workers have answered warm from memory.
    for _ in range(20):
        again = pool.request("GET", url, headers={"Accept": JSON})
        assert again.status == 200 and again.data == first.data
    head = pool.request("HEAD", url, headers={"Accept": JSON})
    assert head.status == 200 and head.data == b""
    assert head.headers["Content-Length"] == str(len(first.data))
    etag = first.headers["ETag"]
    unchanged = pool.request("GET", url, headers={"Accept": JSON, "If-None-Match": etag})
    assert unchanged.status == 304 and unchanged.data == b""
    assert pool.request("GET", url).headers["Content-Type"] == "text/html; charset=utf-8"
    metrics = mirror.get("/metrics").data.decode()
    counted = re.search(
        r'mirror_http_requests_total\{endpoint="simple.project_page",status="200"\} (\S+)', metrics
    )
    assert counted and float(counted.group(1)) == 23
    assert len(mirror.access_lines("/simple/demo/", count=24)) == 24
