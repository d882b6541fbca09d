"""Screenshots of the review UI for docs/review.md, taken from a real mirror in headless Chromium.

    python -m tests.support.screenshots [--out docs/images]

Starts the fake upstream with the releases of ``tests.support.review_workspace`` and a
`mirror serve` on them (in a temporary directory, removed after), signs in with an admin
token, decides a few releases so the audit log has people's decisions, and writes one PNG per
page in a 1400x1000 window. Each PNG is optimised when ``oxipng`` or ``optipng`` is on PATH.
Needs /usr/bin/chromium and the test requirements (requirements/test.txt).
"""

import argparse
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support import review_workspace as ws
from tests.support.browser import chromium
from tests.support.fake_upstream import FakeUpstream
from tests.support.processes import stop_process
from tests.support.running_mirror import RunningMirror, launch

WINDOW = {"width": 1400, "height": 1000}
OUT = Path(__file__).resolve().parents[2] / "docs" / "images"
_OPTIMISERS = (("oxipng", "-o", "4", "--strip", "safe", "-q"), ("optipng", "-o2", "-quiet"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where the PNGs go")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as work, FakeUpstream() as upstream:
        ws.publish(upstream, Path(work) / "build", datetime.now(UTC))
        mirror = launch(Path(work), upstream.simple_url, policy={"checks_per_sync": 200})
        try:
            mirror.wait_ready()
            for written in take(mirror, args.out):
                print(f"{written}: {written.stat().st_size // 1024} KiB")
        finally:
            stop_process(mirror.process)
    return 0


def take(mirror: RunningMirror, out: Path) -> list[Path]:
    """Prepare the mirror, then photograph each page; the paths written."""
    for project in ws.PROJECTS:
        mirror.cli("sync", project)
    for scope, name in (("read", "ci-deploy"), ("review", "bob")):
        mirror.cli("token", "create", "--scope", scope, "--name", name)
    made = mirror.cli("token", "create", "--scope", "admin", "--name", "alice").stdout
    secret = re.search(r"^token: (\S+)$", made, re.M).group(1)  # type: ignore[union-attr]
    shots: list[tuple[str, Callable[[Any], None]]] = [
        ("review-queue.png", lambda page: page.goto(mirror.url + "/admin/")),
        ("review-release.png", lambda page: _release(page, mirror)),
        ("review-diff.png", lambda page: _diff(page, mirror)),
        ("review-audit-log.png", lambda page: _audit_log(page, mirror)),
        ("review-tokens.png", lambda page: page.goto(mirror.url + "/admin/tokens")),
    ]
    written = []
    with chromium() as browser:
        page = browser.new_page(viewport=WINDOW)
        page.goto(mirror.url + "/admin/sign-in")
        page.fill("#token", secret)
        page.click("button:has-text('Sign in')")
        for filename, show in shots:
            show(page)
            path = out / filename
            page.screenshot(path=str(path))
            _optimise(path)
            written.append(path)
    return written


def _release(page: Any, mirror: RunningMirror) -> None:
    page.goto(mirror.url + f"/admin/projects/{ws.BIG}/releases/2.0")


def _diff(page: Any, mirror: RunningMirror) -> None:
    page.goto(mirror.url + f"/admin/projects/{ws.DIFF}/releases/2.0")
    page.locator("details.family summary").first.click()
    page.evaluate("document.getElementById('diff').scrollIntoView()")


def _audit_log(page: Any, mirror: RunningMirror) -> None:
    """Decide in bulk first, so the log shows people's decisions."""
    page.goto(mirror.url + "/admin/?project=[ag]*")
    for box in page.locator("table.queue input[type=checkbox]").all():
        box.check()
    page.fill("#bulk-reason", "changelog and diff reviewed")
    page.click("button:has-text('Approve selected')")
    page.goto(mirror.url + "/admin/?project=beta-pkg")
    page.check("table.queue input[type=checkbox]")
    page.fill("#bulk-reason", "typosquat of a popular name")
    page.click("button:has-text('Block selected')")
    page.goto(mirror.url + "/admin/events")


def _optimise(path: Path) -> None:
    for command in _OPTIMISERS:
        if shutil.which(command[0]):
            subprocess.run([*command, str(path)], check=True, timeout=120)
            return


if __name__ == "__main__":
    raise SystemExit(main())
