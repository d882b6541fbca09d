"""Signed admission records: an in-toto statement per admitted file, a TUF target beside it,
written by the batch after the decision, replaced or removed when the decision changes.

A plain python-tuf ``Updater`` against the mirror's root is the judge of what is signed.
"""

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from mirror.app import create_app
from mirror.checks import provenance
from mirror.db import record_rows, targets
from mirror.db.engine import writing
from mirror.db.records import FileRecord
from mirror.db.schema import admission_records, files
from mirror.intoto import STATEMENT_TYPE
from mirror.services import admission_records as records
from mirror.services import publish, review, signing, sync
from mirror.services.backends import Backends
from mirror.services.follow_up import FollowUp
from mirror.storage import BlobStore
from mirror.storage.fs import FsBlobStore
from mirror.storage.s3 import S3BlobStore
from mirror.storage.s3_client import make_client
from mirror.timeutil import Clock
from tests.support.fake_upstream import FakeUpstream
from tests.support.file_records import file_record
from tests.support.intoto_shape import check_vsa_statement
from tests.support.shared_fixtures import fixtures_dir
from tests.support.tuf_clients import FlaskFetcher, plain_updater

OLD = datetime.now(UTC) - timedelta(days=30)
WHEEL = "demo-1.0-py3-none-any.whl"
RECORD = f"packages/demo/{WHEEL}.admission"
EXTENSION = "urn:signed-mirror:admission:v1"


def signed(backends: Backends, client: FlaskClient, path: str, cache: Path) -> bytes | None:
    """The target's bytes as a plain TUF client verifies them against the mirror's root."""
    root = signing.current_root(backends.config)
    up = plain_updater("http://mirror", root, cache, FlaskFetcher(client))
    up.refresh()
    info = up.get_targetinfo(path)
    if info is None:
        return None
    return Path(up.download_target(info, filepath=str(cache / "target"))).read_bytes()


def record_count(backends: Backends) -> int:
    with backends.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(admission_records)).scalar_one())


def demo_sha256(client: FlaskClient) -> str:
    return hashlib.sha256(client.get(f"/packages/demo/{WHEEL}").data).hexdigest()


def record_blobs(backends: Backends) -> int:
    """How many in-toto statements the blob store holds, whoever wrote them."""
    opening = b'{"_type":"' + STATEMENT_TYPE.encode()
    return sum(1 for data in stored_blobs(backends.blobs) if data.startswith(opening))


def stored_blobs(blobs: BlobStore) -> Iterator[bytes]:
    if isinstance(blobs, FsBlobStore):
        yield from (p.read_bytes() for p in blobs.root.rglob("*") if p.is_file())
        return
    assert isinstance(blobs, S3BlobStore)
    listing = make_client(blobs.settings).get_paginator("list_objects_v2")
    for page in listing.paginate(Bucket=blobs.settings.bucket, Prefix=blobs.settings.prefix):
        for entry in page.get("Contents", []):
            with blobs.open(entry["Key"].removeprefix(blobs.settings.prefix)) as handle:
                yield handle.read()


def record_targets(backends: Backends, project: str) -> set[str]:
    """The project's `.admission` targets, queued or signed."""
    with backends.engine.connect() as conn:
        paths = {c.path for c in targets.pending(conn, project)}
        paths |= set(targets.published(conn, project))
    return {path for path in paths if path.endswith(".admission")}


def installed(backends: Backends, client: FlaskClient, *names: str) -> None:
    """Download the demo files ``names`` (installed, as history files get their rows), then
    let the scheduler's watch sign what that left due."""
    for name in names:
        assert client.get(f"/packages/demo/{name}").status_code == 200
    FollowUp(backends, quiet=timedelta(0)).poll()


def test_an_admitted_file_has_a_signed_in_toto_record_of_why(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path, client: FlaskClient
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path / "build", upload_time=OLD)
    assert client.get("/simple/demo/").status_code == 200
    publish.publish_now(backends)
    installed(backends, client, WHEEL)  # history gets its record with its row

    data = signed(backends, client, RECORD, tmp_path / "tuf")

    assert data is not None
    assert client.get(f"/{RECORD}").data == data
    statement = json.loads(data)
    check_vsa_statement(statement)
    assert statement["subject"] == [{"name": WHEEL, "digest": {"sha256": demo_sha256(client)}}]
    predicate = statement["predicate"]
    assert predicate["verificationResult"] == "PASSED"
    assert predicate["verifier"]["id"].startswith("urn:signed-mirror:root:")
    assert predicate["resourceUri"] == f"pkg:pypi/demo@1.0?file_name={WHEEL}"
    checks = predicate[EXTENSION]
    policy_bytes = json.dumps(checks["policy"], sort_keys=True, separators=(",", ":")).encode()
    assert predicate["policy"]["digest"]["sha256"] == hashlib.sha256(policy_bytes).hexdigest()
    assert checks["policy"]["quarantineSeconds"] == 7 * 86400
    assert checks["policy"]["provenance"]["mode"] == "continuity"
    assert checks["age"]["measuredFrom"] == "upload-time"
    assert checks["age"]["quarantinePassed"] is True
    assert checks["decision"] == {
        "state": "admitted",
        "reason": "quarantine of 7d passed",
        "decidedBy": "policy",
        "decidedAt": predicate["timeVerified"],
        "approvedBy": None,
    }
    assert checks["publisher"]["status"] in ("absent", "not-checked")
    assert checks["content"]["status"] == "inspected"  # before its first byte was served
    assert checks["integrity"]["sha256"] == demo_sha256(client)
    assert predicate["inputAttestations"] == []
    assert "SIGNED_MIRROR_QUARANTINE_PASSED" in predicate["verifiedLevels"]
    assert "SIGNED_MIRROR_REVIEWED" not in predicate["verifiedLevels"]


def test_the_policy_digest_covers_only_the_rules_that_match_the_project(
    make_backends: Callable[..., Backends],
) -> None:
    backends = make_backends(policy={"deny": ["demo==0.1", "other"], "quarantine": "3d"})
    policy = records.effective_policy(backends.config, backends.rules, "demo")
    assert policy["rules"]["deny"] == ["demo==0.1"]
    assert policy["quarantineSeconds"] == 3 * 86400
    other = make_backends(policy={"deny": ["demo==0.1", "another"], "quarantine": "3d"})
    same = records.effective_policy(other.config, other.rules, "demo")
    assert records.policy_digest(same) == records.policy_digest(policy)
    changed = make_backends(policy={"deny": ["demo==0.2"], "quarantine": "3d"})
    moved = records.effective_policy(changed.config, changed.rules, "demo")
    assert records.policy_digest(moved) != records.policy_digest(policy)


def test_a_first_look_writes_no_record_the_next_batch_does(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path, client: FlaskClient
) -> None:
    for version in ("1.0", "1.1"):
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path / version, upload_time=OLD)
    assert client.get("/simple/demo/").status_code == 200
    for version in ("1.0", "1.1"):
        assert client.get(f"/packages/demo/demo-{version}-py3-none-any.whl").status_code == 200
    assert record_count(backends) == 0  # not on the client's path

    assert records.produce(backends, budget=1) == 1  # bounded per batch
    assert records.produce(backends, budget=5) == 1  # the project stayed due for the rest
    assert records.produce(backends, budget=5) == 0
    assert record_count(backends) == 2


def test_an_approved_file_record_names_the_reviewer(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path, client: FlaskClient
) -> None:
    young = datetime.now(UTC) - timedelta(hours=1)
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path / "build", upload_time=young)
    assert client.get("/simple/demo/").status_code == 200
    publish.publish_now(backends)
    assert signed(backends, client, RECORD, tmp_path / "held") is None  # quarantined

    review.approve(backends, "demo", "1.0", actor="cli:alice", reason="diffed against the tag")
    publish.publish_now(backends)

    data = signed(backends, client, RECORD, tmp_path / "approved")
    assert data is not None
    statement = json.loads(data)
    check_vsa_statement(statement)
    checks = statement["predicate"][EXTENSION]
    assert checks["decision"]["approvedBy"] == "cli:alice"
    assert checks["decision"]["reason"] == "approved: diffed against the tag"
    assert checks["age"]["quarantinePassed"] is False
    assert "SIGNED_MIRROR_REVIEWED" in statement["predicate"]["verifiedLevels"]


def test_a_blocked_file_loses_its_record_and_an_unblocked_one_gets_a_new_one(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path, client: FlaskClient
) -> None:
    fake_upstream.publish_release("demo", "1.0", tmpdir=tmp_path / "build", upload_time=OLD)
    assert client.get("/simple/demo/").status_code == 200
    publish.publish_now(backends)
    installed(backends, client, WHEEL)
    first = signed(backends, client, RECORD, tmp_path / "admitted")
    assert first is not None

    review.block(backends, "demo", "==1.0", actor="cli:bob", reason="credential stealer")
    publish.publish_now(backends)
    assert signed(backends, client, RECORD, tmp_path / "blocked") is None
    assert client.get(f"/{RECORD}").status_code == 404

    review.unblock(backends, "demo", "==1.0", actor="cli:bob", reason="false alarm")
    publish.publish_now(backends)
    again = signed(backends, client, RECORD, tmp_path / "unblocked")
    assert again is not None and again != first  # a new decision, a new record
    check_vsa_statement(json.loads(again))


# --- history: a record once a file has a row of its own ----------------------------------

HISTORY_VERSIONS = ("0.5", "0.6", "0.7", "0.8", "0.9", "1.0")
HISTORY = [f"demo-{v}-py3-none-any.whl" for v in HISTORY_VERSIONS]
YOUNG = "demo-2.0-py3-none-any.whl"


def publish_history(fake_upstream: FakeUpstream, tmp_path: Path) -> None:
    """Six releases older than the quarantine, and one a day old."""
    for version in HISTORY_VERSIONS:
        fake_upstream.publish_release("demo", version, tmpdir=tmp_path, upload_time=OLD)
    young = datetime.now(UTC) - timedelta(days=1)
    fake_upstream.publish_release("demo", "2.0", tmpdir=tmp_path, upload_time=young)


def history_looked_at_and_signed(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path, client: FlaskClient
) -> None:
    """``publish_history``, the project's first look by a client, and everything it queued
    signed."""
    publish_history(fake_upstream, tmp_path)
    assert client.get("/simple/demo/").status_code == 200
    publish.publish_now(backends)


def admitted_rows(backends: Backends) -> set[str]:
    """The admitted files with a row of their own: history downloaded, inspected (the release
    before a downloaded one) or read ahead, and the files decided one by one."""
    with backends.engine.connect() as conn:
        query = select(files.c.filename).where(files.c.state == "admitted")
        return set(conn.execute(query).scalars())


def admission_paths(names: set[str]) -> set[str]:
    return {f"packages/demo/{name}.admission" for name in names}


def test_a_first_look_writes_no_record_for_history(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path, client: FlaskClient
) -> None:
    publish_history(fake_upstream, tmp_path)
    assert client.get("/simple/demo/").status_code == 200
    with backends.engine.connect() as conn:
        assert record_rows.due_projects(conn) == []  # nothing for a batch to write

    publish.publish_now(backends)

    assert record_blobs(backends) == 0
    assert record_count(backends) == 0
    assert record_targets(backends, "demo") == set()
    assert client.get(f"/packages/demo/{HISTORY[0]}.admission").status_code == 404


def test_a_young_file_admitted_later_gets_its_record_and_history_still_none(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path, client: FlaskClient
) -> None:
    history_looked_at_and_signed(backends, fake_upstream, tmp_path, client)

    later = replace(backends, clock=Clock(backends.clock.offset + timedelta(days=7)))
    sync.evaluate_only(later, "demo")  # the young file's quarantine passed
    publish.publish_now(later)

    rows = admitted_rows(backends)
    assert YOUNG in rows and set(HISTORY) - rows  # history files without a row remain
    assert record_targets(backends, "demo") == admission_paths(rows)
    assert record_blobs(backends) == len(rows)
    data = signed(backends, client, f"packages/demo/{YOUNG}.admission", tmp_path / "tuf")
    assert data is not None
    assert json.loads(data)["subject"][0]["name"] == YOUNG


def test_a_history_files_first_download_records_it_in_the_next_batch(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path, client: FlaskClient
) -> None:
    history_looked_at_and_signed(backends, fake_upstream, tmp_path, client)
    watch = FollowUp(backends, quiet=timedelta(0))
    watch.poll()  # what the first look left is signed: the watch has seen it

    assert client.get(f"/packages/demo/{HISTORY[4]}").status_code == 200
    assert watch.poll() is not None  # the download left a record due: a batch follows

    path = f"packages/demo/{HISTORY[4]}.admission"
    rows = admitted_rows(backends)
    assert HISTORY[4] in rows and set(HISTORY) - rows
    assert record_targets(backends, "demo") == admission_paths(rows)
    data = signed(backends, client, path, tmp_path / "tuf")
    assert data is not None
    assert client.get(f"/{path}").data == data
    statement = json.loads(data)
    check_vsa_statement(statement)
    assert statement["predicate"][EXTENSION]["decision"]["reason"] == "quarantine of 7d passed"
    assert record_blobs(backends) == len(rows)  # history files without a row have none


def test_a_blocked_history_file_stays_without_a_record(
    backends: Backends, fake_upstream: FakeUpstream, tmp_path: Path, client: FlaskClient
) -> None:
    history_looked_at_and_signed(backends, fake_upstream, tmp_path, client)

    review.block(backends, "demo", "==0.5", actor="cli:bob", reason="credential stealer")
    publish.publish_now(backends)
    FollowUp(backends, quiet=timedelta(0)).poll()

    assert HISTORY[0] not in admitted_rows(backends)
    assert record_targets(backends, "demo") == admission_paths(admitted_rows(backends))
    assert f"packages/demo/{HISTORY[0]}.admission" not in record_targets(backends, "demo")
    assert client.get(f"/packages/demo/{HISTORY[0]}.admission").status_code == 404


# --- files without a row: history admitted at a first look --------------------------------

VERIFIER = records.Verifier("urn:signed-mirror:root:test", "0")


def history_file(decided_at: datetime) -> FileRecord:
    """A file admitted as history, as the first look hands it out: in memory, no files row."""
    filename = "demo-0.9-py3-none-any.whl"
    return file_record(
        filename,
        project_id=1,
        version="0.9",
        url=f"https://files.example/{filename}",
        sha256="a" * 64,
        size=1000,
        upload_time=OLD,
        first_seen_at=decided_at,
        reason="history",
        state_at=decided_at,
    )


def record_again(backends: Backends, admitted: list[FileRecord]) -> None:
    """One batch's work on the demo project whose admitted files are ``admitted``."""
    with backends.engine.connect() as conn:
        stored = record_rows.project_records(conn, "demo")
    made = records.write_records(backends, VERIFIER, "demo", admitted)
    with writing(backends.engine) as conn:
        records.keep_records(conn, "demo", made, stored, admitted, backends.clock.now())


def test_a_file_without_a_row_is_recorded_found_and_forgotten_by_name(backends: Backends) -> None:
    decided = datetime.now(UTC) - timedelta(days=1)
    history = history_file(decided)

    record_again(backends, [history])

    record = records.current_record(backends, "demo", history)
    assert record is not None and record.filename == history.filename
    target = f"packages/demo/{history.filename}.admission"
    with backends.engine.connect() as conn:
        queued = {(c.path, c.sha256) for c in targets.pending(conn, "demo")}
    assert (target, record.sha256) in queued
    assert records.current_record(backends, "other", history) is None

    approved = history._replace(decided_by="cli:alice", state_at=decided + timedelta(hours=1))
    assert records.current_record(backends, "demo", approved) is None  # an earlier decision's
    record_again(backends, [approved])
    replaced = records.current_record(backends, "demo", approved)
    assert replaced is not None and replaced.sha256 != record.sha256
    assert record_count(backends) == 1

    record_again(backends, [])  # blocked: no longer admitted
    assert records.current_record(backends, "demo", approved) is None
    assert record_count(backends) == 0


def test_a_record_describes_the_decision_whichever_row_holds_it() -> None:
    """The row a history file gets later (a download, an inspection) keeps its decision
    time, and so its record; a new decision time is a new decision."""
    history = history_file(OLD)
    record = record_rows.StoredRecord(history.filename, OLD, "b" * 64, 500)
    assert record_rows.describes(record, history)
    assert record_rows.describes(record, history._replace(id=42, cached=True, size=None))
    assert not record_rows.describes(record, history._replace(state_at=OLD + timedelta(1)))
    assert not record_rows.describes(None, history)


# --- input attestations: the real PEP 740 fixtures ---------------------------------------

PROJECT = "pypi-attestations"
SDIST = "pypi_attestations-0.0.19.tar.gz"


@pytest.fixture(autouse=True)
def _fresh_verifiers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provenance, "_verifiers", {})


def test_the_record_lists_the_verified_pep740_bundles_and_their_publisher(
    make_backends: Callable[..., Backends], fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    pep740 = fixtures_dir("pep740")
    provenance_bytes = (pep740 / f"{SDIST}.provenance.json").read_bytes()
    fake_upstream.add_file(
        PROJECT,
        (pep740 / SDIST).read_bytes(),
        filename=SDIST,
        upload_time=datetime(2024, 12, 4, 23, 14, 4, tzinfo=UTC),
        provenance=provenance_bytes,
    )
    backends = make_backends(provenance={"offline": True})
    client = create_app(backends.config, backends).test_client()
    assert client.get(f"/simple/{PROJECT}/").status_code == 200
    publish.publish_now(backends)
    assert client.get(f"/packages/{PROJECT}/{SDIST}").status_code == 200  # history: installed
    FollowUp(backends, quiet=timedelta(0)).poll()

    data = signed(backends, client, f"packages/{PROJECT}/{SDIST}.admission", tmp_path / "tuf")

    assert data is not None
    statement: dict[str, Any] = json.loads(data)
    check_vsa_statement(statement)
    predicate = statement["predicate"]
    bundles = json.loads(provenance_bytes)["attestation_bundles"]
    canonical = [json.dumps(b, sort_keys=True, separators=(",", ":")).encode() for b in bundles]
    assert predicate["inputAttestations"] == [
        {
            "name": f"packages/{PROJECT}/{SDIST}.provenance",
            "digest": {"sha256": hashlib.sha256(provenance_bytes).hexdigest()},
        },
        *(
            {
                "name": f"packages/{PROJECT}/{SDIST}.provenance#/attestation_bundles/{i}",
                "digest": {"sha256": hashlib.sha256(c).hexdigest()},
            }
            for i, c in enumerate(canonical)
        ),
    ]
    publisher = predicate[EXTENSION]["publisher"]
    assert publisher["status"] == "verified"
    assert publisher["identity"] == "GitHub:trailofbits/pypi-attestations@release.yml"
    assert "SIGNED_MIRROR_PUBLISHER_VERIFIED" in predicate["verifiedLevels"]
