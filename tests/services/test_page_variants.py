"""A page's gzip variant is kept in the blob store once made, and read by other processes only
once it decodes to the page."""

import gzip
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirror.codings import encode, gunzipped
from mirror.services.backends import Backends
from mirror.services.page_bytes import PageBytes, variant_key
from mirror.storage import BlobStore, blob_key
from tests.support.waiting import wait_until

PAGE = json.dumps({"files": [{"filename": f"demo-{n}.tar.gz"} for n in range(2000)]}).encode()
DIGEST = hashlib.sha256(PAGE).hexdigest()
KEY = variant_key(DIGEST, "gzip")


@pytest.fixture
def store(backends: Backends) -> BlobStore:
    backends.blobs.put_bytes(blob_key(DIGEST), PAGE)
    return backends.blobs


def kept(store: BlobStore) -> bytes | None:
    if not store.exists(KEY):
        return None
    with store.open(KEY) as stream:
        return stream.read()


def test_a_gzip_variant_made_for_a_client_is_kept_for_the_other_processes(
    store: BlobStore,
) -> None:
    made = PageBytes().encoded(store, DIGEST, "gzip")
    assert made == encode(PAGE, "gzip")
    assert wait_until(lambda: kept(store) == made, 30)
    # Another process reads the kept variant rather than making its own: a copy made at
    # another level, which that process would not make, is what it answers with.
    other_level = gzip.compress(PAGE, compresslevel=1, mtime=0)
    store.delete(KEY)
    store.put_bytes(KEY, other_level)
    assert PageBytes().encoded(store, DIGEST, "gzip") == other_level


def test_a_page_known_too_large_to_keep_has_no_kept_variant_read(store: BlobStore) -> None:
    # Served from the store per request: no read of a variant that is never made for it.
    pages = PageBytes(max_page=len(PAGE) - 1)
    assert pages.encoded(store, DIGEST, "gzip") is None
    store.put_bytes(KEY, b"never read, so never dropped")
    assert pages.encoded(store, DIGEST, "gzip") is None
    assert kept(store) == b"never read, so never dropped"


def test_a_zstd_variant_is_not_kept(store: BlobStore) -> None:
    # Checking a kept zstd copy would cost more than making it again.
    PageBytes().encoded(store, DIGEST, "zstd")
    assert not store.exists(variant_key(DIGEST, "zstd"))


# Copies a store may hold under a page's variant key that are not the page's gzip bytes.
NOT_THE_PAGE = {
    "garbage": b"not gzip at all",
    "another page": gzip.compress(b"another page", mtime=0),
    "truncated": gzip.compress(PAGE, mtime=0)[:-9],
    "trailing bytes": gzip.compress(PAGE, mtime=0) + b"trailing",
    "past the largest page kept": gzip.compress(PAGE + b" " * 5_000_000, mtime=0),
}


def test_a_kept_variant_that_is_not_the_page_is_never_served_and_made_again(
    store: BlobStore,
) -> None:
    # One test for all the copies: each backend's setup (S3 among them) is made once.
    for name, stored in NOT_THE_PAGE.items():
        store.delete(KEY)
        store.put_bytes(KEY, stored)
        answered = PageBytes().encoded(store, DIGEST, "gzip")
        assert answered == encode(PAGE, "gzip"), name
        assert wait_until(lambda: kept(store) == encode(PAGE, "gzip"), 30), name


@given(st.binary(max_size=2048), st.integers(min_value=0, max_value=4096))
def test_gunzipped_gives_whole_members_within_the_limit_or_none(data: bytes, limit: int) -> None:
    result = gunzipped(data, limit)  # never raises, whatever a store holds
    assert result is None or len(result) <= limit
    body = gunzipped(gzip.compress(data, mtime=0), limit)
    assert body == (data if len(data) <= limit else None)
