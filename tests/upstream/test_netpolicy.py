"""Upstream data cannot aim the mirror at the network it runs in (docs/admission.md, "Network
policy"): URLs a page names and redirects reach only permitted addresses, checked when the
connection is made."""

import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirror.errors import ConfigError, UpstreamError
from mirror.hosts import HostPort
from mirror.upstream.client import UpstreamClient
from mirror.upstream.netpolicy import Destinations, RefusedDestinationError, refusal
from tests.support.fake_upstream import FakeUpstream

FILE = "p-1.0.tar.gz"
CONTENT = b"the file"


def make_client(upstream: FakeUpstream, allowed_hosts: tuple[str, ...] = ()) -> UpstreamClient:
    return UpstreamClient(
        upstream.simple_url,
        timeout=5,
        retries=1,
        max_page_bytes=1 << 20,
        max_file_bytes=1 << 20,
        allowed_hosts=allowed_hosts,
    )


@pytest.fixture
def other_service() -> Iterator[FakeUpstream]:
    """A second service on this machine, another port: what a hostile page aims at."""
    with FakeUpstream() as service:
        service.add_file("p", CONTENT, filename=FILE)
        yield service


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[str]]]:
    """Names the resolver answers from this table: each lookup takes the next answer (the last
    one repeats), as a rebinding name server would; other names resolve for real."""
    table: dict[str, list[list[str]]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if host not in table:
            return real(host, port, *args, **kw)
        answers = table[host]
        addresses = answers.pop(0) if len(answers) > 1 else answers[0]
        return [
            item
            for address in addresses
            for item in real(address, port, *args, **kw, flags=socket.AI_NUMERICHOST)
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


def file_url(server: FakeUpstream, host: str = "127.0.0.1") -> str:
    return server.file_url("p", FILE).replace("127.0.0.1", host, 1)


# --- the address classifier -------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("8.8.8.8", None),
        ("2606:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff0e::1", "multicast"),
        ("240.0.0.1", "private"),
        ("100.64.0.1", "not globally routable"),
        ("192.0.2.10", "private"),
        ("fec0::1", "site-local"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::127.0.0.1", "loopback"),
        ("64:ff9b::10.0.0.1", "private"),
        ("64:ff9b::8.8.8.8", None),
        ("2002:7f00:1::1", "loopback"),
        ("2002:0a00:1::1", "private"),
        ("::127.0.0.1", "reserved"),
        ("2001:db8::1", "private"),
    ],
)
def test_addresses_are_classified(address: str, reason: str | None) -> None:
    assert refusal(ipaddress.ip_address(address)) == reason


ipv4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
ipv6 = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)


@given(ipv4)
def test_an_ipv4_address_is_permitted_only_when_globally_routable_unicast(
    address: ipaddress.IPv4Address,
) -> None:
    assert (refusal(address) is None) == (address.is_global and not address.is_multicast)


@given(ipv4)
def test_ipv6_forms_of_an_ipv4_address_are_judged_as_that_address(
    address: ipaddress.IPv4Address,
) -> None:
    expected = refusal(address)
    value = int(address)
    mapped = ipaddress.IPv6Address((0xFFFF << 32) | value)
    nat64 = ipaddress.IPv6Address((0x64FF9B << 96) | value)
    sixtofour = ipaddress.IPv6Address((0x2002 << 112) | (value << 80) | 1)
    assert refusal(mapped) == refusal(nat64) == refusal(sixtofour) == expected


@given(ipv6)
def test_a_permitted_ipv6_address_is_global_or_reaches_a_global_ipv4_one(
    address: ipaddress.IPv6Address,
) -> None:
    if refusal(address) is not None:
        return
    embedded = address.ipv4_mapped or address.sixtofour
    if address in ipaddress.IPv6Network("64:ff9b::/96"):
        embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    reached = embedded or address
    assert reached.is_global
    assert not (reached.is_multicast or reached.is_private or reached.is_loopback)


def test_a_name_with_a_local_and_a_global_address_is_dialled_at_the_global_one_only() -> None:
    destinations = Destinations("http://127.0.0.1:8000/simple/")
    local, remote = ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("8.8.8.8")
    assert destinations.permitted("mixed.test", 9000, [local, remote]) == [remote]
    with pytest.raises(RefusedDestinationError, match=r"127\.0\.0\.1 \(loopback\)"):
        destinations.permitted("local.test", 9000, [local])


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        ("files.internal", HostPort("files.internal", None)),
        ("Files.Internal.:8443", HostPort("files.internal", 8443)),
        ("10.0.0.5:80", HostPort("10.0.0.5", 80)),
        ("[fd00::5]:8080", HostPort("fd00::5", 8080)),
    ],
)
def test_allowed_hosts_entries(entry: str, parsed: HostPort) -> None:
    assert HostPort.parse(entry) == parsed


@pytest.mark.parametrize("entry", ["", "http://files.internal/", "files.internal/x", "a:b"])
def test_malformed_allowed_hosts_entries_are_config_errors(entry: str) -> None:
    with pytest.raises(ConfigError, match="allowed_hosts"):
        HostPort.parse(entry)


# --- through the client: pages, redirects, names ----------------------------------------


def test_urls_a_page_names_on_another_local_service_are_refused_unsent(
    fake_upstream: FakeUpstream,
    other_service: FakeUpstream,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_upstream.files_host_url = other_service.url
    fake_upstream.integrity_host_url = other_service.url
    fake_upstream.add_file("p", CONTENT, filename=FILE, metadata=b"m", provenance=b"{}")
    client = make_client(fake_upstream)
    page = client.fetch_page("p")
    assert page is not None and other_service.url.encode() in page.body
    url = fake_upstream.file_url("p", FILE)
    provenance = fake_upstream.integrity_url("p", "1.0", FILE)

    with pytest.raises(RefusedDestinationError):
        client.download(url, fake_upstream.get_file("p", FILE).sha256, len(CONTENT), tmp_path)
    for named in (url + ".metadata", provenance):
        with pytest.raises(RefusedDestinationError, match="loopback"):
            client.fetch_small(named, 1000)
    with pytest.raises(RefusedDestinationError):
        client.fetch_range(url, 0, 4)

    assert other_service.requests == {}
    assert list(tmp_path.iterdir()) == []
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lines) == 4
    assert lines[0] == (
        f"refused upstream-named URL {url}: "
        f"127.0.0.1 port {other_service.port} resolves to 127.0.0.1 (loopback)"
    )


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_local_service_is_refused(
    fake_upstream: FakeUpstream, other_service: FakeUpstream, status: int
) -> None:
    fake_upstream.add_file("p", CONTENT, filename=FILE)
    fake_upstream.redirect(file_url(other_service), path="/files/*", status=status)

    with pytest.raises(RefusedDestinationError, match="loopback"):
        make_client(fake_upstream).fetch_small(file_url(fake_upstream), 1000)

    assert fake_upstream.hits(f"/files/p/{FILE}") == 1
    assert other_service.requests == {}


def test_a_redirect_to_a_page_on_another_local_service_is_refused(
    fake_upstream: FakeUpstream, other_service: FakeUpstream
) -> None:
    fake_upstream.redirect(other_service.project_url("p"), path="/simple/p/")

    with pytest.raises(RefusedDestinationError):
        make_client(fake_upstream).fetch_page("p")

    assert other_service.requests == {}


def test_a_name_that_resolves_to_loopback_is_refused(
    fake_upstream: FakeUpstream, other_service: FakeUpstream
) -> None:
    with pytest.raises(RefusedDestinationError, match=r"localhost port \d+ resolves to .*loopback"):
        make_client(fake_upstream).fetch_small(file_url(other_service, "localhost"), 1000)
    assert other_service.requests == {}


# Other spellings of the loopback address: judged by what they resolve to, not as written.
@pytest.mark.parametrize(
    "host",
    [
        "2130706433",  # decimal
        "0x7f.1",  # hexadecimal, short form
        "0177.0.0.1",  # octal
        "127.1",
        "localhost.",
        "LocalHost",
        "good.example@127.0.0.1",  # userinfo before the real host
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
    ],
)
def test_other_spellings_of_loopback_are_refused(
    fake_upstream: FakeUpstream, other_service: FakeUpstream, host: str
) -> None:
    with pytest.raises(RefusedDestinationError):
        make_client(fake_upstream).fetch_small(file_url(other_service, host), 1000)
    assert other_service.requests == {}


def test_the_configured_upstream_on_loopback_is_trusted_as_written(
    fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake = fake_upstream.add_file("p", CONTENT, filename=FILE, metadata=b"m")
    client = make_client(fake_upstream)
    assert client.fetch_page("p") is not None
    url = fake_upstream.file_url("p", FILE)
    assert client.download(url, fake.sha256, fake.size, tmp_path).read_bytes() == CONTENT
    assert client.fetch_small(url + ".metadata", 10) == b"m"


def test_a_files_host_at_the_upstreams_own_address_and_port_is_permitted(
    fake_upstream: FakeUpstream, dns: dict[str, list[list[str]]]
) -> None:
    """A gateway network: the files host resolves to the configured upstream's address."""
    fake_upstream.add_file("p", CONTENT, filename=FILE)
    dns["files.test"] = [["127.0.0.1"]]
    assert make_client(fake_upstream).fetch_small(file_url(fake_upstream, "files.test"), 100) == (
        CONTENT
    )


def test_the_connection_dials_the_address_that_was_checked(
    fake_upstream: FakeUpstream, dns: dict[str, list[list[str]]]
) -> None:
    """Rebinding: the name answers the permitted address once, then another (where nothing
    listens). One resolution per connection: the checked address is the one dialled."""
    fake_upstream.add_file("p", CONTENT, filename=FILE)
    dns["rebind.test"] = [["127.0.0.1"], ["127.0.0.2"]]
    client = make_client(fake_upstream)
    assert client.fetch_small(file_url(fake_upstream, "rebind.test"), 100) == CONTENT
    assert dns["rebind.test"] == [["127.0.0.2"]]  # asked exactly once


def test_the_next_permitted_address_is_tried_when_one_does_not_answer(
    fake_upstream: FakeUpstream, dns: dict[str, list[list[str]]]
) -> None:
    """The upstream's name has two addresses, only one of which listens; so has its files
    host: the connection moves on to the second, as urllib3 does for a name."""
    fake_upstream.add_file("p", CONTENT, filename=FILE)
    dns["index.test"] = dns["files.test"] = [["127.0.0.2", "127.0.0.1"]]
    client = UpstreamClient(
        fake_upstream.simple_url.replace("127.0.0.1", "index.test"),
        timeout=5,
        retries=0,
        max_page_bytes=1 << 20,
        max_file_bytes=1 << 20,
    )
    assert client.fetch_small(file_url(fake_upstream, "files.test"), 100) == CONTENT


def test_concurrent_first_connections_all_see_the_upstreams_addresses(
    fake_upstream: FakeUpstream, dns: dict[str, list[list[str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold install opens many connections to the files host at once; while one of them
    resolves the upstream's name (slowly here), the others wait for its answer rather than
    judge the files host against none."""
    fake_upstream.add_file("p", CONTENT, filename=FILE)
    dns["index.test"] = dns["files.test"] = [["127.0.0.1"]]
    resolve = socket.getaddrinfo

    def slow_for_the_upstream(host: Any, *args: Any, **kw: Any) -> Any:
        if host == "index.test":
            time.sleep(0.3)
        return resolve(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", slow_for_the_upstream)
    client = UpstreamClient(
        fake_upstream.simple_url.replace("127.0.0.1", "index.test"),
        timeout=5,
        retries=0,
        max_page_bytes=1 << 20,
        max_file_bytes=1 << 20,
    )
    url = file_url(fake_upstream, "files.test")
    with ThreadPoolExecutor(4) as pool:
        bodies = list(pool.map(lambda _: client.fetch_small(url, 100), range(4)))
    assert bodies == [CONTENT] * 4


def test_the_upstreams_address_is_permitted_on_the_upstreams_port_only(
    fake_upstream: FakeUpstream, other_service: FakeUpstream, dns: dict[str, list[list[str]]]
) -> None:
    """The files host's first connection is permitted (the upstream's address and port); its
    redirect to the same name on another port is refused."""
    fake_upstream.add_file("p", CONTENT, filename=FILE)
    dns["files.test"] = [["127.0.0.1"]]
    fake_upstream.redirect(file_url(other_service, "files.test"), path="/files/*")
    with pytest.raises(RefusedDestinationError, match=r"files\.test port"):
        make_client(fake_upstream).fetch_small(file_url(fake_upstream, "files.test"), 100)
    assert fake_upstream.hits(f"/files/p/{FILE}") == 1
    assert other_service.requests == {}


@pytest.mark.parametrize("entry", ["localhost", "LOCALHOST:{port}", "127.0.0.1:{port}"])
def test_allowed_hosts_let_a_local_service_through(
    fake_upstream: FakeUpstream, other_service: FakeUpstream, entry: str
) -> None:
    host = entry.split(":")[0].lower()
    client = make_client(fake_upstream, (entry.format(port=other_service.port),))
    assert client.fetch_small(file_url(other_service, host), 100) == CONTENT


def test_an_allowed_host_on_another_port_is_still_refused(
    fake_upstream: FakeUpstream, other_service: FakeUpstream
) -> None:
    client = make_client(fake_upstream, (f"127.0.0.1:{other_service.port + 1}",))
    with pytest.raises(RefusedDestinationError):
        client.fetch_small(file_url(other_service), 100)


def test_an_unresolvable_name_is_an_upstream_failure(fake_upstream: FakeUpstream) -> None:
    with pytest.raises(UpstreamError, match="unreachable") as raised:
        make_client(fake_upstream).fetch_small("http://no-such-host.invalid/x", 100)
    assert not isinstance(raised.value, RefusedDestinationError)


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "HTTPS_PROXY"])
def test_proxy_settings_do_not_route_around_the_check(
    fake_upstream: FakeUpstream,
    other_service: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
) -> None:
    """The client connects directly, so the address checked is the one dialled; a proxy (here
    the other service) is never asked."""
    monkeypatch.setenv(variable, other_service.url)
    monkeypatch.setenv("NO_PROXY", "")
    fake_upstream.add_file("p", CONTENT, filename=FILE)
    client = make_client(fake_upstream)
    assert client.fetch_small(file_url(fake_upstream), 100) == CONTENT
    with pytest.raises(RefusedDestinationError):
        client.fetch_small(file_url(other_service, "localhost"), 100)
    assert other_service.requests == {}


# --- HTTPS ------------------------------------------------------------------------------


def test_https_names_are_verified_against_the_certificate_after_the_check(
    trusted_https: Callable[[list[str]], AbstractContextManager[FakeUpstream]],
    dns: dict[str, list[list[str]]],
) -> None:
    """The connection dials the checked address, and TLS still sends and verifies the name."""
    dns["files.test"] = dns["other.test"] = [["127.0.0.1"]]
    with trusted_https(["files.test"]) as upstream:
        upstream.add_file("p", CONTENT, filename=FILE)
        client = make_client(upstream)
        assert client.fetch_page("p") is not None
        assert client.fetch_small(file_url(upstream, "files.test"), 100) == CONTENT
        with pytest.raises(UpstreamError, match="unreachable") as raised:
            client.fetch_small(file_url(upstream, "other.test"), 100)
        assert "certificate is not valid for 'other.test'" in str(raised.value)
        assert upstream.hits(f"/files/p/{FILE}") == 1
