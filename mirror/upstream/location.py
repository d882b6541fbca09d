"""Which index to proxy when none is configured (README.md, "Two commands").

No registry hostname is written in this repository: the default comes from pip itself, so the
mirror follows whatever index (or corporate proxy) the machine's pip already uses.
"""

import os
from collections.abc import Mapping

from mirror.errors import ConfigError


def default_upstream(env: Mapping[str, str] | None = None) -> str:
    """``PIP_INDEX_URL``, else pip's configured ``index-url``, else pip's built-in index."""
    env = os.environ if env is None else env
    if env.get("PIP_INDEX_URL"):
        return _simple_endpoint(env["PIP_INDEX_URL"].split()[0])
    try:
        from pip._internal.configuration import Configuration
        from pip._internal.models.index import PyPI
    except ImportError as exc:
        raise ConfigError(
            "no upstream.url configured and pip is not importable to ask it; "
            "set upstream.url or MIRROR_UPSTREAM_URL"
        ) from exc
    configuration = Configuration(isolated=False)
    configuration.load()
    values = dict(configuration.items())
    for key in ("install.index-url", "global.index-url"):
        if values.get(key):
            return _simple_endpoint(str(values[key]).split()[0])
    return _simple_endpoint(PyPI.simple_url)


def _simple_endpoint(url: str) -> str:
    return url if url.endswith("/") else url + "/"
