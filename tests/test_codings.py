"""Accept-Encoding is read as RFC 9110 says: q-values, "*", q=0 refuses; never an error."""

import gzip

from hypothesis import given
from hypothesis import strategies as st

from mirror.codings import chosen, encode
from mirror.codings import zstd as zstd_module

CODING = st.sampled_from(["gzip", "zstd", "br", "deflate", "identity", "*", "GZIP", "x-gzip"])
WEIGHT = st.one_of(
    st.just(""), st.sampled_from([";q=0", ";q=0.0", ";q=1", ";q=0.5", ";Q=0.001", ";q=bad"])
)
ITEM = st.builds(lambda c, w, pad: f"{pad}{c}{w}{pad}", CODING, WEIGHT, st.sampled_from(["", " "]))
HEADER = st.lists(ITEM, max_size=6).map(",".join)


@given(HEADER)
def test_the_choice_is_a_coding_the_header_allows(header: str) -> None:
    coding = chosen(header)
    assert coding in (None, "gzip", "zstd")
    if coding is not None:
        items = [item.strip().lower().replace("x-gzip", "gzip") for item in header.split(",")]
        named = [item for item in items if item.split(";")[0].strip() in (coding, "*")]
        refused = ("q=0", "q=0.0", "q=bad")
        assert named and not all(item.replace(" ", "").endswith(refused) for item in named)


@given(st.text(max_size=200))
def test_any_header_is_read_without_error(header: str) -> None:
    assert chosen(header) in (None, "gzip", "zstd")


@given(st.binary(max_size=4096), st.sampled_from(["gzip", "zstd"]))
def test_encoding_round_trips(body: bytes, coding: str) -> None:
    decode = gzip.decompress if coding == "gzip" else zstd_module.decompress
    assert decode(encode(body, coding)) == body


def test_explicit_refusal_wins_over_the_wildcard() -> None:
    assert chosen("*, zstd;q=0") == "gzip"
    assert chosen("gzip;q=0, *;q=0") is None
    assert chosen("x-gzip") == "gzip"  # RFC 9110: x-gzip is gzip
