"""Reading hostile streams up to a byte limit, never trusting a size they declare: the one
loop the upstream client, the advisory reader and the pipeline's API client share."""

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol


class Readable(Protocol):
    def read(self, amount: int, /) -> bytes: ...


def bounded_chunks(
    chunks: Iterable[bytes], limit: int, too_large: Callable[[], Exception]
) -> Iterator[bytes]:
    """The chunks, until they add up to more than ``limit`` bytes: then ``too_large()`` is
    raised, before the chunk that crossed the limit is handed on."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise too_large()
        yield chunk


def read_at_most(stream: Readable, limit: int) -> bytes | None:
    """The stream's bytes, or None when it has more than ``limit``: one byte past the limit is
    read to tell."""
    data = stream.read(limit + 1)
    return None if len(data) > limit else data
