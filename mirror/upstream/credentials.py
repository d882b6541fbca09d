"""The credentials an upstream index asks for, read from where the configuration names them.

The configuration names an environment variable or a file (``password_env``, ``token_file``,
...), never the secret, and the secret is read once, when the backends are built. It is sent
only to its own index's origin (scheme, host and port of the index URL): not to a file host a
page names, nor to another index, nor across a redirect to another host (urllib3 drops the
header there). No repr, log line or error message shows it.
"""

import base64
import os
from collections.abc import Mapping
from pathlib import Path

from urllib3.util import parse_url

from mirror.config import IndexConfig
from mirror.errors import ConfigError
from mirror.hosts import host_key

Origin = tuple[str, str, int]


def origin(url: str) -> Origin:
    """Scheme, host (as compared) and port of ``url``."""
    parsed = parse_url(url)
    scheme = parsed.scheme or "http"
    port = parsed.port or (443 if scheme == "https" else 80)
    return scheme, host_key(parsed.host or ""), port


class Credentials:
    """The ``Authorization`` header for one index, sent to that index's origin only."""

    def __init__(self, index_url: str, authorization: str) -> None:
        self._origin = origin(index_url)
        self._authorization = authorization

    def headers_for(self, url: str) -> dict[str, str]:
        """The header to send with a request for ``url``: none outside the index's origin."""
        if origin(url) != self._origin:
            return {}
        return {"Authorization": self._authorization}

    def __repr__(self) -> str:
        scheme, host, port = self._origin
        return f"<credentials for {scheme}://{host}:{port}>"


def read_credentials(
    index: IndexConfig, index_url: str, env: Mapping[str, str] | None = None
) -> Credentials | None:
    """The credentials ``index`` names, read now; None when it names none.

    Raises:
        ConfigError: a named variable is unset or empty, or a named file cannot be read or is
            empty (the message names the variable or file, never a value).
    """
    env = os.environ if env is None else env
    where = f"upstream.indexes[{index.name}]"
    if index.token_env or index.token_file:
        token = _secret(where, index.token_env, index.token_file, env)
        return Credentials(index_url, f"Bearer {token}")
    if index.password_env or index.password_file:
        password = _secret(where, index.password_env, index.password_file, env)
        pair = base64.b64encode(f"{index.username}:{password}".encode()).decode()
        return Credentials(index_url, f"Basic {pair}")
    return None


def _secret(where: str, variable: str, file: str, env: Mapping[str, str]) -> str:
    if variable:
        value = env.get(variable, "")
        if not value:
            raise ConfigError(f"{where}: environment variable {variable} is not set or empty")
        return value
    path = Path(file).expanduser()
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{where}: cannot read credentials file {path}: {reason}") from None
    if not value:
        raise ConfigError(f"{where}: credentials file {path} is empty")
    return value
