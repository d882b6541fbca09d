"""PEP 792 status markers on upstream pages: read from JSON and HTML, and a hostile marker or
reason costs only itself (docs/admission.md, "Project status")."""

import json
from datetime import UTC, datetime
from html import escape
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mirror.simple_api import ProjectStatus, Status
from mirror.upstream.listing import JSON_TYPE, Listing, parse_page

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PAGE = "http://upstream.test/simple/demo/"
GOOD = {
    "filename": "demo-1.0.tar.gz",
    "url": "../../f/demo-1.0.tar.gz",
    "hashes": {"sha256": "a" * 64},
    "upload-time": "2026-01-02T03:04:05Z",
}
ANCHOR = '<a href="../../f/demo-1.0.tar.gz#sha256=' + "a" * 64 + '">demo-1.0.tar.gz</a>'
# Anything JSON can hold where the PEP puts a status marker or its reason.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


def json_listing(status: Any) -> Listing:
    document = {"meta": {"api-version": "1.4"}, "name": "demo", "files": [GOOD]}
    if status is not None:
        document["project-status"] = status
    return parse_page("demo", json.dumps(document).encode(), JSON_TYPE, PAGE, NOW)


def html_listing(head: str) -> Listing:
    body = f"<!DOCTYPE html><html><head>{head}</head><body>{ANCHOR}</body></html>"
    return parse_page("demo", body.encode(), "text/html", PAGE, NOW)


def meta(name: str, content: str) -> str:
    return f'<meta name="{name}" content="{escape(content)}">'


@pytest.mark.parametrize("marker", ["active", "archived", "quarantined", "deprecated"])
def test_each_marker_is_read_from_json_and_html(marker: str) -> None:
    expected = ProjectStatus(Status(marker), "the project is haunted")
    assert json_listing({"status": marker, "reason": "the project is haunted"}).status == expected
    head = meta("pypi:project-status", marker) + meta(
        "pypi:project-status-reason", "the project is haunted"
    )
    assert html_listing(head).status == expected


def test_a_page_without_a_marker_is_active() -> None:
    assert json_listing(None).status == ProjectStatus(Status.ACTIVE)
    assert html_listing(meta("pypi:repository-version", "1.3")).status == ProjectStatus()


def test_an_unknown_marker_is_noted_and_counts_as_unsaid() -> None:
    listing = json_listing({"status": "haunted"})
    assert listing.status == ProjectStatus() and [f.filename for f in listing.files] == [
        "demo-1.0.tar.gz"
    ]
    assert listing.skipped == ["project-status 'haunted': not a known status marker"]


def test_the_first_of_repeated_html_markers_stands() -> None:
    head = meta("pypi:project-status", "quarantined") + meta("pypi:project-status", "active")
    assert html_listing(head).status.status == Status.QUARANTINED


def test_a_reason_is_bounded_and_has_no_nul() -> None:
    listing = json_listing({"status": "archived", "reason": "x\x00" * 5000})
    assert listing.status.reason is not None
    assert len(listing.status.reason) <= 1000 and "\x00" not in listing.status.reason


@given(status=JSON_VALUES)
def test_any_json_status_value_costs_at_most_the_marker(status: Any) -> None:
    listing = json_listing(status)
    assert [f.filename for f in listing.files] == ["demo-1.0.tar.gz"]
    assert isinstance(listing.status.status, Status)
    assert listing.status.reason is None or isinstance(listing.status.reason, str)


@given(marker=JSON_VALUES, reason=JSON_VALUES)
def test_any_json_marker_and_reason_cost_at_most_the_marker(marker: Any, reason: Any) -> None:
    listing = json_listing({"status": marker, "reason": reason})
    assert [f.filename for f in listing.files] == ["demo-1.0.tar.gz"]
    known = isinstance(marker, str) and marker.strip().lower() in {s.value for s in Status}
    assert (
        (listing.status.status.value == marker.strip().lower())
        if known
        else (listing.status == ProjectStatus())
    )
    if listing.status.reason is not None:
        assert len(listing.status.reason) <= 1000 and "\x00" not in listing.status.reason


@given(marker=st.text(), reason=st.text(), raw=st.text())
def test_any_html_meta_content_costs_at_most_the_marker(marker: str, reason: str, raw: str) -> None:
    head = meta("pypi:project-status", marker) + meta("pypi:project-status-reason", reason) + raw
    listing = html_listing(head)
    assert isinstance(listing.status.status, Status)
    if listing.status.reason is not None:
        assert len(listing.status.reason) <= 1000 and "\x00" not in listing.status.reason
