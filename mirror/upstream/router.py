"""Which upstream index each project comes from (``[[upstream.indexes]]``, docs/admission.md,
"Several upstream indexes").

A project comes from exactly one index, the first whose ``projects`` match its name, and is
never looked up in another: not when its index lacks it, nor when another lists it with a
higher version (the dependency-confusion hole of extra index URLs). Every look at a project,
its page, files, metadata and provenance, goes through the client of its index.
"""

from collections.abc import Mapping

from mirror.config import Config, IndexConfig
from mirror.errors import NotFoundError
from mirror.upstream.client import UpstreamClient
from mirror.upstream.credentials import read_credentials
from mirror.upstream.location import default_upstream


class IndexRouter:
    """The clients of the configured indexes, by name, and the routing between them."""

    def __init__(self, config: Config, clients: Mapping[str, UpstreamClient]) -> None:
        self._config = config
        self.clients = dict(clients)

    @classmethod
    def from_config(cls, config: Config, env: Mapping[str, str] | None = None) -> "IndexRouter":
        """A client per index, its credentials read now.

        Raises:
            ConfigError: a named credential cannot be read, or no upstream URL can be found.
        """
        clients = {index.name: _client(config, index, env) for index in config.upstream.routes}
        return cls(config, clients)

    def for_project(self, project: str) -> UpstreamClient:
        """The client of the index ``project`` (normalised) comes from.

        Raises:
            NotFoundError: no index serves ``project`` (no catch-all is configured).
        """
        index = self._config.index_for(project)
        if index is None:
            raise NotFoundError(f"no upstream index serves project {project!r}")
        return self.clients[index.name]


def _client(config: Config, index: IndexConfig, env: Mapping[str, str] | None) -> UpstreamClient:
    upstream = config.upstream
    url = index.url or upstream.url or default_upstream(env)
    timeout = upstream.timeout if index.timeout is None else index.timeout
    return UpstreamClient(
        url,
        timeout=timeout.total_seconds(),
        retries=upstream.retries if index.retries is None else index.retries,
        max_page_bytes=upstream.max_page_bytes,
        max_file_bytes=upstream.max_file_bytes,
        allowed_hosts=upstream.allowed_hosts
        if index.allowed_hosts is None
        else index.allowed_hosts,
        name=index.name,
        credentials=read_credentials(index, url, env),
    )
