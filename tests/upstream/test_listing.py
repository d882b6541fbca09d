import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mirror.errors import UpstreamError
from mirror.simple_api import JSON_TYPE
from mirror.upstream.listing import Listing, UpstreamFile, parse_page

SHA = "a" * 64
PAGE = "http://upstream.test/simple/demo/"
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def json_page(*files: dict[str, object]) -> bytes:
    document = {"meta": {"api-version": "1.3"}, "name": "demo", "files": list(files)}
    return json.dumps(document).encode()


def entry(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "filename": "demo-1.0-py3-none-any.whl",
        "url": "../../f/demo.whl",
        "hashes": {"sha256": SHA},
        "upload-time": "2026-01-02T03:04:05Z",
    }
    base.update(kw)
    return base


def test_json_entries_resolve_relative_urls_and_fields() -> None:
    listing = parse_page(
        "demo",
        json_page(
            entry(
                size=10,
                yanked="broken",
                **{
                    "core-metadata": {"sha256": SHA},
                    "requires-python": ">=3.9",
                    "provenance": "/integrity/x",
                },
            )
        ),
        JSON_TYPE,
        PAGE,
        NOW,
    )
    (f,) = listing.files
    assert f.url == "http://upstream.test/f/demo.whl"
    assert (f.version, f.size, f.yanked, f.yanked_reason) == ("1.0", 10, True, "broken")
    assert f.metadata_sha256 == SHA
    assert f.requires_python == ">=3.9"
    assert f.provenance_url == "http://upstream.test/integrity/x"
    assert f.upload_time is not None and f.upload_time.year == 2026


def test_html_fallback_reads_pep503_attributes() -> None:
    body = (
        f'<html><body><a href="https://files.test/demo-1.0.tar.gz#sha256={SHA}" '
        'data-requires-python="&gt;=3.8" data-yanked="" '
        f'data-dist-info-metadata="sha256={SHA}">demo-1.0.tar.gz</a></body></html>'
    ).encode()
    (f,) = parse_page("demo", body, "text/html", PAGE, NOW).files
    assert f.filename == "demo-1.0.tar.gz"
    assert f.requires_python == ">=3.8"
    assert f.yanked and f.yanked_reason is None
    assert f.upload_time is None


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ({"filename": "other-1.0-py3-none-any.whl"}, "not a distribution of demo"),
        ({"filename": "../../etc/passwd"}, "not a distribution"),
        ({"filename": "demo-1.0-py3-none-any.whl\n<script>"}, "not a distribution"),
        ({"hashes": {"sha256": "zz"}}, "no valid sha256"),
        ({"hashes": {"md5": SHA}}, "no valid sha256"),
        ({"hashes": {"sha256": SHA + "\n"}}, "no valid sha256"),  # "$" matches before "\n"
        ({"url": "file:///etc/passwd"}, "not http(s)"),
        ({"url": "javascript:alert(1)"}, "not http(s)"),
        ({"size": -1}, "invalid size"),
        ({"size": "10"}, "invalid size"),
        ({"upload-time": "yesterday"}, "invalid upload-time"),
        ({"filename": 7}, "invalid filename"),
        # Longer than the state database stores (PostgreSQL enforces what SQLite does not).
        ({"filename": f"demo-1.{'0.' * 60}0-py3-none-any.whl"}, "version longer than 100"),
        ({"requires-python": ">=3.8," * 90}, "requires-python longer than 500"),
        ({"url": "http://upstream.test/\x00.whl"}, "invalid url"),
        ({"url": "http://[::1/demo-1.0-py3-none-any.whl"}, "invalid file URL"),
        ({"url": "http://upstream.test]/demo-1.0-py3-none-any.whl"}, "invalid file URL"),
        ({"url": "http://\u00e9xample\uff0f.test/demo-1.0-py3-none-any.whl"}, "invalid file URL"),
    ],
)
def test_hostile_entries_are_skipped_with_a_reason(bad: dict[str, object], why: str) -> None:
    listing = parse_page(
        "demo", json_page(entry(**bad), entry(filename="demo-2.0.tar.gz")), JSON_TYPE, PAGE, NOW
    )
    assert [f.filename for f in listing.files] == ["demo-2.0.tar.gz"]
    assert why in listing.skipped[0]


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"files": 3}', b"[" * 100000])
def test_malformed_json_pages_are_upstream_errors(body: bytes) -> None:
    with pytest.raises(UpstreamError):
        parse_page("demo", body, JSON_TYPE, PAGE, NOW)


def test_core_metadata_true_without_hash_counts_as_absent() -> None:
    (f,) = parse_page(
        "demo", json_page(entry(**{"core-metadata": True})), JSON_TYPE, PAGE, NOW
    ).files
    assert f.metadata_sha256 is None


# -- exactly as strict as before -----------------------------------------------------------

LISTING_DATA = Path(__file__).parent / "data" / "listing"
HOSTILE_PAGES = {"hostile.json": JSON_TYPE, "hostile.html": "text/html"}


def listing_as_json(listing: Listing) -> str:
    """Everything a parse says, as text: the files' every field, the skipped and the status."""
    files = [
        {
            name: value.isoformat() if isinstance(value, datetime) else value
            for name, value in ((name, getattr(f, name)) for name in UpstreamFile.__match_args__)
        }
        for f in listing.files
    ]
    status = [listing.status.status.value, listing.status.reason]
    said = {"files": files, "skipped": listing.skipped, "status": status}
    return json.dumps(said, indent=1, sort_keys=True) + "\n"


@pytest.mark.parametrize("page", sorted(HOSTILE_PAGES))
def test_hostile_pages_parse_to_what_they_always_did(page: str) -> None:
    """Pages of hundreds of entries, most of them hostile in one field or more: every field
    each good one gives and each reason a bad one was skipped are those the parser gave when
    ``data/listing/`` was written, before it was made faster."""
    body = (LISTING_DATA / page).read_bytes()
    listing = parse_page(
        "demo", body, HOSTILE_PAGES[page], PAGE, datetime(2026, 3, 1, 12, tzinfo=UTC)
    )
    assert listing_as_json(listing) == (LISTING_DATA / f"{page}.parsed").read_text()


def test_an_over_long_provenance_url_counts_as_none_not_as_its_first_characters() -> None:
    # Cut short, it would be another URL, one upstream never named.
    long_url = "/integrity/" + "x" * 1_000
    (f,) = parse_page("demo", json_page(entry(provenance=long_url)), JSON_TYPE, PAGE, NOW).files
    assert f.provenance_url is None
