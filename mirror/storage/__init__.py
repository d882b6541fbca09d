"""Blob storage: a small protocol with a local-directory and an S3 implementation."""

from mirror.storage.blobs import BlobStore, blob_key, open_blob_store

__all__ = ["BlobStore", "blob_key", "open_blob_store"]
