"""An HTTPS upstream: certificates checked against the system's trusted CAs, loaded once."""

import ssl
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mirror.errors import UpstreamError
from mirror.upstream import client
from mirror.upstream.client import UpstreamClient
from tests.support.fake_upstream import FakeUpstream
from tests.support.tls import local_tls


def _client(upstream: FakeUpstream) -> UpstreamClient:
    return UpstreamClient(
        upstream.simple_url, timeout=10, retries=0, max_page_bytes=1 << 20, max_file_bytes=1 << 20
    )


def test_concurrent_connections_share_one_load_of_the_trusted_cas(
    https_upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(6):
        https_upstream.add_file(f"p{n}", b"x", filename=f"p{n}-1.0.tar.gz")
    # Each request held long enough that the six overlap, on six connections.
    https_upstream.delay(0.3)
    loads: list[ssl.SSLContext] = []
    load = ssl.SSLContext.load_default_certs

    def counted(context: ssl.SSLContext, *args: object) -> None:
        loads.append(context)
        load(context, *args)

    monkeypatch.setattr(ssl.SSLContext, "load_default_certs", counted)
    clients = [_client(https_upstream), _client(https_upstream)]
    with ThreadPoolExecutor(6) as pool:
        pages = list(pool.map(lambda n: clients[n % 2].fetch_page(f"p{n}"), range(6)))
    for n, page in enumerate(pages):
        assert page is not None and f"p{n}-1.0.tar.gz".encode() in page.body
    assert len(loads) == 1


def test_a_certificate_no_trusted_ca_signed_is_refused(
    https_upstream: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    https_upstream.add_file("p", b"x", filename="p-1.0.tar.gz")
    (tmp_path / "other").mkdir()
    other_ca, _ = local_tls(tmp_path / "other")
    monkeypatch.setenv("SSL_CERT_FILE", str(other_ca))
    client._tls_context.cache_clear()
    with pytest.raises(UpstreamError, match="unreachable"):
        _client(https_upstream).fetch_page("p")
