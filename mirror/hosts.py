"""Hosts as the mirror compares them: the entries of ``upstream.allowed_hosts`` and the
destinations the upstream client may dial (``mirror.upstream.netpolicy``).

Imports nothing of the mirror but its errors, so the configuration can check entries with it.
"""

from dataclasses import dataclass

from urllib3.util import parse_url

from mirror.errors import ConfigError


@dataclass(frozen=True)
class HostPort:
    """A host name (or address) and a port; port None stands for any port."""

    host: str
    port: int | None

    @classmethod
    def parse(cls, text: str) -> "HostPort":
        """``host`` or ``host:port`` (an IPv6 address in brackets).

        Raises:
            ConfigError: not a host with an optional port.
        """
        try:
            url = parse_url(f"//{text}")
        except ValueError as exc:
            raise ConfigError(f"upstream.allowed_hosts: {text!r} is not host[:port]") from exc
        if not url.host or url.path or url.query or url.auth:
            raise ConfigError(f"upstream.allowed_hosts: {text!r} is not host[:port]")
        return cls(host_key(url.host), url.port)

    def covers(self, host: str, port: int) -> bool:
        return self.host == host_key(host) and self.port in (None, port)


def host_key(host: str) -> str:
    """A host as compared: lower case, without IPv6 brackets or a trailing dot."""
    return host.strip("[]").rstrip(".").lower()
