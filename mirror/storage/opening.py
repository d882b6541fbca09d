"""The stores configuration picks with ``storage.backend``.

``fs``: blobs in ``FsBlobStore`` under ``<storage.path>`` and the signed TUF metadata in a
``DirectoryMetadataStore`` under ``<storage.path>/tuf/metadata`` (crash-safe writes, versioned
names never overwritten). ``s3``: both in the bucket, so every node serves the same bytes and
metadata. boto3 is imported only when S3 is used.

Kept apart from the implementations, which import ``blobs`` for the protocol and the keys.
"""

from mirror.config import Config
from mirror.storage.blobs import BlobStore
from tuf_repo.store import DirectoryMetadataStore, MetadataStore


def open_blob_store(config: Config) -> BlobStore:
    if config.storage.backend == "s3":
        from mirror.storage.s3 import S3BlobStore

        return S3BlobStore.from_config(config)
    from mirror.storage.fs import FsBlobStore

    return FsBlobStore(config.data_dir)


def open_metadata_store(config: Config) -> MetadataStore:
    if config.storage.backend == "s3":
        from mirror.storage.s3_metadata import S3MetadataStore

        store: MetadataStore = S3MetadataStore.from_config(config)
        return store
    return DirectoryMetadataStore(config.data_dir / "tuf" / "metadata")
