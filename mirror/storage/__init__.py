"""Blob storage: a small protocol with a local-directory and an S3 implementation; and the
store for signed TUF metadata."""

from mirror.storage.blobs import BlobStore, blob_key, store_bytes
from mirror.storage.opening import open_blob_store, open_metadata_store

__all__ = ["BlobStore", "blob_key", "open_blob_store", "open_metadata_store", "store_bytes"]
