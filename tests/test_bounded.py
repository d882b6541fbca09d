"""Reading up to a byte limit: the last byte allowed passes, the one after it fails."""

import io

import pytest

from mirror.bounded import bounded_chunks, read_at_most


class TooLarge(Exception):
    pass


def test_chunks_up_to_the_limit_pass_and_the_one_past_it_fails() -> None:
    assert b"".join(bounded_chunks([b"ab", b"cd"], 4, TooLarge)) == b"abcd"
    passed: list[bytes] = []
    with pytest.raises(TooLarge):
        passed.extend(bounded_chunks([b"ab", b"cd", b"e"], 4, TooLarge))
    assert passed == [b"ab", b"cd"]


def test_read_at_most_tells_a_stream_over_the_limit() -> None:
    assert read_at_most(io.BytesIO(b"abcd"), 4) == b"abcd"
    assert read_at_most(io.BytesIO(b"abcde"), 4) is None
