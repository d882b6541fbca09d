"""Content codings for pages on the wire (docs/performance.md, "Pages on the wire").

pip asks for gzip and uv for zstd as well; a project page of thousands of files is a few
hundred KB to 2 MB of JSON, and most of a warm install's bytes. The choice follows
Accept-Encoding as RFC 9110 (section 12.5.3) reads it: weights, ``*`` for any coding not named,
``q=0`` for "not this one". Deflate and brotli are not offered: every client that asks for them
also asks for gzip.
"""

import functools
import gzip
import zlib

try:  # the standard library's from Python 3.14, its backport before
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the Python version
    from backports import zstd  # type: ignore[no-redef,unused-ignore]

# Best first: zstd is smaller and cheaper to make than gzip.
CODINGS = ("zstd", "gzip")
_ALIASES = {"x-gzip": "gzip"}
# gzip's header and trailer around the deflate stream (RFC 1952).
_GZIP_WBITS = 31


@functools.lru_cache(maxsize=256)
def chosen(accept_encoding: str) -> str | None:
    """The coding to send for a request's Accept-Encoding, None for the bytes as they are."""
    weights = _weights(accept_encoding)
    wildcard = weights.get("*", 0.0)
    for coding in CODINGS:
        if weights.get(coding, wildcard) > 0:
            return coding
    return None


def encode(body: bytes, coding: str) -> bytes:
    """``body`` in ``coding`` (one of ``CODINGS``); deterministic, so every process makes the
    same bytes."""
    if coding == "zstd":
        # Level 1: on project pages smaller than level 6 and several times cheaper to make,
        # and a cold page's client waits for it (docs/performance.md, "Pages on the wire").
        return zstd.compress(body, level=1)
    return gzip.compress(body, compresslevel=6, mtime=0)


def gunzipped(data: bytes, limit: int) -> bytes | None:
    """The bytes gzip ``data`` holds, or None when it is not one whole gzip member of at most
    ``limit`` bytes (a stored copy is checked before it is trusted: it may be damaged, or a
    bomb)."""
    decoder = zlib.decompressobj(wbits=_GZIP_WBITS)
    try:
        body = decoder.decompress(data, limit + 1)
    except zlib.error:
        return None
    if len(body) > limit or not decoder.eof or decoder.unused_data:
        return None
    return body


def packed(body: bytes) -> bytes:
    """``body`` compressed for storage in the database: quick to make (a client's first look
    waits for it) and to read again."""
    return zstd.compress(body, level=1)


def unpacked(data: bytes) -> bytes:
    """The bytes ``packed`` was given."""
    return zstd.decompress(data)


def _weights(header: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in header.split(","):
        name, _, params = item.partition(";")
        coding = name.strip().lower()
        if coding:
            coding = _ALIASES.get(coding, coding)
            weights[coding] = max(weights.get(coding, 0.0), _weight(params))
    return weights


def _weight(params: str) -> float:
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                weight = float(value.strip())
            except ValueError:
                return 0.0
            return weight if 0.0 <= weight <= 1.0 else 0.0
    return 1.0
