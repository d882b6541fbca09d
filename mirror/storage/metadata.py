"""Where the signed TUF metadata lives, chosen by ``storage.backend``.

``fs``: a ``DirectoryMetadataStore`` under ``<storage.path>/tuf/metadata`` (crash-safe writes,
versioned names never overwritten). ``s3``: ``mirror.storage.s3.S3MetadataStore`` beside the
blobs, so every node serves the same metadata.
"""

from mirror.config import Config
from tuf_repo.store import DirectoryMetadataStore, MetadataStore


def open_metadata_store(config: Config) -> MetadataStore:
    if config.get("storage", "backend") == "s3":
        from mirror.storage.s3 import S3MetadataStore  # boto3 is imported only when S3 is used

        store: MetadataStore = S3MetadataStore.from_config(config)
        return store
    return DirectoryMetadataStore(config.data_dir / "tuf" / "metadata")
