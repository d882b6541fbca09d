"""Where upstream data may send the mirror: checked when a connection is made.

A project page names the URLs of files, of their ``.metadata`` and of their provenance, and any
answer may redirect. None of that may aim the mirror at the network it runs in (its database,
its object store, a cloud metadata service, an admin port on the same machine). Every
connection the upstream client opens resolves its host name once, checks each address, and
dials only the addresses it checked, so a name that resolves to a global address for the check
and to a local one for the connection (DNS rebinding) gets nowhere. See docs/admission.md,
"Network policy".
"""

import contextlib
import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection, parse_url

from mirror.errors import ConfigError, UpstreamError
from mirror.hosts import HostPort, host_key

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolved = tuple[IPAddress, int]

# The well-known NAT64 prefix (RFC 6052): the last 32 bits are the IPv4 address reached.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# How old the configured upstream's addresses may be before an address outside them makes
# the mirror resolve the upstream again (its addresses may move; a refusal must not stick).
_UPSTREAM_ADDRESSES_TTL = 60.0

_REFUSED_KINDS: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("unspecified", lambda address: address.is_unspecified),
    ("loopback", lambda address: address.is_loopback),
    ("link-local", lambda address: address.is_link_local),
    ("multicast", lambda address: address.is_multicast),
    ("private", lambda address: address.is_private),
    ("reserved", lambda address: address.is_reserved),
    ("site-local", lambda address: getattr(address, "is_site_local", False)),
)


class RefusedDestinationError(UpstreamError):
    """An upstream-named URL, or a redirect, leads to an address the mirror must not reach."""


def refusal(address: IPAddress) -> str | None:
    """Why upstream data may not send the mirror to ``address``; None for a globally routable
    address. An IPv6 address that carries an IPv4 one (IPv4-mapped, NAT64, 6to4) is judged by
    the IPv4 address it reaches."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return refusal(embedded)
    for kind, applies in _REFUSED_KINDS:
        if applies(address):
            return kind
    return None if address.is_global else "not globally routable"


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


class Destinations:
    """Where the upstream client may connect.

    Trusted as written: the configured upstream (host and port exactly as the operator wrote
    them) and the hosts in ``upstream.allowed_hosts``. Any other host is resolved, and only its
    permitted addresses are dialled: globally routable ones, and the very addresses and port
    the configured upstream resolves to (a network that reaches the public index through a
    gateway resolves its hosts to the gateway's address).
    """

    def __init__(self, upstream_url: str, allowed_hosts: Sequence[str] = ()) -> None:
        url = parse_url(upstream_url)
        if not url.host:
            raise ConfigError(f"upstream URL {upstream_url!r} has no host")
        self.upstream = HostPort(host_key(url.host), url.port or _default_port(url.scheme))
        self.allowed = tuple(HostPort.parse(entry) for entry in allowed_hosts)
        self._upstream_addresses: frozenset[Resolved] = frozenset()
        self._resolved_at = -_UPSTREAM_ADDRESSES_TTL
        self._resolving = threading.Lock()

    def trusts(self, host: str, port: int) -> bool:
        return self.upstream.covers(host, port) or any(a.covers(host, port) for a in self.allowed)

    def permitted(self, host: str, port: int, addresses: Sequence[IPAddress]) -> list[IPAddress]:
        """The addresses of ``addresses`` (what ``host`` resolved to) that may be dialled.

        Raises:
            RefusedDestinationError: none may.
        """
        allowed, refused = [], []
        for address in addresses:
            reason = self._refusal(address, port)
            if reason is None:
                allowed.append(address)
            else:
                refused.append(f"{address} ({reason})")
        if not allowed:
            raise RefusedDestinationError(f"{host} port {port} resolves to {', '.join(refused)}")
        return allowed

    def _refusal(self, address: IPAddress, port: int) -> str | None:
        reason = refusal(address)
        if reason is None or self._is_upstream_address(address, port):
            return None
        return reason

    def _is_upstream_address(self, address: IPAddress, port: int) -> bool:
        if port != self.upstream.port:
            return False
        if (address, port) in self._upstream_addresses:
            return True
        # One thread resolves the upstream again; the others wait for its answer rather than
        # judge against an empty or stale set (a cold install opens many connections at once).
        with self._resolving:
            if time.monotonic() - self._resolved_at >= _UPSTREAM_ADDRESSES_TTL:
                self._upstream_addresses = self._resolve_upstream(port)
                self._resolved_at = time.monotonic()
            return (address, port) in self._upstream_addresses

    def _resolve_upstream(self, port: int) -> frozenset[Resolved]:
        try:
            return frozenset(resolve(self.upstream.host, port))
        except OSError:
            return frozenset()


def _default_port(scheme: str | None) -> int:
    return 443 if scheme == "https" else 80


def resolve(host: str, port: int) -> list[Resolved]:
    """The addresses ``host`` resolves to for a TCP connection, in the resolver's order (the
    families urllib3 would ask for)."""
    answers = socket.getaddrinfo(
        host.strip("[]"), port, connection.allowed_gai_family(), socket.SOCK_STREAM
    )
    found: dict[Resolved, None] = {}
    for _family, _type, _proto, _name, sockaddr in answers:
        # An IPv6 sockaddr may carry a scope ("fe80::1%eth0"); the address is what is judged.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        found[(address, int(sockaddr[1]))] = None
    return list(found)


class _CheckedConnection(HTTPConnection):
    """A connection that dials only the addresses ``destinations`` permits."""

    def __init__(self, *args: Any, destinations: Destinations, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._destinations = destinations

    def _new_conn(self) -> socket.socket:
        port = self.port or self.default_port
        if self._destinations.trusts(self.host, port):
            return super()._new_conn()
        try:
            resolved = resolve(self.host, port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        addresses = self._destinations.permitted(self.host, port, [a for a, _ in resolved])
        return self._dial(addresses, port)

    def _dial(self, addresses: Sequence[IPAddress], port: int) -> socket.socket:
        """A socket to the first of ``addresses`` that answers, as urllib3 tries a name's."""
        *earlier, last = addresses
        for address in earlier:
            # A refused or timed-out attempt moves on to the next address (NewConnectionError
            # is a ConnectTimeoutError in urllib3).
            with contextlib.suppress(ConnectTimeoutError):
                return self._dial_one(address, port)
        return self._dial_one(last, port)

    def _dial_one(self, address: IPAddress, port: int) -> socket.socket:
        # The TLS handshake that follows still names self.host (SNI, certificate check).
        try:
            sock = connection.create_connection(
                (str(address), port),
                self.timeout,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            ) from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        sys.audit("http.client.connect", self, self.host, port)
        return sock


class _CheckedHTTPSConnection(_CheckedConnection, HTTPSConnection):
    pass


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class CheckedPoolManager(urllib3.PoolManager):
    """A PoolManager whose every connection, redirects included, asks ``destinations`` first.

    It never goes through a proxy: urllib3 reads no proxy settings from the environment, so
    what is checked is the address actually dialled.
    """

    def __init__(self, destinations: Destinations, **kw: Any) -> None:
        super().__init__(**kw)
        self.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}
        self._destinations = destinations

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        # Pools pass keywords they do not know on to their connections.
        context = dict(self.connection_pool_kw if request_context is None else request_context)
        context["destinations"] = self._destinations
        return super()._new_pool(scheme, host, port, context)
