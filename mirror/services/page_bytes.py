"""Signed page blobs kept in memory, per process, so a warm page costs no file or S3 read.

A blob's key is its sha256, so a cached copy never goes stale: a publish makes new digests, the
signed page lookup (``signed_pages``) points at them, and the old copies age out of this one
(least recently used first, within a byte budget). Bytes are checked against their digest once, when
they are read, so a damaged blob is never served from memory. Pages over ``MAX_PAGE`` are not
kept (and remembered as such, so they are not read again to learn it, up to ``MAX_TOO_LARGE``
digests); they are served from the store per request.

A page's compressed variants (``mirror.codings``) are kept beside it in memory, each made once
per process, when a client first asks for it: never per request. A gzip variant, the costly one
to make, is also kept in the blob store beside the page (``variant_key``) once made, so that
another process, or another node, reads it instead of making it again (docs/performance.md,
"Pages on the wire"). A kept variant is served only once it decodes to the page's own bytes;
one that does not is dropped and made again.
"""

import contextlib
import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from mirror.codings import encode, gunzipped
from mirror.errors import NotFoundError, StorageError
from mirror.lru import ByteBudgetLRU
from mirror.storage import BlobStore, blob_key

log = logging.getLogger(__name__)

# Per worker process, a small part of a worker's memory. The largest pages (projects with
# thousands of files) are about 1-2 MB of JSON; most are a few KB.
BUDGET = 32 << 20
MAX_PAGE = 4 << 20
# The variant kept in the blob store once made: checking a kept gzip copy (decoding it, hashing
# the result) costs a fifth of making it again, about 3 ms against 17 for a 1.5 MB page;
# checking a zstd copy would cost more than making it.
KEPT = "gzip"
# Forgetting costs one more size check; remembering without end would grow with every publish.
MAX_TOO_LARGE = 1024


def variant_key(sha256: str, coding: str) -> str:
    """Where the page ``sha256`` is kept in ``coding``: beside it, named after it."""
    return f"{blob_key(sha256)}.{coding}"


class PageBytes:
    """sha256 -> page bytes, least recently used out first, at most ``budget`` bytes."""

    def __init__(self, budget: int = BUDGET, max_page: int = MAX_PAGE) -> None:
        self._max_page = max_page
        self._pages = ByteBudgetLRU(budget)
        self._lock = threading.Lock()  # of the pages too large to keep, and of the keeper
        self._too_large: set[str] = set()
        # Writes the variants made for clients to the store, off their requests' threads.
        self._keeper: ThreadPoolExecutor | None = None

    def get(self, store: BlobStore, sha256: str) -> bytes | None:
        """The blob's bytes, or None when it is too large to keep (serve it from the store).

        Raises:
            NotFoundError: the blob is absent.
            StorageError: the stored bytes do not match their digest.
        """
        data = self._pages.get(sha256)
        if data is not None:
            return data
        if self._known_too_large(sha256):
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
        # A page known too large has no kept variant: no store read per request to learn it.
        kept = coding == KEPT and not self._known_too_large(sha256)
        if kept and (data := self._kept(store, sha256)) is not None:
            self._pages.put(key, data)
            return data
        identity = self.get(store, sha256)
        if identity is None:
            return None
        data = encode(identity, coding)
        self._pages.put(key, data)
        if coding == KEPT:
            self._keep_later(store, variant_key(sha256, coding), data)
        return data

    def _known_too_large(self, sha256: str) -> bool:
        with self._lock:
            return sha256 in self._too_large

    def _kept(self, store: BlobStore, sha256: str) -> bytes | None:
        """The page's kept variant, once it decodes to the page; None when there is none (or
        it did not, and was dropped)."""
        key = variant_key(sha256, KEPT)
        try:
            with store.open(key) as stream:
                data = stream.read(self._max_page + 1)
        except NotFoundError:
            return None
        page = gunzipped(data, self._max_page) if len(data) <= self._max_page else None
        if page is None or hashlib.sha256(page).hexdigest() != sha256:
            log.warning("kept page variant is not its page; made again", extra={"key": key})
            with contextlib.suppress(StorageError):  # made again and kept anew all the same
                store.delete(key)
            return None
        self._pages.put(sha256, page)
        return data

    def _keep_later(self, store: BlobStore, key: str, data: bytes) -> None:
        with self._lock:
            if self._keeper is None:
                self._keeper = ThreadPoolExecutor(1, thread_name_prefix="page-variants")
            keeper = self._keeper
        keeper.submit(_put, store, key, data)

    def _read(self, store: BlobStore, sha256: str) -> bytes | None:
        with store.open(blob_key(sha256)) as stream:
            if stream.seek(0, 2) > self._max_page:
                return None
            stream.seek(0)
            data = stream.read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise StorageError(f"page blob {sha256} does not match its digest")
        return data


def _put(store: BlobStore, key: str, data: bytes) -> None:
    try:
        store.put_bytes(key, data)
    except StorageError as exc:  # the next process makes it again: costs CPU, not a page
        log.warning("page variant not kept", extra={"key": key, "error": str(exc)})
