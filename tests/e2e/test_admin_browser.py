"""A real headless Chromium against a running mirror: a reviewer signs in, approves a held
release, blocks another, and sees both on /simple/; upstream-supplied HTML stays inert text."""

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from mirror.db.engine import make_engine
from mirror.db.schema import files
from tests.support import osv
from tests.support.fake_upstream import FakeUpstream
from tests.support.running_mirror import RunningMirror

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OLD = datetime.now(UTC) - timedelta(days=30)
FRESH = datetime.now(UTC) - timedelta(hours=2)
SCRIPT = "<script>window.__pwned=1</script>"
IMG = '"><img src=x onerror="window.__pwned=2;alert(2)">'
PAYLOAD = SCRIPT + IMG


@pytest.fixture
def mirror(start_mirror, fake_upstream: FakeUpstream, tmp_path: Path) -> RunningMirror:  # type: ignore[no-untyped-def]
    build = tmp_path / "build"
    fake_upstream.publish_release("held-pkg", "1.0", tmpdir=build, upload_time=FRESH)
    fake_upstream.publish_release("bad-pkg", "1.0", tmpdir=build, upload_time=OLD)
    fake_upstream.publish_release(
        "xss-pkg", "1.0", tmpdir=build, upload_time=FRESH, requires_python=">=3" + PAYLOAD
    )
    fake_upstream.yank("xss-pkg", "xss_pkg-1.0-py3-none-any.whl", PAYLOAD)
    # Not a valid distribution filename: the listing parser must drop it, never show it.
    wheel = fake_upstream.get_file("xss-pkg", "xss_pkg-1.0-py3-none-any.whl").content
    fake_upstream.add_file(
        "xss-pkg", wheel, filename=f"xss_pkg-1.0-{SCRIPT}.whl", upload_time=FRESH
    )
    running = start_mirror()
    for project in ("held-pkg", "bad-pkg", "xss-pkg"):
        assert running.get(f"/simple/{project}/").status == 200
    # Evidence is upstream-supplied too (attestation identities, entry point names...).
    engine = make_engine(f"sqlite:///{running.data_dir / 'mirror.db'}")
    with engine.begin() as conn:
        conn.execute(
            update(files)
            .where(files.c.filename == "xss_pkg-1.0-py3-none-any.whl")
            .values(evidence={"provenance": {"publisher": {"repository": PAYLOAD}}})
        )
    engine.dispose()
    # Hostile text from elsewhere: an advisory feed and a client's User-Agent.
    advisory = osv.vulnerability("PYSEC-X", "xss-pkg", introduced="0", fixed="2")
    advisory["summary"] = PAYLOAD
    running.cli("advisories", "import", str(osv.write_json(tmp_path / "x.json", advisory)))
    pulled = running.get(
        "/packages/bad-pkg/bad_pkg-1.0-py3-none-any.whl", headers={"User-Agent": PAYLOAD}
    )
    assert pulled.status == 200
    return running


def review_token(mirror: RunningMirror) -> str:
    out = mirror.cli("token", "create", "--scope", "review", "--name", "alice").stdout
    return re.search(r"^token: (\S+)$", out, re.M).group(1)  # type: ignore[union-attr]


def test_reviewer_approves_and_blocks_in_a_real_browser(browser, mirror: RunningMirror) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(mirror.url + "/admin/")
    assert page.url.endswith("/admin/sign-in")
    page.fill("#token", review_token(mirror))
    page.click("button:has-text('Sign in')")
    assert page.url.endswith("/admin/")
    queue = page.inner_text("main")
    assert "held-pkg" in queue and "awaiting review" not in queue and "left" in queue

    page.click("text=held-pkg")
    page.fill("#approve-reason", "diff reviewed by alice")
    page.click("button:has-text('Approve')")
    assert "Approved: the release is admitted" in page.inner_text("main")
    page.goto(mirror.url + "/simple/held-pkg/")
    assert "held_pkg-1.0-py3-none-any.whl" in page.inner_text("body")

    page.goto(mirror.url + "/admin/projects/bad-pkg/releases/1.0")
    page.fill("#block-reason", "maintainer account taken over " + PAYLOAD)
    page.click("button:has-text('Block')")
    assert "Blocked: matching files are refused" in page.inner_text("main")
    page.goto(mirror.url + "/simple/bad-pkg/")
    assert "bad_pkg-1.0" not in page.content()

    page.goto(mirror.url + "/admin/blocks")
    assert "maintainer account taken over " + PAYLOAD in page.inner_text("main")
    page.goto(mirror.url + "/admin/events")
    events = page.inner_text("main")
    assert "approved: diff reviewed by alice" in events
    assert re.search(r"alice \(token [0-9a-f]{12}\)", events)
    assert dialogs == []
    assert page.evaluate("window.__pwned") is None


def test_upstream_html_is_inert_text_on_every_page(
    browser, mirror: RunningMirror, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(mirror.url + "/admin/sign-in")
    page.fill("#token", review_token(mirror))
    page.click("button:has-text('Sign in')")
    release = "/admin/projects/xss-pkg/releases/1.0"
    pulled = "/admin/projects/bad-pkg/releases/1.0"
    deadline = time.monotonic() + 20  # the download audit writes in batches, every second
    page.goto(mirror.url + pulled)
    while PAYLOAD not in page.inner_text("main"):  # the User-Agent, in "Who pulled this"
        assert time.monotonic() < deadline, "download not recorded"
        time.sleep(0.2)
        page.goto(mirror.url + pulled)
    pages = (
        "/admin/",
        release,
        pulled,
        "/admin/events",
        "/admin/advisories",
        "/simple/xss-pkg/",
        "/simple/",
    )
    for path in pages:
        page.goto(mirror.url + path)
        assert page.evaluate("window.__pwned") is None, path
        assert page.locator("img[src='x']").count() == 0, path
        assert page.locator("body script").count() == 0, path
    page.goto(mirror.url + release)
    shown = page.inner_text("main")
    folded = page.locator("details.files").text_content() or ""
    assert "yes: " + PAYLOAD in folded  # the yank reason, as text
    assert ">=3" + PAYLOAD in folded  # requires-python
    evidence = page.locator("details.files").text_content() or ""
    assert "repository=" + PAYLOAD in evidence  # the evidence, folded, as text
    assert "xss_pkg-1.0-<script>" not in shown
    assert PAYLOAD in shown[shown.index("Advisories") :]  # the advisory summary
    assert dialogs == []
