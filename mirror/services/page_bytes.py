"""Signed page blobs kept in memory, per process, so a warm page costs no file or S3 read.

A blob's key is its sha256, so a cached copy never goes stale: a publish makes new digests, the
signed page lookup (``signed_pages``) points at them, and the old copies age out of this one
(least recently used first, within a byte budget). Bytes are checked against their digest once, when
they are read, so a damaged blob is never served from memory. Pages over ``MAX_PAGE`` are not
kept (and remembered as such, so they are not read again to learn it, up to ``MAX_TOO_LARGE``
digests); they are served from the store per request.

A page's compressed variants (``mirror.codings``) are kept beside it, each made once, when a
client first asks for it: never per request.
"""

import hashlib
import threading

from mirror.codings import encode
from mirror.errors import StorageError
from mirror.lru import ByteBudgetLRU
from mirror.storage import BlobStore, blob_key

# Per worker process, a small part of a worker's memory. The largest pages (projects with
# thousands of files) are about 1-2 MB of JSON; most are a few KB.
BUDGET = 32 << 20
MAX_PAGE = 4 << 20
# Forgetting costs one more size check; remembering without end would grow with every publish.
MAX_TOO_LARGE = 1024


class PageBytes:
    """sha256 -> page bytes, least recently used out first, at most ``budget`` bytes."""

    def __init__(self, budget: int = BUDGET, max_page: int = MAX_PAGE) -> None:
        self._max_page = max_page
        self._pages = ByteBudgetLRU(budget)
        self._lock = threading.Lock()  # of the pages too large to keep
        self._too_large: set[str] = set()

    def get(self, store: BlobStore, sha256: str) -> bytes | None:
        """The blob's bytes, or None when it is too large to keep (serve it from the store).

        Raises:
            NotFoundError: the blob is absent.
            StorageError: the stored bytes do not match their digest.
        """
        data = self._pages.get(sha256)
        if data is not None:
            return data
        with self._lock:
            if sha256 in self._too_large:
                return None
        data = self._read(store, sha256)
        if data is not None:
            self._pages.put(sha256, data)
            return data
        with self._lock:
            if len(self._too_large) >= MAX_TOO_LARGE:
                self._too_large.clear()
            self._too_large.add(sha256)
        return None

    def encoded(self, store: BlobStore, sha256: str, coding: str) -> bytes | None:
        """The blob's bytes in ``coding``, or None when it is too large to keep.

        Raises:
            NotFoundError: the blob is absent.
            StorageError: the stored bytes do not match their digest.
        """
        key = f"{sha256}.{coding}"
        data = self._pages.get(key)
        if data is not None:
            return data
        identity = self.get(store, sha256)
        if identity is None:
            return None
        data = encode(identity, coding)
        self._pages.put(key, data)
        return data

    def _read(self, store: BlobStore, sha256: str) -> bytes | None:
        with store.open(blob_key(sha256)) as stream:
            if stream.seek(0, 2) > self._max_page:
                return None
            stream.seek(0)
            data = stream.read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StorageError(f"page blob {sha256} does not match its digest")
        return data
