"""The backends a process works with, built once from configuration."""

import logging
from dataclasses import dataclass

from sqlalchemy import Engine

from mirror.config import Config
from mirror.db.engine import Timeouts, make_engine
from mirror.policy.rules import Rules
from mirror.storage import BlobStore, open_blob_store, open_metadata_store
from mirror.timeutil import Clock
from mirror.upstream.router import IndexRouter
from tuf_repo.store import MetadataStore

log = logging.getLogger(__name__)


@dataclass
class Backends:
    """What one process holds: configuration, database engine, blob and TUF metadata stores,
    upstream indexes (``upstream.for_project(name)`` is a project's client), policy rules and
    clock; every service takes them as its first argument.
    """

    config: Config
    engine: Engine
    blobs: BlobStore
    upstream: IndexRouter
    rules: Rules
    clock: Clock
    metadata: MetadataStore

    @classmethod
    def from_config(cls, config: Config) -> "Backends":
        offset = config.debug.clock_offset
        if offset:
            log.warning("debug.clock_offset is set: the mirror's clock runs %s ahead", offset)
        return cls(
            config=config,
            engine=make_engine(config.database_url, Timeouts.from_config(config)),
            blobs=open_blob_store(config),
            upstream=IndexRouter.from_config(config),
            rules=policy_rules(config),
            clock=Clock(offset),
            metadata=open_metadata_store(config),
        )


def policy_rules(config: Config) -> Rules:
    """The allow, deny and internal rules of ``[policy]``.

    Raises:
        ConfigError: an entry is not a name, glob or requirement it may be.
    """
    return Rules.parse(
        internal=config.policy.internal,
        allow=config.policy.allow,
        deny=config.policy.deny,
        allowlist_only=config.policy.allowlist_only,
    )
