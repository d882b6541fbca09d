"""The review workspace in a real headless Chromium against a running mirror: sign in, sort
and filter the queue, approve and block releases in bulk, export the audit log, read a
release's summary and its diff, and manage tokens (docs/review.md). Upstream text stays
inert: a script in a new ``.pth`` is shown as text and never runs."""

import csv
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support import review_workspace as ws
from tests.support.fake_upstream import FakeUpstream
from tests.support.running_mirror import RunningMirror

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WINDOW = {"width": 1400, "height": 1000}


@pytest.fixture
def workspace(start_mirror, fake_upstream: FakeUpstream, tmp_path: Path) -> RunningMirror:  # type: ignore[no-untyped-def]
    ws.publish(fake_upstream, tmp_path / "build", datetime.now(UTC))
    mirror: RunningMirror = start_mirror(policy={"checks_per_sync": 200})
    for project in ws.PROJECTS:
        mirror.cli("sync", project)  # first look, evidence and content inspection
    return mirror


def signed_in(browser: Any, mirror: RunningMirror, scope: str = "admin") -> tuple[Any, list[str]]:
    """A page signed in with a new token of ``scope`` named alice, and the dialogs it met."""
    out = mirror.cli("token", "create", "--scope", scope, "--name", "alice").stdout
    secret = re.search(r"^token: (\S+)$", out, re.M).group(1)  # type: ignore[union-attr]
    page = browser.new_page(viewport=WINDOW, accept_downloads=True)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(mirror.url + "/admin/")
    assert page.url.endswith("/admin/sign-in")
    page.fill("#token", secret)
    page.click("button:has-text('Sign in')")
    assert page.url.endswith("/admin/")
    return page, dialogs


def queue_projects(page: Any) -> list[str]:
    # A click waits for the page it navigates to to start loading, not for its table: read
    # the rows once that page has loaded (under load, reading at once gave no rows).
    page.wait_for_load_state()
    cells = page.locator("table.queue tbody tr td:nth-child(2)").all_inner_texts()
    return [name for name in cells if name in ws.SMALL]


def test_sort_filter_decide_in_bulk_and_export(browser, workspace: RunningMirror) -> None:  # type: ignore[no-untyped-def]
    page, dialogs = signed_in(browser, workspace)
    assert queue_projects(page) == ["alpha-pkg", "gamma-pkg", "beta-pkg"]  # soonest out first
    page.click("th.sort >> text=Uploaded")
    assert queue_projects(page) == ["beta-pkg", "gamma-pkg", "alpha-pkg"]  # newest first
    page.click("th.sort >> text=Project")
    assert queue_projects(page) == ["alpha-pkg", "beta-pkg", "gamma-pkg"]
    assert "UTC" in page.inner_text("table.queue tbody tr")  # the absolute "until"

    page.fill("#project", "[ag]*")
    page.click("button:has-text('Filter')")
    assert queue_projects(page) == ["alpha-pkg", "gamma-pkg"]
    assert page.locator("table.queue tbody tr").count() == 2
    for box in page.locator("table.queue input[type=checkbox]").all():
        box.check()
    page.fill("#bulk-reason", "reviewed the diffs")
    page.click("button:has-text('Approve selected')")
    assert "Approved: the selected releases are admitted." in page.inner_text("main")
    assert "Nothing quarantined for [ag]*" in page.inner_text("main")  # the filter is kept

    page.goto(workspace.url + "/admin/?project=beta-pkg")
    page.check("table.queue input[type=checkbox]")
    page.fill("#bulk-reason", "typosquat of " + ws.PAYLOAD)
    page.click("button:has-text('Block selected')")
    assert "Blocked: the selected releases are refused." in page.inner_text("main")
    page.goto(workspace.url + "/simple/alpha-pkg/")
    assert "alpha_pkg-1.0-py3-none-any.whl" in page.inner_text("body")
    page.goto(workspace.url + "/simple/beta-pkg/")
    assert "beta_pkg-1.0" not in page.content()

    page.goto(workspace.url + "/admin/events")
    events = page.inner_text("main")
    assert "reviewed the diffs" in events and "typosquat of " + ws.PAYLOAD in events
    with page.expect_download() as csv_download:
        page.click("text=Export CSV")
    rows = list(csv.DictReader(io.StringIO(Path(csv_download.value.path()).read_text())))
    approved = {row["project"] for row in rows if row["reason"].endswith(": reviewed the diffs")}
    assert approved == {"alpha-pkg", "gamma-pkg"}
    assert all(row["actor"].startswith("alice (token ") for row in rows)
    with page.expect_download() as json_download:
        page.click("text=Export JSON")
    records = json.loads(Path(json_download.value.path()).read_text())
    assert len(records) == len(rows)
    blocked = [r for r in records if r["project"] == "beta-pkg"]
    assert blocked and blocked[0]["reason"].endswith(": typosquat of " + ws.PAYLOAD)
    assert csv_download.value.suggested_filename == "audit-log.csv"
    assert page.evaluate("window.__pwned") is None and dialogs == []


def test_a_hundred_files_summary_fits_one_screen(browser, workspace: RunningMirror) -> None:  # type: ignore[no-untyped-def]
    page, _dialogs = signed_in(browser, workspace, scope="review")
    page.goto(workspace.url + f"/admin/projects/{ws.BIG}/releases/2.0")
    assert f"Files ({ws.BIG_FILES})" in page.inner_text("details.files summary")
    for block in ("#summary .decision-head", "#summary .evidence"):
        box = page.locator(block).bounding_box()
        assert box is not None and box["y"] + box["height"] <= WINDOW["height"], (block, box)
    counts = page.locator("#summary .evidence table.plain tr td:first-child").all_inner_texts()
    assert sum(int(count) for count in counts) == ws.BIG_FILES
    assert page.locator("#summary .checks li").count() >= 3  # provenance, content, advisories


def test_the_diff_shows_a_new_pth_as_inert_text(browser, workspace: RunningMirror) -> None:  # type: ignore[no-untyped-def]
    page, dialogs = signed_in(browser, workspace, scope="review")
    page.click(f"a:has-text('{ws.DIFF}')")
    assert page.url.endswith(f"/admin/projects/{ws.DIFF}/releases/2.0")
    diff = page.locator("#diff")
    assert "What changed since 1.0" in diff.inner_text()
    assert page.locator("pre.startup-text").inner_text().strip() == ws.PTH_TEXT.strip()
    assert "+ helper-lib>=2" in diff.inner_text()
    family = page.locator("details.family").first
    family.locator("summary").click()
    member = family.locator("tr", has_text="diff_pkg_boot.pth")
    assert member.is_visible() and "added" in member.inner_text()
    assert "diff-run = diff_pkg:main" in family.inner_text()
    assert page.evaluate("window.__pwned") is None and dialogs == []
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("body script").count() == 0


def test_an_admin_creates_and_revokes_a_token(browser, workspace: RunningMirror) -> None:  # type: ignore[no-untyped-def]
    page, dialogs = signed_in(browser, workspace)
    page.click("nav >> text=Tokens")
    page.fill("#token-name", "bob")
    page.select_option("#token-scope", "review")
    page.fill("#token-ttl", "2h")
    page.fill("#token-reason", "new reviewer")
    page.click("button:has-text('Create token')")
    secret = page.inner_text("#new-secret").strip()
    assert secret.startswith("smt_")
    page.goto(workspace.url + "/admin/tokens")
    assert secret not in page.content()  # shown once
    row = page.locator("table.tokens tr", has_text="bob")
    row.locator("input[name=reason]").fill("left the team")
    row.locator("button:has-text('Revoke')").click()
    assert "Revoked: the token stops working" in page.inner_text("main")
    assert "revoked" in page.locator("table.tokens tr", has_text="bob").inner_text()
    page.click("nav >> text=Deliveries")
    assert "No deliveries" in page.inner_text("main")

    reviewer, _ = signed_in(browser, workspace, scope="review")
    assert reviewer.locator("nav >> text=Tokens").count() == 0
    reviewer.goto(workspace.url + "/admin/tokens")
    assert "needs an admin token" in reviewer.inner_text("main")
    assert dialogs == []
