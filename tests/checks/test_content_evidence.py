"""Content evidence stored by an older inspector: never trusted as a verdict or a baseline.

Reports made before paths were normalised and whole contents digested could call a wheel
clean that the inspector now holds, and cannot vouch that a ``.pth`` is unchanged.
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from mirror.app import create_app
from mirror.checks.content import REPORT_VERSION
from mirror.db import file_rows
from mirror.db.schema import files
from mirror.policy.admission import State
from mirror.services import sync
from mirror.services.backends import Backends
from tests.support.fake_upstream import FakeUpstream

OLD = datetime.now(UTC) - timedelta(days=30)
PTH = {"demo_init.pth": "import os\n"}


def old_report(filename: str, pth_names: list[str]) -> dict[str, Any]:
    """A report in the shape stored before version 2: no digests, no version."""
    return {
        "filename": filename,
        "kind": "wheel",
        "pth_files": [{"name": name, "executable_lines": ["import os"]} for name in pth_names],
        "entry_points": {},
        "native_binaries": [],
        "sdist_hooks": [],
        "errors": [],
    }


def store_content(backends: Backends, filename: str, content: dict[str, Any]) -> None:
    row = row_of(backends, filename)
    with backends.engine.begin() as conn:
        conn.execute(
            files.update()
            .where(files.c.id == row.id)
            .values(evidence={**row.evidence, "content": content})
        )


def client_of(backends: Backends) -> FlaskClient:
    return create_app(backends.config, backends).test_client()


def row_of(backends: Backends, filename: str) -> Any:
    with backends.engine.connect() as conn:
        row = file_rows.file_by_name(conn, "demo", filename)
    assert row is not None, filename
    return row


def test_a_candidate_judged_clean_by_older_rules_is_inspected_again(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD)
    evil = {"demo/../demo_evil.pth": "import os; steal()\n"}
    fake_upstream.publish_release("demo", "1.1", tmpdir=tmp_path, upload_time="now", pth=evil)
    backends = make_backends(policy={"quarantine": "7d"})
    # The first look records both files; a page request inspects nothing.
    assert client_of(backends).get("/simple/demo/").status_code == 200
    candidate = "demo-1.1-py3-none-any.whl"
    # What the older inspector stored for this wheel: it did not see the .pth at all.
    store_content(
        backends,
        candidate,
        {"report": old_report(candidate, []), "baseline": None, "flags": [], "inspected_at": ""},
    )

    sync.refresh(backends, "demo", force=True)

    row = row_of(backends, candidate)
    assert row.evidence["content"]["report"]["version"] == REPORT_VERSION
    assert "demo/../demo_evil.pth (installed as demo_evil.pth) runs code" in row.reason
    assert (row.state, row.hold_until) == (State.QUARANTINED, None)


def test_a_baseline_stored_without_digests_is_inspected_again(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    # setuptools' case: the same executable .pth in every release.
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=OLD, pth=PTH)
    backends = make_backends(policy={"quarantine": "0"})
    sync.refresh(backends, "demo", force=True)
    baseline = "demo-1.0-py3-none-any.whl"
    assert row_of(backends, baseline).state == State.ADMITTED
    store_content(backends, baseline, {"report": old_report(baseline, ["demo_init.pth"])})
    fake_upstream.publish_release("demo", "1.1", tmpdir=tmp_path, upload_time="now", pth=PTH)

    sync.refresh(backends, "demo", force=True)

    row = row_of(backends, "demo-1.1-py3-none-any.whl")
    assert row.evidence["content"]["flags"] == []
    assert row.state == State.ADMITTED
    report = row_of(backends, baseline).evidence["content"]["report"]
    assert report["version"] == REPORT_VERSION
    assert report["pth_files"][0]["sha256"] is not None
