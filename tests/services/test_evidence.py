"""Provenance and content evidence through the fake upstream: what is admitted, held, rejected.

The attested history is real (shared/fixtures/pep740, verified offline against the trust root
the installed sigstore ships). Only the "different publisher" case stubs the verifier: no one
can sign for a second Trusted Publisher identity here.
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from flask.testing import FlaskClient
from sigstore.errors import TUFError
from sigstore.models import ClientTrustConfig

from mirror.app import create_app
from mirror.checks import provenance
from mirror.checks.provenance import ProvenanceResult
from mirror.db import file_rows, project_rows
from mirror.policy.admission import State
from mirror.scheduler import run_cycle
from mirror.services import evidence, review, sync
from mirror.services.backends import Backends
from mirror.timeutil import Clock
from tests.support.fake_upstream import FakeUpstream
from tests.support.shared_fixtures import fixtures_dir

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
PROJECT = "pypi-attestations"
SDIST = "pypi_attestations-0.0.19.tar.gz"
UPLOADED = datetime(2024, 12, 4, 23, 14, 4, tzinfo=UTC)
IDENTITY = "GitHub:trailofbits/pypi-attestations@release.yml"
OFFLINE = {"offline": True}
TEMPLATE = "{base}/integrity/{project}/{version}/{filename}/provenance"


@pytest.fixture(autouse=True)
def _fresh_verifiers(monkeypatch: pytest.MonkeyPatch) -> None:
    # Verifiers are cached per trust config; a test that breaks the root must not leak.
    monkeypatch.setattr(provenance, "_verifiers", {})


@pytest.fixture
def pep740() -> Path:
    return fixtures_dir("pep740")


def attested(fake: FakeUpstream, pep740: Path, *, dist: Path | None = None) -> None:
    """The real 0.0.19 sdist (or other bytes under its name) with its real provenance."""
    fake.add_file(
        PROJECT,
        (dist or pep740 / SDIST).read_bytes(),
        filename=SDIST,
        upload_time=UPLOADED,
        provenance=(pep740 / f"{SDIST}.provenance.json").read_bytes(),
    )


def row_of(backends: Backends, project: str, filename: str) -> Any:
    with backends.engine.connect() as conn:
        row = file_rows.file_by_name(conn, project, filename)
    assert row is not None, filename
    return row


def page(client: FlaskClient, project: str) -> dict[str, Any]:
    response = client.get(f"/simple/{project}/", headers=JSON)
    assert response.status_code == 200, response.data
    document: dict[str, Any] = json.loads(response.data)
    return document


def client_of(backends: Backends) -> FlaskClient:
    return create_app(backends.config, backends).test_client()


def later(backends: Backends, days: float) -> None:
    backends.clock = Clock(timedelta(days=days))


# --- verification against real attestations ---------------------------------------------


def test_verified_provenance_is_recorded_served_and_linked(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, pep740: Path
) -> None:
    attested(fake_upstream, pep740)
    backends = make_backends(provenance=OFFLINE)
    client = client_of(backends)

    document = page(client, PROJECT)

    assert document["meta"]["api-version"] == "1.4"
    (entry,) = document["files"]
    link = f"../../packages/{PROJECT}/{SDIST}.provenance"
    assert entry["provenance"] == link
    served = client.get(urljoin(f"/simple/{PROJECT}/", link))
    assert served.status_code == 200
    assert served.data == (pep740 / f"{SDIST}.provenance.json").read_bytes()
    assert served.content_type == "application/vnd.pypi.integrity.v1+json"
    html = client.get(f"/simple/{PROJECT}/").data.decode()
    assert f'data-provenance="{link}"' in html
    assert '<meta name="pypi:repository-version" content="1.4">' in html
    record = row_of(backends, PROJECT, SDIST).evidence["provenance"]
    assert record["status"] == "verified"
    assert record["identity"] == IDENTITY
    assert record["publisher"]["repository"] == "trailofbits/pypi-attestations"
    assert record["publisher"]["workflow"] == "release.yml"
    assert record["source"] == fake_upstream.integrity_url(PROJECT, "0.0.19", SDIST)
    assert record["attestations"][0]["log_index"] == 153454663
    assert record["verified_at"] is not None
    shown = "\n".join(review.evidence_lines(row_of(backends, PROJECT, SDIST).evidence))
    assert "provenance: verified" in shown
    assert "publisher (verified): GitHub repository=trailofbits/pypi-attestations" in shown
    assert "transparency log entry 153454663 at 2024-12-04T23:14:01+00:00" in shown


def test_tampered_file_is_rejected_never_admitted_by_age(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, pep740: Path
) -> None:
    attested(fake_upstream, pep740, dist=pep740 / "tampered" / SDIST)
    backends = make_backends(provenance=OFFLINE)

    assert page(client_of(backends), PROJECT)["files"] == []

    row = row_of(backends, PROJECT, SDIST)
    assert (row.state, row.decided_by) == (State.REJECTED, "provenance")
    assert "subject does not match distribution digest" in row.reason
    shown = "\n".join(review.evidence_lines(row.evidence))
    assert "provenance: failed" in shown
    assert "publisher (claimed, not proven)" in shown
    later(backends, 30)
    run_cycle(backends)
    assert row_of(backends, PROJECT, SDIST).state == State.REJECTED


@pytest.mark.parametrize(
    ("publisher", "reason"),
    [
        ("GitHub:trailofbits/pypi-attestation-models@release.yml", "does not match pinned"),
        ("GitHub:trailofbits/pypi-attestations@publish.yml", "does not match pinned"),
    ],
)
def test_required_mode_rejects_another_publisher(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    pep740: Path,
    publisher: str,
    reason: str,
) -> None:
    attested(fake_upstream, pep740)
    backends = make_backends(
        provenance=OFFLINE,
        policy={"projects": {PROJECT: {"provenance": "required", "publisher": publisher}}},
    )

    assert page(client_of(backends), PROJECT)["files"] == []

    row = row_of(backends, PROJECT, SDIST)
    assert row.state == State.REJECTED
    assert reason in row.reason


def test_required_mode_checks_the_pin_against_the_certificate_not_the_claim(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, pep740: Path
) -> None:
    # Upstream rewrites its claim to match our (wrong) pin: the certificate still disagrees.
    body = json.loads((pep740 / f"{SDIST}.provenance.json").read_bytes())
    body["attestation_bundles"][0]["publisher"]["workflow"] = "publish.yml"
    fake_upstream.add_file(
        PROJECT,
        (pep740 / SDIST).read_bytes(),
        filename=SDIST,
        upload_time=UPLOADED,
        provenance=json.dumps(body).encode(),
    )
    pinned = "GitHub:trailofbits/pypi-attestations@publish.yml"
    backends = make_backends(
        provenance=OFFLINE,
        policy={"projects": {PROJECT: {"provenance": "required", "publisher": pinned}}},
    )

    page(client_of(backends), PROJECT)

    row = row_of(backends, PROJECT, SDIST)
    assert row.state == State.REJECTED
    assert "Build Config URI" in row.reason


def test_required_mode_admits_what_verifies_against_the_pin(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, pep740: Path
) -> None:
    attested(fake_upstream, pep740)
    backends = make_backends(
        provenance=OFFLINE,
        policy={"projects": {PROJECT: {"provenance": "required", "publisher": IDENTITY}}},
    )

    assert [f["filename"] for f in page(client_of(backends), PROJECT)["files"]] == [SDIST]
    assert row_of(backends, PROJECT, SDIST).evidence["provenance"]["pinned"] == IDENTITY


def test_required_mode_holds_files_without_provenance_for_review(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    old = datetime.now(UTC) - timedelta(days=30)
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path, upload_time=old)
    backends = make_backends(
        provenance=OFFLINE,
        policy={"projects": {"demo": {"provenance": "required", "publisher": IDENTITY}}},
    )

    assert page(client_of(backends), "demo")["files"] == []

    row = row_of(backends, "demo", "demo-1.0-py3-none-any.whl")
    assert (row.state, row.hold_until) == (State.QUARANTINED, None)
    assert "provenance required, but upstream lists no provenance" in row.reason


# --- what upstream may do wrong ---------------------------------------------------------


def test_malformed_provenance_is_rejected_with_the_reason(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, pep740: Path
) -> None:
    fake_upstream.add_file(
        PROJECT,
        (pep740 / SDIST).read_bytes(),
        filename=SDIST,
        upload_time=UPLOADED,
        provenance=b'{"version": 1, "attestation_bundles": [{"publisher": ',
    )
    backends = make_backends(provenance=OFFLINE)

    page(client_of(backends), PROJECT)

    row = row_of(backends, PROJECT, SDIST)
    assert row.state == State.REJECTED
    assert "malformed provenance" in row.reason


def test_oversized_provenance_is_rejected(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, pep740: Path
) -> None:
    attested(fake_upstream, pep740)
    backends = make_backends(provenance={**OFFLINE, "max_bytes": 1000})

    page(client_of(backends), PROJECT)

    row = row_of(backends, PROJECT, SDIST)
    assert row.state == State.REJECTED
    assert "provenance too large" in row.reason


@pytest.mark.parametrize("fault", ["timeout", "disabled"])
def test_provenance_upstream_cannot_answer_means_held_and_retried(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, pep740: Path, fault: str
) -> None:
    attested(fake_upstream, pep740)
    if fault == "timeout":
        fake_upstream.hang(path="/integrity/*", times=1)
    else:
        fake_upstream.attestations_disabled = True
    backends = make_backends(
        provenance=OFFLINE, upstream={"timeout": "1s", "retries": 0, "ttl": "30d"}
    )

    assert page(client_of(backends), PROJECT)["files"] == []

    row = row_of(backends, PROJECT, SDIST)
    assert row.state == State.QUARANTINED and row.hold_until is not None
    assert "cannot verify provenance now" in row.reason
    assert row.evidence["provenance"]["status"] == "unavailable"
    fake_upstream.attestations_disabled = False
    report = run_cycle(backends)  # the hold has passed: the cycle retries the check
    assert report.evaluated == [PROJECT]
    row = row_of(backends, PROJECT, SDIST)
    assert row.state == State.ADMITTED
    assert row.evidence["provenance"]["status"] == "verified"


def test_unreachable_sigstore_is_held_never_verified(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    pep740: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shipped = ClientTrustConfig.production(offline=True)

    def unreachable(offline: bool = False) -> ClientTrustConfig:
        raise TUFError("Failed to refresh TUF metadata")

    monkeypatch.setattr(ClientTrustConfig, "production", unreachable)
    attested(fake_upstream, pep740)
    backends = make_backends(provenance={"offline": False}, upstream={"ttl": "30d"})

    assert page(client_of(backends), PROJECT)["files"] == []

    row = row_of(backends, PROJECT, SDIST)
    assert row.state == State.QUARANTINED
    assert "cannot verify provenance now: trust root unavailable: TUFError" in row.reason
    assert row.provenance_sha256 is None
    monkeypatch.setattr(ClientTrustConfig, "production", lambda offline=False: shipped)
    run_cycle(backends)
    assert row_of(backends, PROJECT, SDIST).state == State.ADMITTED


def test_integrity_url_template_is_the_fallback(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, pep740: Path
) -> None:
    # A page without PEP 740 links: the Integrity API is asked at the configured URL.
    attested(fake_upstream, pep740)
    listed = fake_upstream.get_file(PROJECT, SDIST)
    entry = {
        "filename": SDIST,
        "url": fake_upstream.file_url(PROJECT, SDIST),
        "hashes": {"sha256": listed.sha256},
        "upload-time": "2024-12-04T23:14:04.599813Z",
    }
    document = {"meta": {"api-version": "1.1"}, "name": PROJECT, "files": [entry]}
    fake_upstream.garbage_page(PROJECT, json.dumps(document), content_type=JSON["Accept"])
    backends = make_backends(provenance=OFFLINE, upstream={"integrity_url_template": TEMPLATE})

    assert len(page(client_of(backends), PROJECT)["files"]) == 1

    record = row_of(backends, PROJECT, SDIST).evidence["provenance"]
    assert record["source"] == fake_upstream.integrity_url(PROJECT, "0.0.19", SDIST)
    assert record["status"] == "verified"


# --- continuity ---------------------------------------------------------------------------


@pytest.fixture
def history(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, pep740: Path
) -> Backends:
    """pypi-attestations with its real, verified 0.0.19 admitted (quarantine 1h)."""
    attested(fake_upstream, pep740)
    backends = make_backends(provenance=OFFLINE, policy={"quarantine": "1h"})
    assert [f["filename"] for f in page(client_of(backends), PROJECT)["files"]] == [SDIST]
    return backends


def release(fake: FakeUpstream, tmp_path: Path, version: str, **kw: Any) -> str:
    return fake.publish_release(PROJECT, version, tmpdir=tmp_path, upload_time="now", **kw).filename


def test_unattested_release_after_attested_history_is_held_whatever_its_age(
    history: Backends, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    filename = release(fake_upstream, tmp_path, "0.0.20")
    sync.refresh(history, PROJECT, force=True)
    later(history, 30)
    run_cycle(history)

    row = row_of(history, PROJECT, filename)
    assert (row.state, row.hold_until) == (State.QUARANTINED, None)
    assert f"{SDIST} was published with attestations by {IDENTITY}" in row.reason
    assert row.evidence["provenance"]["status"] == "absent"

    review.approve(history, PROJECT, "0.0.20", actor="admin:test", reason="checked by hand")
    assert row_of(history, PROJECT, filename).state == State.ADMITTED


def test_release_from_a_different_publisher_is_held(
    history: Backends,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    filename = release(fake_upstream, tmp_path, "0.0.20", provenance=b"{}")
    other = {"kind": "GitHub", "repository": "evil/fork", "workflow": "release.yml"}
    now = datetime.now(UTC)

    def verified_elsewhere(name: str, sha256: str, body: bytes, **kw: Any) -> ProvenanceResult:
        return ProvenanceResult("verified", {**other, "environment": None}, (), now)

    monkeypatch.setattr(evidence, "verify_provenance", verified_elsewhere)
    sync.refresh(history, PROJECT, force=True)

    row = row_of(history, PROJECT, filename)
    assert (row.state, row.hold_until) == (State.QUARANTINED, None)
    assert f"publisher changed to GitHub:evil/fork@release.yml from {IDENTITY}" in row.reason
    review.approve(history, PROJECT, "0.0.20", actor="admin:test", reason="project moved")
    assert row_of(history, PROJECT, filename).state == State.ADMITTED


def test_without_attested_history_an_unattested_release_waits_only_for_its_age(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release(
        "demo", "1.0", tmpdir=tmp_path, upload_time=datetime.now(UTC) - timedelta(days=30)
    )
    backends = make_backends(provenance=OFFLINE, policy={"quarantine": "1h"})
    page(client_of(backends), "demo")
    fake_upstream.publish_release("demo", "1.1", tmpdir=tmp_path, upload_time="now")
    sync.refresh(backends, "demo", force=True)
    later(backends, 1)
    run_cycle(backends)
    assert row_of(backends, "demo", "demo-1.1-py3-none-any.whl").state == State.ADMITTED


def stolen_token_history(fake: FakeUpstream, pep740: Path, tmp_path: Path) -> str:
    """The real 0.0.19 (attested), an older release that lists provenance too, and a newer
    0.0.20 that lists none (a stolen-token upload after Trusted Publishing was adopted), all
    older than the quarantine; returns 0.0.20's filename."""
    attested(fake, pep740)
    body = (pep740 / f"{SDIST}.provenance.json").read_bytes()
    # 0.0.18's provenance is 0.0.19's: it would fail, but history below the anchor is not
    # fetched at all.
    fake.publish_release(
        PROJECT,
        "0.0.18",
        tmpdir=tmp_path,
        upload_time=UPLOADED - timedelta(days=30),
        provenance=body,
    )
    stolen = fake.publish_release(
        PROJECT, "0.0.20", tmpdir=tmp_path, upload_time=UPLOADED + timedelta(days=30)
    )
    return stolen.filename


@pytest.mark.parametrize("pinned", [None, IDENTITY])
def test_first_look_holds_a_release_without_provenance_above_the_newest_attested_one(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    pep740: Path,
    tmp_path: Path,
    pinned: str | None,
) -> None:
    stolen = stolen_token_history(fake_upstream, pep740, tmp_path)
    publisher = {"publisher": pinned} if pinned else {}
    backends = make_backends(provenance=OFFLINE, policy={"projects": {PROJECT: publisher}})

    filenames = {f["filename"] for f in page(client_of(backends), PROJECT)["files"]}

    assert filenames == {SDIST, "pypi_attestations-0.0.18-py3-none-any.whl"}
    row = row_of(backends, PROJECT, stolen)
    assert (row.state, row.hold_until) == (State.QUARANTINED, None)
    assert f"{SDIST} was published with attestations by {IDENTITY}" in row.reason
    assert row_of(backends, PROJECT, SDIST).evidence["provenance"]["status"] == "verified"
    # One fetch, the anchor's: 0.0.20's absence is on the listing, 0.0.18 is below the anchor.
    asked = [p for p in fake_upstream.requests if p.startswith("/integrity/")]
    assert asked == [f"/integrity/{PROJECT}/0.0.19/{SDIST}/provenance"]
    later(backends, 30)
    run_cycle(backends)
    assert row_of(backends, PROJECT, stolen).state == State.QUARANTINED


def test_a_failed_anchor_holds_what_is_above_it_and_the_next_attested_release_anchors(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    pep740: Path,
    tmp_path: Path,
) -> None:
    # 0.0.20 lists provenance that attests another file (0.0.19's): the newest attested
    # release fails, so it is rejected; 0.0.21 above it is held; the real 0.0.19 becomes
    # the anchor at the next sync, and later releases are judged against its publisher.
    attested(fake_upstream, pep740)
    body = (pep740 / f"{SDIST}.provenance.json").read_bytes()
    forged = fake_upstream.publish_release(
        PROJECT,
        "0.0.20",
        tmpdir=tmp_path,
        upload_time=UPLOADED + timedelta(days=10),
        provenance=body,
    ).filename
    above = fake_upstream.publish_release(
        PROJECT, "0.0.21", tmpdir=tmp_path, upload_time=UPLOADED + timedelta(days=20)
    ).filename
    backends = make_backends(provenance=OFFLINE, policy={"quarantine": "1h"})

    assert [f["filename"] for f in page(client_of(backends), PROJECT)["files"]] == [SDIST]

    assert row_of(backends, PROJECT, forged).state == State.REJECTED
    row = row_of(backends, PROJECT, above)
    assert (row.state, row.hold_until) == (State.QUARANTINED, None)
    assert f"upstream lists attestations for {forged}" in row.reason
    later(backends, 1)
    run_cycle(backends)
    assert row_of(backends, PROJECT, SDIST).evidence["provenance"]["status"] == "verified"
    assert row_of(backends, PROJECT, above).hold_until is None
    newest = fake_upstream.publish_release(
        PROJECT, "0.0.22", tmpdir=tmp_path, upload_time=backends.clock.now()
    ).filename
    later(backends, 2)
    run_cycle(backends)
    row = row_of(backends, PROJECT, newest)
    assert (row.state, row.hold_until) == (State.QUARANTINED, None)
    assert f"{SDIST} was published with attestations by {IDENTITY}" in row.reason


def test_a_long_unattested_tail_is_held_at_the_first_look_without_a_fetch_each(
    make_backends: Callable[..., Backends],
    fake_upstream: FakeUpstream,
    pep740: Path,
    tmp_path: Path,
) -> None:
    # A project that stopped attesting long ago: every release above the anchor is held for
    # review at once (none waits for the budget), and only the anchor is fetched.
    attested(fake_upstream, pep740)
    tail = [
        fake_upstream.publish_release(
            PROJECT, f"0.1.{n}", tmpdir=tmp_path, upload_time=UPLOADED + timedelta(days=n + 1)
        ).filename
        for n in range(5)
    ]
    backends = make_backends(provenance=OFFLINE, policy={"checks_per_sync": 2})

    assert [f["filename"] for f in page(client_of(backends), PROJECT)["files"]] == [SDIST]

    for filename in tail:
        row = row_of(backends, PROJECT, filename)
        assert (row.state, row.hold_until) == (State.QUARANTINED, None), filename
    assert sum(1 for p in fake_upstream.requests if p.startswith("/integrity/")) == 1


def test_mode_off_skips_provenance(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, pep740: Path
) -> None:
    attested(fake_upstream, pep740, dist=pep740 / "tampered" / SDIST)
    backends = make_backends(provenance={**OFFLINE, "mode": "off"})

    assert len(page(client_of(backends), PROJECT)["files"]) == 1
    assert "provenance" not in row_of(backends, PROJECT, SDIST).evidence


# --- content ------------------------------------------------------------------------------


def test_release_adding_an_executable_pth_is_held_for_review(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release(
        "demo", "1.0", tmpdir=tmp_path, upload_time=datetime.now(UTC) - timedelta(days=30)
    )
    backends = make_backends(policy={"quarantine": "0"})
    page(client_of(backends), "demo")
    fake_upstream.publish_release(
        "demo",
        "1.1",
        tmpdir=tmp_path,
        upload_time="now",
        pth={"demo_hook.pth": "import os; os.system('steal')\n"},
        entry_points={"console_scripts": {"demo-cli": "demo:main"}},
    )
    sync.refresh(backends, "demo", force=True)

    row = row_of(backends, "demo", "demo-1.1-py3-none-any.whl")
    assert (row.state, row.hold_until) == (State.QUARANTINED, None)
    assert "demo_hook.pth runs code at every Python start" in row.reason
    assert "new console_scripts demo-cli = demo:main" in row.reason
    content = row.evidence["content"]
    assert content["baseline"] == "demo-1.0-py3-none-any.whl"
    assert {flag["code"] for flag in content["flags"]} == {"executable-pth", "new-entry-point"}
    shown = "\n".join(review.evidence_lines(row.evidence))
    assert "content: compared with demo-1.0-py3-none-any.whl, 2 flag(s)" in shown
    assert "executable-pth: demo_hook.pth runs code" in shown
    baseline = row_of(backends, "demo", "demo-1.0-py3-none-any.whl")
    assert baseline.evidence["content"]["report"]["pth_files"] == []
    assert [f["filename"] for f in page(client_of(backends), "demo")["files"]] == [
        "demo-1.0-py3-none-any.whl"
    ]


def test_clean_release_is_admitted_after_inspection(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release(
        "demo", "1.0", tmpdir=tmp_path, upload_time=datetime.now(UTC) - timedelta(days=30)
    )
    backends = make_backends(policy={"quarantine": "0"})
    page(client_of(backends), "demo")
    fake_upstream.publish_release("demo", "1.1", tmpdir=tmp_path, upload_time="now")
    sync.refresh(backends, "demo", force=True)

    row = row_of(backends, "demo", "demo-1.1-py3-none-any.whl")
    assert row.state == State.ADMITTED
    assert row.evidence["content"]["flags"] == []


def test_a_page_request_does_not_download_a_candidate(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    # quarantine 0: the new file is past its delay at once, yet waits for its inspection.
    fake_upstream.publish_release(
        "demo", "1.0", tmpdir=tmp_path, upload_time=datetime.now(UTC) - timedelta(days=30)
    )
    fake_upstream.publish_release("demo", "1.1", tmpdir=tmp_path, upload_time="now")
    backends = make_backends(policy={"quarantine": "0"})
    with backends.engine.begin() as conn:
        project = project_rows.create_project(conn, "demo", datetime.now(UTC) - timedelta(days=1))
        project_rows.update_project(
            conn, project.id, checked_at=datetime.now(UTC) - timedelta(days=1)
        )

    assert page(client_of(backends), "demo")["files"] == []  # no page yet: first request
    assert not [p for p in fake_upstream.requests if p.startswith("/files/")]
    row = row_of(backends, "demo", "demo-1.1-py3-none-any.whl")
    assert row.state == State.QUARANTINED and "content not inspected yet" in row.reason
    run_cycle(backends)
    assert row_of(backends, "demo", "demo-1.1-py3-none-any.whl").state == State.ADMITTED


# --- cost -------------------------------------------------------------------------------


def test_first_look_at_a_long_history_checks_one_file_and_downloads_none(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    for minor in range(30):
        fake_upstream.publish_release(
            "demo", f"1.{minor}", tmpdir=tmp_path, upload_time=old + timedelta(days=minor)
        )
    backends = make_backends(
        provenance=OFFLINE,
        upstream={
            "integrity_url_template": "{base}/integrity/{project}/{version}/{filename}/provenance"
        },
    )

    assert len(page(client_of(backends), "demo")["files"]) == 30

    asked = [p for p in fake_upstream.requests if p.startswith("/integrity/")]
    assert asked == ["/integrity/demo/1.29/demo-1.29-py3-none-any.whl/provenance"]
    # Nothing downloaded (reading ahead is left to the scheduler's process).
    assert [p for p in fake_upstream.requests if p.startswith("/files/")] == []


def test_required_mode_verifies_a_long_history_in_batches(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    for minor in range(5):
        fake_upstream.publish_release(
            "demo", f"1.{minor}", tmpdir=tmp_path, upload_time=old + timedelta(days=minor)
        )
    # Asked at the template's URL: a file with no URL at all costs no fetch (and no budget).
    backends = make_backends(
        provenance=OFFLINE,
        upstream={"integrity_url_template": TEMPLATE},
        policy={
            "checks_per_sync": 2,
            "projects": {"demo": {"provenance": "required", "publisher": IDENTITY}},
        },
    )

    page(client_of(backends), "demo")

    def checked() -> list[str]:
        with backends.engine.connect() as conn:
            project = project_rows.get_project(conn, "demo")
            rows = file_rows.project_files(conn, project.id)
        return sorted(r.version for r in rows if "provenance" in r.evidence)

    assert checked() == ["1.3", "1.4"]  # newest first
    run_cycle(backends)
    assert checked() == ["1.1", "1.2", "1.3", "1.4"]
    run_cycle(backends)
    assert len(checked()) == 5


def test_html_pages_give_the_provenance_link_too(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, pep740: Path
) -> None:
    fake_upstream.html_only = True
    attested(fake_upstream, pep740)
    backends = make_backends(provenance=OFFLINE)

    page(client_of(backends), PROJECT)  # held: HTML pages carry no upload time

    record = row_of(backends, PROJECT, SDIST).evidence["provenance"]
    assert record["source"] == fake_upstream.integrity_url(PROJECT, "0.0.19", SDIST)
    assert record["status"] == "verified"


class _RemoteStore:
    """The fs store seen as a store without local paths (as S3 is): inspection must stream."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def local_path(self, key: str) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_store_without_local_paths_is_inspected_from_a_streamed_copy(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.publish_release(
        "demo", "1.0", tmpdir=tmp_path, upload_time=datetime.now(UTC) - timedelta(days=30)
    )
    backends = make_backends(policy={"quarantine": "0"})
    page(client_of(backends), "demo")
    fake_upstream.publish_release(
        "demo", "1.1", tmpdir=tmp_path, upload_time="now", pth={"x.pth": "import os\n"}
    )
    backends.blobs = _RemoteStore(backends.blobs)  # type: ignore[assignment]

    sync.refresh(backends, "demo", force=True)

    row = row_of(backends, "demo", "demo-1.1-py3-none-any.whl")
    assert "x.pth runs code at every Python start" in row.reason
    assert not list(backends.blobs.staging_dir().glob("inspect-*"))


def test_a_denied_release_is_never_fetched_for_its_checks(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    # Nothing upstream names is fetched for a file the rules refuse: neither its provenance
    # nor its bytes (a denied release is the one most likely to be hostile).
    fake_upstream.publish_release(
        "demo", "1.0", tmpdir=tmp_path, upload_time=datetime.now(UTC) - timedelta(days=30)
    )
    backends = make_backends(policy={"quarantine": "0", "deny": ["demo==1.1"]})
    page(client_of(backends), "demo")
    denied = fake_upstream.publish_release(
        "demo", "1.1", tmpdir=tmp_path, upload_time="now", provenance=b"{}"
    )
    sync.refresh(backends, "demo", force=True)
    run_cycle(backends)

    assert row_of(backends, "demo", denied.filename).state == State.BLOCKED
    fetched = [path for path in fake_upstream.requests if denied.filename in path]
    assert fetched == []
