"""One hostile entry on an upstream page costs only that entry: implausible upload times and
filenames listed twice are skipped, the project's good entries are served, and nothing a page
lists makes a first look or a scheduler cycle fail."""

import itertools
import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirror.db import file_rows, project_rows
from mirror.scheduler import run_cycle
from mirror.services import review
from mirror.services.backends import Backends
from mirror.upstream.listing import JSON_TYPE, parse_page
from tests.support.fake_upstream import FakeUpstream

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OLD = datetime.now(UTC) - timedelta(days=30)
SHA = "a" * 64
PAGE = "http://upstream.test/simple/demo/"
JSON_ACCEPT = {"Accept": JSON_TYPE}
GOOD = "demo-1.0.tar.gz"
# Upload times that raised OverflowError (at the end and the start of the calendar) or that
# no index could have recorded.
IMPLAUSIBLE_TIMES = [
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00Z",
    "2004-12-31T23:59:59Z",
    "2026-03-02T12:00:01Z",  # more than a day after NOW
]


def entry(filename: str = GOOD, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "filename": filename,
        "url": f"../../f/{filename}",
        "hashes": {"sha256": SHA},
        "upload-time": "2026-01-02T03:04:05Z",
    }
    base.update(fields)
    return base


def json_page(*files: dict[str, object]) -> bytes:
    return json.dumps({"meta": {"api-version": "1.3"}, "name": "demo", "files": files}).encode()


@pytest.mark.parametrize("when", IMPLAUSIBLE_TIMES)
def test_an_implausible_upload_time_skips_only_its_entry(when: str) -> None:
    hostile = entry("demo-2.0.tar.gz", **{"upload-time": when})
    listing = parse_page("demo", json_page(hostile, entry()), JSON_TYPE, PAGE, NOW)
    assert [f.filename for f in listing.files] == [GOOD]
    (reason,) = listing.skipped
    assert reason.startswith("demo-2.0.tar.gz: ") and "upload-time" in reason


def test_upload_times_within_the_window_are_kept_in_utc() -> None:
    early, skewed = "2005-01-01T00:30:00+00:30", "2026-03-02T11:59:59Z"
    listing = parse_page(
        "demo",
        json_page(
            entry(**{"upload-time": early}), entry("demo-2.0.tar.gz", **{"upload-time": skewed})
        ),
        JSON_TYPE,
        PAGE,
        NOW,
    )
    assert [f.upload_time for f in listing.files] == [
        datetime(2005, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 2, 11, 59, 59, tzinfo=UTC),
    ]
    assert all(f.upload_time and f.upload_time.tzinfo is UTC for f in listing.files)


def test_a_filename_listed_twice_keeps_its_first_valid_entry() -> None:
    body = json_page(
        entry(hashes={"sha256": "zz"}),  # invalid: does not count as the first listing
        entry(),
        entry(hashes={"sha256": "b" * 64}),
        entry("demo-2.0.tar.gz"),
    )
    listing = parse_page("demo", body, JSON_TYPE, PAGE, NOW)
    assert [(f.filename, f.sha256) for f in listing.files] == [
        (GOOD, SHA),
        ("demo-2.0.tar.gz", SHA),
    ]
    assert listing.skipped[1] == f"{GOOD}: listed more than once"


def test_a_filename_listed_twice_on_an_html_page_keeps_its_first_entry() -> None:
    anchor = '<a href="https://files.test/{0}#sha256={1}">{0}</a>'
    body = "".join(anchor.format(GOOD, digest) for digest in (SHA, "b" * 64)).encode()
    listing = parse_page("demo", body, "text/html", PAGE, NOW)
    assert [(f.filename, f.sha256) for f in listing.files] == [(GOOD, SHA)]
    assert listing.skipped == [f"{GOOD}: listed more than once"]


# -- through the mirror: a first look and a cycle with the fake upstream --------------------

_projects = itertools.count()


def upstream_page(fake_upstream: FakeUpstream, project: str, accept: str) -> bytes:
    request = urllib.request.Request(fake_upstream.project_url(project), headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        body: bytes = response.read()
    return body


def with_hostile_json(page: bytes, hostile: list[dict[str, Any]]) -> bytes:
    document = json.loads(page)
    document["files"] = (
        hostile[: len(hostile) // 2] + document["files"] + hostile[len(hostile) // 2 :]
    )
    return json.dumps(document).encode()


def with_hostile_html(page: bytes, hostile: list[dict[str, Any]]) -> bytes:
    anchors = "".join(_anchor(h) for h in hostile)
    return page.replace(b"</body>", anchors.encode() + b"</body>")


def _anchor(hostile: dict[str, Any]) -> str:
    digest = (
        hostile.get("hashes", {}).get("sha256") if isinstance(hostile.get("hashes"), dict) else None
    )
    href = f"{hostile.get('url')}#sha256={digest}"
    return f'<a href="{escape(str(href))}">{escape(str(hostile.get("filename")))}</a>'


def assert_kept(
    backends: Backends, client: FlaskClient, project: str, good: str, html: bool
) -> None:
    """The first look answers and records the good file; from a JSON page (upload times) it is
    served too, a PEP 503 page gives none, so there it waits for review (missing_upload_time)."""
    on_page = files_on_page(client, project)
    assert good in recorded_files(backends, project)
    assert html or good in on_page


def recorded_files(backends: Backends, project: str) -> list[str]:
    with backends.engine.connect() as conn:
        row = project_rows.get_project(conn, project)
        assert row is not None
        return [f.filename for f in file_rows.project_files(conn, row.id)]


def files_on_page(client: FlaskClient, project: str) -> list[str]:
    response = client.get(f"/simple/{project}/", headers=JSON_ACCEPT)
    assert response.status_code == 200, response.data
    return [f["filename"] for f in response.get_json()["files"]]


def published_project(fake_upstream: FakeUpstream, project: str) -> str:
    """A project with one good old file upstream; its filename."""
    filename = f"{project}-1.0.tar.gz"
    fake_upstream.add_file(
        project, b"sdist bytes " + project.encode(), filename=filename, upload_time=OLD
    )
    return filename


@pytest.mark.parametrize("when", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00"])
def test_a_first_look_serves_the_good_entries_beside_an_implausible_upload_time(
    client: FlaskClient, fake_upstream: FakeUpstream, when: str
) -> None:
    good = published_project(fake_upstream, "demo")
    page = upstream_page(fake_upstream, "demo", JSON_TYPE)
    hostile = [
        dict(json.loads(page)["files"][0], filename="demo-2.0.tar.gz", **{"upload-time": when})
    ]
    fake_upstream.garbage_page("demo", with_hostile_json(page, hostile), content_type=JSON_TYPE)
    assert files_on_page(client, "demo") == [good]


@pytest.mark.parametrize("content_type", [JSON_TYPE, "text/html"])
def test_a_first_look_serves_a_file_listed_twice(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, content_type: str
) -> None:
    good = published_project(fake_upstream, "demo")
    page = upstream_page(fake_upstream, "demo", content_type)
    twice = (
        with_hostile_json(page, json.loads(page)["files"])
        if content_type == JSON_TYPE
        else re.sub(rb"(<a .*?</a>)", rb"\1\1", page)
    )
    fake_upstream.garbage_page("demo", twice, content_type=content_type)
    assert_kept(backends, client, "demo", good, html=content_type != JSON_TYPE)
    assert recorded_files(backends, "demo") == [good]


def test_a_cycle_skips_an_implausible_upload_time_on_a_known_project(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream
) -> None:
    good = published_project(fake_upstream, "demo")
    assert files_on_page(client, "demo") == [good]
    page = upstream_page(fake_upstream, "demo", JSON_TYPE)
    hostile = [
        dict(
            json.loads(page)["files"][0],
            filename="demo-2.0.tar.gz",
            **{"upload-time": "9999-12-31T23:59:59Z"},
        )
    ]
    fake_upstream.garbage_page("demo", with_hostile_json(page, hostile), content_type=JSON_TYPE)
    for report in (run_cycle(backends, ["demo"]), run_cycle(backends)):  # re-read, then release
        assert report.failed == {} and report.tuf_error is None
    assert recorded_files(backends, "demo") == [good]
    assert files_on_page(client, "demo") == [good]


# -- generated hostile listings --------------------------------------------------------------

_odd_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=900, max_size=1200),
    st.sampled_from(["", "\x00", "../../etc/passwd", "demo-1.0.tar.gz\n<script>", "\u017f" * 5]),
)
_times = st.one_of(
    st.none(),
    st.sampled_from([*IMPLAUSIBLE_TIMES, "yesterday", "", "2026-13-01T00:00:00Z", "+275760-09-13"]),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.integers(),
    _odd_text,
)
_hashes = st.one_of(
    st.just({"sha256": SHA}),
    st.dictionaries(
        st.sampled_from(["sha256", "md5", "SHA256"]), st.one_of(_odd_text, st.integers())
    ),
    st.none(),
    _odd_text,
)
_urls = st.one_of(
    st.sampled_from(
        [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "http://[::1/x.tar.gz",
            "http://\u00e9xample\uff0f.test/x",
            "//other.test/x.tar.gz",
            "http://upstream.test/\x00",
        ]
    ),
    _odd_text,
    st.integers(),
)


def _hostile_entries(project: str, good: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    names = st.one_of(
        st.just(good),  # the good file listed again, differently
        st.sampled_from([f"{project}-2.0.tar.gz", f"{project}-3.0-py3-none-any.whl"]),
        _odd_text,
        st.integers(),
    )
    hostile_entry = st.fixed_dictionaries(
        {"filename": names, "url": _urls, "hashes": _hashes},
        optional={
            "upload-time": _times,
            "size": st.one_of(st.integers(), _odd_text, st.booleans()),
            "yanked": st.one_of(st.booleans(), _odd_text, st.integers()),
            "requires-python": st.one_of(_odd_text, st.integers()),
            "core-metadata": st.one_of(st.booleans(), _hashes),
            "provenance": st.one_of(_odd_text, _urls),
        },
    )
    return st.lists(hostile_entry, max_size=6)


@pytest.mark.parametrize("content_type", [JSON_TYPE, "text/html"])
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_generated_hostile_listings_never_fail_a_first_look_nor_hide_a_good_entry(
    backends: Backends,
    client: FlaskClient,
    fake_upstream: FakeUpstream,
    content_type: str,
    data: st.DataObject,
) -> None:
    project = f"hostile{next(_projects)}"
    good = published_project(fake_upstream, project)
    page = upstream_page(fake_upstream, project, content_type)
    hostile = data.draw(_hostile_entries(project, good))
    # The good entry comes first: a later copy of its name must not displace it.
    body = (
        json.dumps(dict(json.loads(page), files=json.loads(page)["files"] + hostile)).encode()
        if content_type == JSON_TYPE
        else with_hostile_html(page, hostile)
    )
    fake_upstream.garbage_page(project, body, content_type=content_type)
    assert_kept(backends, client, project, good, html=content_type != JSON_TYPE)


# A JSON page may escape a lone surrogate (\ud800), which decodes to a str no database, page
# or listing can encode as UTF-8: the entry must go, not the whole first look.
LONE_SURROGATE_FIELDS = [
    {"filename": "demo-2.0\ud800.tar.gz"},
    {"requires-python": ">=3\udc00"},
    {"yanked": "stolen \ud800"},
    {"provenance": "https://upstream.test/p\udfff"},
    {"url": "../../f/demo-2.0.tar.gz\ud800"},
]


@pytest.mark.parametrize("fields", LONE_SURROGATE_FIELDS)
def test_a_lone_surrogate_skips_only_its_entry(fields: dict[str, object]) -> None:
    hostile = entry("demo-2.0.tar.gz") | fields
    listing = parse_page("demo", json_page(entry(), hostile), JSON_TYPE, PAGE, NOW)
    assert [f.filename for f in listing.files] == [GOOD]
    assert len(listing.skipped) == 1 and "not UTF-8 text" in listing.skipped[0]


def test_a_lone_surrogate_in_the_status_reason_drops_only_the_reason() -> None:
    document = json.loads(json_page(entry()))
    document["project-status"] = {"status": "deprecated", "reason": "gone \ud800"}
    listing = parse_page("demo", json.dumps(document).encode(), JSON_TYPE, PAGE, NOW)
    assert [f.filename for f in listing.files] == [GOOD]
    assert listing.status.status == "deprecated" and listing.status.reason is None


def test_a_first_look_serves_the_good_entries_beside_a_lone_surrogate(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream
) -> None:
    good = published_project(fake_upstream, "demo")
    page = upstream_page(fake_upstream, "demo", JSON_TYPE)
    first = json.loads(page)["files"][0]
    hostile = [dict(first, filename="demo-2.0.tar.gz", **{"requires-python": ">=3\ud800"})]
    fake_upstream.garbage_page("demo", with_hostile_json(page, hostile), content_type=JSON_TYPE)
    assert files_on_page(client, "demo") == [good]


# The largest size the state database stores (files.size, a signed 64-bit integer).
LARGEST_SIZE = 2**63 - 1


def test_a_size_the_database_cannot_store_skips_only_its_entry() -> None:
    stored, hostile = entry(size=LARGEST_SIZE), entry("demo-2.0.tar.gz", size=LARGEST_SIZE + 1)
    listing = parse_page("demo", json_page(stored, hostile), JSON_TYPE, PAGE, NOW)
    assert [(f.filename, f.size) for f in listing.files] == [(GOOD, LARGEST_SIZE)]
    assert listing.skipped == ["demo-2.0.tar.gz: invalid size"]


@pytest.mark.parametrize("uploaded", ["2026-01-02T03:04:05Z", "now"])
def test_a_first_look_serves_and_blocks_beside_a_size_the_database_cannot_store(
    backends: Backends, client: FlaskClient, fake_upstream: FakeUpstream, uploaded: str
) -> None:
    """A young file gets its row at the first look, a history file when something happens to
    it (a block): neither may fail the project's first look, nor a person's block."""
    good = published_project(fake_upstream, "demo")
    page = upstream_page(fake_upstream, "demo", JSON_TYPE)
    first = json.loads(page)["files"][0]
    upload_time = datetime.now(UTC).isoformat() if uploaded == "now" else uploaded
    hostile = [dict(first, filename="demo-2.0.tar.gz", size=2**70, **{"upload-time": upload_time})]
    fake_upstream.garbage_page("demo", with_hostile_json(page, hostile), content_type=JSON_TYPE)
    assert files_on_page(client, "demo") == [good]
    review.block(backends, "demo", "", actor="alice", reason="an incident")
    with backends.engine.connect() as conn:
        row = file_rows.file_by_name(conn, "demo", good)
        assert row is not None and row.state == "blocked"
    assert recorded_files(backends, "demo") == [good]
