"""An HTTPS fake upstream whose certificate authority is the only one the client trusts."""

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from mirror.upstream import client
from tests.support.fake_upstream import FakeUpstream
from tests.support.tls import local_tls

HttpsUpstream = Callable[[Sequence[str]], AbstractContextManager[FakeUpstream]]


@pytest.fixture
def trusted_https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HttpsUpstream:
    """Start a fake upstream on HTTPS, its certificate for 127.0.0.1 and the given names, its
    CA the system's only trusted one (OpenSSL reads ``SSL_CERT_FILE`` when a context loads
    the default CAs)."""

    @contextmanager
    def start(names: Sequence[str] = ()) -> Iterator[FakeUpstream]:
        ca, server_context = local_tls(tmp_path, names)
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        # The process's context is loaded on first use: load it with this test's trust, and
        # drop it afterwards so no other test inherits that trust.
        client._tls_context.cache_clear()
        try:
            with FakeUpstream(tls=server_context) as upstream:
                yield upstream
        finally:
            client._tls_context.cache_clear()

    return start


@pytest.fixture
def https_upstream(trusted_https: HttpsUpstream) -> Iterator[FakeUpstream]:
    with trusted_https(()) as upstream:
        yield upstream
