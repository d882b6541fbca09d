"""Read a few members of a wheel on the upstream without downloading it (HTTP ranges).

A wheel is a zip: its table of contents sits at the end, and each member can be read alone.
``RemoteFile`` is a read-only file whose reads become range requests, so :mod:`zipfile` reads
just the table and the members asked for, as resolvers do for wheels without PEP 658
metadata. Bytes read this way are not verified against the file's digest (that takes the
whole file): use them as hints, never serve or store them.
"""

from mirror.errors import UpstreamError
from mirror.seekable import OffsetReader
from mirror.upstream.client import UpstreamClient

# The table of contents of a wheel is usually within its last 64 KiB, and a member's header,
# name and data (METADATA is a few KiB) within 64 KiB of its start: a request each.
BLOCK_BYTES = 64 << 10
# The most one request may ask for (the table of contents of a wheel of thousands of files is
# about a MiB) and how many requests one file may take: what a hostile file can cost.
MAX_RANGE_BYTES = 4 << 20
MAX_REQUESTS = 8


class RemoteFile(OffsetReader):
    """A seekable, read-only view of the upstream file ``url`` of ``size`` bytes.

    Reads are served from the file's last block, fetched once, or from the block the last
    request fetched; anything else is a new request for at least a block.
    """

    def __init__(self, upstream: UpstreamClient, url: str, size: int) -> None:
        super().__init__(size)
        self._upstream, self._url = upstream, url
        self._requests = 0
        self._tail_start = max(0, size - BLOCK_BYTES)
        self._tail: bytes | None = None
        self._last: tuple[int, bytes] = (0, b"")

    def read(self, size: int | None = -1) -> bytes:
        # Overridden: io's own read would allocate ``size`` bytes before asking for them, and
        # a hostile table of contents may name gigabytes.
        left = self._size - self._position
        length = left if size is None or size < 0 else min(size, left)
        if length <= 0:
            return b""
        data = self._read(self._position, length)
        self._position += length
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _read(self, start: int, length: int) -> bytes:
        if start >= self._tail_start:
            if self._tail is None:
                self._tail = self._fetch(self._tail_start, self._size - self._tail_start)
            return _slice(self._tail_start, self._tail, start, length)
        block_start, block = self._last
        if not (block_start <= start and start + length <= block_start + len(block)):
            block_start = start
            block = self._fetch(start, min(max(length, BLOCK_BYTES), self._size - start))
            self._last = (block_start, block)
        return _slice(block_start, block, start, length)

    def _fetch(self, start: int, length: int) -> bytes:
        self._requests += 1
        if self._requests > MAX_REQUESTS or length > MAX_RANGE_BYTES:
            raise UpstreamError(f"{self._url}: too much to read by ranges")
        data = self._upstream.fetch_range(self._url, start, length)
        if len(data) != length:
            raise UpstreamError(f"{self._url}: short range ({len(data)} of {length} bytes)")
        return data


def _slice(block_start: int, block: bytes, start: int, length: int) -> bytes:
    offset = start - block_start
    return block[offset : offset + length]
