"""Signed admission records: why the mirror admitted each file, as a TUF target beside it.

Each admitted file gets an in-toto Statement v1 with a SLSA verification summary predicate
(``mirror.intoto``; docs/tuf.md, "Admission records"): the file's name and sha256 as subject,
the mirror as verifier, the time of the decision, the effective policy for the project and its
digest, the PEP 740 bundles that were verified, and what each check found. Its bytes are kept
in the blob store under their sha256 and signed at ``packages/<project>/<file>.admission``.

A record describes one decision (``files.state_at``): a file decided again (held, blocked,
withdrawn, approved) loses its record target in the same transaction (``targets.wanted``), and
a new record is written for a new admission.

A file admitted as history (docs/admission.md, "History") has no record until it gets a row of
its own (``record_rows.record_due``): most history is never installed, and a record is a blob
written (a request on S3) and a target signed. Its first download gives it one
(``files.distribution``), and marks its project's records due.

Not on the client's path: recording a page that lists a file without a record of its current
decision marks the page's records due (``pages.records_due_since``); the next full batch
(``publish.publish_pending``: the scheduler's follow-up and cycles, ``mirror sync``, a review
decision) writes at most ``RECORDS_PER_BATCH`` of them, most recently marked projects first,
and signs them with it.
"""

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import metadata
from typing import Any

from sqlalchemy import Connection

from mirror.checks.content import REPORT_VERSION
from mirror.config import Config
from mirror.db import file_rows, project_rows, record_rows
from mirror.db.engine import writing
from mirror.db.record_rows import StoredRecord, describes, record_due
from mirror.db.records import FileRow
from mirror.errors import NotFoundError
from mirror.intoto import (
    ADMISSION_EXTENSION,
    PASSED,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    statement_bytes,
)
from mirror.policy.admission import POLICY, RULE, UPSTREAM
from mirror.policy.rules import Rules
from mirror.services import targets
from mirror.services.advisories import StoredAdvisory, covers, list_advisories
from mirror.services.backends import Backends
from mirror.services.files import Blob
from mirror.storage import blob_key, store_bytes
from mirror.timeutil import format_timestamp
from tuf_repo.bins import ADMISSION_SUFFIX, PROVENANCE_SUFFIX, package_path

# Records written per batch at most: each is a blob written (a request on S3).
RECORDS_PER_BATCH = 500
# Deciders that are the mirror itself; any other actor that admitted a file is a person.
_MACHINE_ACTORS = frozenset({POLICY, RULE, UPSTREAM})
_FIRST_ROOT = "1.root.json"
_POLICY_URI = "urn:signed-mirror:policy:v1"


@dataclass(frozen=True)
class Verifier:
    """The mirror as a verifier: named by its first signed root, which every later root
    descends from, so pipelines that pin any of them can tell which mirror spoke."""

    id: str
    version: str


def effective_policy(config: Config, rules: Rules, project: str) -> dict[str, Any]:
    """The settings that decide ``project``'s files: what the record's policy digest covers."""
    return {
        "project": project,
        "quarantineSeconds": int(config.quarantine_for(project).total_seconds()),
        "missingUploadTime": config.policy.missing_upload_time,
        "provenance": {
            "mode": config.provenance_mode_for(project),
            "pinnedPublisher": config.pinned_publisher_key(project),
            "offline": config.provenance.offline,
            "trustRoot": config.provenance.trust_root,
        },
        "rules": {
            "allowlistOnly": rules.allowlist_only,
            "internal": [r.text for r in rules.internal if r.matches_name(project)],
            "allow": [r.text for r in rules.allow if r.matches_name(project)],
            "deny": [r.text for r in rules.deny if r.matches_name(project)],
        },
        "content": {"inspectorVersion": REPORT_VERSION},
    }


def policy_digest(policy: dict[str, Any]) -> str:
    return hashlib.sha256(statement_bytes(policy)).hexdigest()


def statement(
    project: str,
    row: FileRow,
    *,
    policy: dict[str, Any],
    verifier: Verifier,
    provenance: bytes | None,
    advisories: Sequence[StoredAdvisory],
    clock_offset: timedelta,
) -> dict[str, Any]:
    """The admission record of ``row`` (admitted), as a JSON object."""
    target = package_path(project, row.filename)
    checks = {
        "project": project,
        "version": row.version,
        "decision": {
            "state": row.state,
            "reason": row.reason,
            "decidedBy": row.decided_by,
            "decidedAt": format_timestamp(row.state_at),
            "approvedBy": _reviewer(row),
        },
        "age": _age(row, policy, clock_offset),
        "integrity": {
            "sha256": row.sha256,
            "source": "the upstream listing; bytes are verified against it before stored",
        },
        "publisher": _publisher(row),
        "content": _content(row),
        "advisories": [
            {"id": a.osv_id, "summary": a.summary, "malicious": a.malicious} for a in advisories
        ],
        "policy": policy,
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": row.filename, "digest": {"sha256": row.sha256}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "verifier": {"id": verifier.id, "version": {"signed-mirror": verifier.version}},
            "timeVerified": format_timestamp(row.state_at),
            "resourceUri": f"pkg:pypi/{project}@{row.version}?file_name={row.filename}",
            "policy": {"uri": _POLICY_URI, "digest": {"sha256": policy_digest(policy)}},
            "inputAttestations": _input_attestations(target + PROVENANCE_SUFFIX, provenance),
            "verificationResult": PASSED,
            "verifiedLevels": _levels(checks),
            "slsaVersion": "1.0",
            ADMISSION_EXTENSION: checks,
        },
    }


def _reviewer(row: FileRow) -> str | None:
    return None if row.decided_by in _MACHINE_ACTORS else str(row.decided_by)


def _age(row: FileRow, policy: dict[str, Any], clock_offset: timedelta) -> dict[str, Any]:
    """How old the file was when decided, and by which clock."""
    measured_from = "upload-time" if row.upload_time is not None else "first-seen"
    start = row.upload_time or row.first_seen_at
    quarantine = timedelta(seconds=policy["quarantineSeconds"])
    return {
        # upload-time: upstream's PEP 700 upload time; first-seen: the mirror's first look.
        "measuredFrom": measured_from,
        "uploadTime": format_timestamp(row.upload_time) if row.upload_time else None,
        "firstSeenAt": format_timestamp(row.first_seen_at),
        "quarantineSeconds": policy["quarantineSeconds"],
        "admissibleFrom": format_timestamp(start + quarantine),
        "quarantinePassed": row.state_at >= start + quarantine,
        # The mirror's clock is the host's UTC clock, shifted by this (debug.clock_offset).
        "clock": {"source": "mirror UTC", "offsetSeconds": int(clock_offset.total_seconds())},
    }


def _publisher(row: FileRow) -> dict[str, Any]:
    evidence = (row.evidence or {}).get("provenance")
    if not isinstance(evidence, dict):
        return {"status": "not-checked", "identity": None}
    return {
        "status": evidence.get("status"),
        "identity": evidence.get("identity"),
        "publisher": evidence.get("publisher"),
        "pinned": evidence.get("pinned"),
        "reason": evidence.get("reason"),
        "verifiedAt": evidence.get("verified_at"),
    }


def _content(row: FileRow) -> dict[str, Any]:
    evidence = (row.evidence or {}).get("content")
    if not isinstance(evidence, dict):
        # History admitted at a first look: inspected before its first byte is served, and
        # held (which withdraws this record) if it flags.
        return {"status": "at-first-download", "flags": []}
    if "error" in evidence:
        return {"status": "not-inspected", "reason": evidence["error"], "flags": []}
    flags = evidence.get("flags") or []
    return {
        "status": "inspected",
        "inspectedAt": evidence.get("inspected_at"),
        "baseline": evidence.get("baseline"),
        "flags": [flag.get("code") if isinstance(flag, dict) else flag for flag in flags],
    }


def _input_attestations(target: str, provenance: bytes | None) -> list[dict[str, Any]]:
    """The verified PEP 740 provenance object as signed (named by its TUF target path, the way
    to fetch it verified), then each bundle in it (named by a JSON pointer into it; digest of
    its canonical JSON: sorted keys, no whitespace)."""
    if provenance is None:
        return []
    found = [{"name": target, "digest": {"sha256": hashlib.sha256(provenance).hexdigest()}}]
    bundles = json.loads(provenance).get("attestation_bundles") or []
    for index, bundle in enumerate(bundles):
        canonical = statement_bytes(bundle)
        found.append(
            {
                "name": f"{target}#/attestation_bundles/{index}",
                "digest": {"sha256": hashlib.sha256(canonical).hexdigest()},
            }
        )
    return found


def _levels(checks: dict[str, Any]) -> list[str]:
    """The checks passed, one custom track each (SLSA reserves the ``SLSA_`` prefix)."""
    passed = {
        "SIGNED_MIRROR_ADMITTED": True,
        "SIGNED_MIRROR_QUARANTINE_PASSED": checks["age"]["quarantinePassed"],
        "SIGNED_MIRROR_REVIEWED": checks["decision"]["approvedBy"] is not None,
        "SIGNED_MIRROR_PUBLISHER_VERIFIED": checks["publisher"]["status"] == "verified",
        "SIGNED_MIRROR_CONTENT_INSPECTED": checks["content"]["status"] == "inspected",
    }
    return [level for level, ok in passed.items() if ok]


# -- writing them -------------------------------------------------------------------------


def produce(backends: Backends, budget: int = RECORDS_PER_BATCH) -> int:
    """Write the due records (at most ``budget``) and queue their targets; how many."""
    with backends.engine.connect() as conn:
        due = record_rows.due_projects(conn)
    verifier = _verifier(backends) if due else None
    written = 0
    for project, since in due:
        if verifier is None or written >= budget:
            break
        written += _produce_project(backends, verifier, project, since, budget - written)
    return written


def _verifier(backends: Backends) -> Verifier | None:
    first_root = backends.metadata.read(_FIRST_ROOT)
    if first_root is None:
        return None  # no repository yet: nothing can be signed either
    digest = hashlib.sha256(first_root).hexdigest()
    return Verifier(f"urn:signed-mirror:root:{digest}", metadata.version("signed-mirror"))


def _produce_project(
    backends: Backends, verifier: Verifier, project: str, since: datetime, budget: int
) -> int:
    """Write up to ``budget`` of the project's due records; how many were written."""
    with backends.engine.connect() as conn:
        project_row = project_rows.get_project(conn, project)
        project_id = project_row.id if project_row is not None else None
        admitted = file_rows.admitted_files(conn, project_id) if project_id else []
        stored = record_rows.project_records(conn, project)
    missing = [row for row in admitted if record_due(stored.get(row.filename), row)]
    made = write_records(backends, verifier, project, missing[:budget])
    now = backends.clock.now()
    with writing(backends.engine) as conn:
        current = file_rows.admitted_files(conn, project_id) if project_id else []
        keep_records(conn, project, made, stored, current, now)
        if len(missing) <= budget:
            record_rows.records_done(conn, project, since)
    return len(made)


def keep_records(
    conn: Connection,
    project: str,
    made: Sequence[StoredRecord],
    stored: Mapping[str, StoredRecord],
    admitted: Sequence[FileRow],
    now: datetime,
) -> None:
    """Store the records ``made`` that describe the current decisions of the project's
    ``admitted`` files (read in this transaction), queue their targets, and forget the
    ``stored`` ones (``record_rows.project_records``) that no longer describe one. Records
    are found by filename: a file admitted as history has no row (its id is ``UNSAVED``)."""
    current = {row.filename: row for row in admitted}
    # A file decided again meanwhile keeps no record: its new decision marked it due.
    kept = [r for r in made if describes(r, current.get(r.filename))]
    record_rows.put_records(conn, project, kept, now)
    replaced = {r.filename for r in kept}
    outdated = [
        filename
        for filename, record in stored.items()
        if filename not in replaced and not describes(record, current.get(filename))
    ]
    record_rows.forget_records(conn, outdated)
    targets.queue_additions(conn, project, _record_targets(project, kept), now)


def _record_targets(project: str, records: Sequence[StoredRecord]) -> targets.Wanted:
    return {
        package_path(project, r.filename) + ADMISSION_SUFFIX: (r.sha256, r.size) for r in records
    }


def write_records(
    backends: Backends, verifier: Verifier, project: str, rows: Sequence[FileRow]
) -> list[StoredRecord]:
    """Render and store the records of ``rows``; outside any transaction."""
    if not rows:
        return []
    policy = effective_policy(backends.config, backends.rules, project)
    known = list_advisories(backends, project)
    made = []
    for row in rows:
        data = statement_bytes(
            statement(
                project,
                row,
                policy=policy,
                verifier=verifier,
                provenance=_provenance(backends, row),
                advisories=[a for a in known if covers(a, project, row.version)],
                clock_offset=backends.config.debug.clock_offset,
            )
        )
        sha256 = store_bytes(backends.blobs, data)
        made.append(StoredRecord(row.filename, row.state_at, sha256, len(data)))
    return made


def _provenance(backends: Backends, row: FileRow) -> bytes | None:
    """The verified provenance object the mirror serves for ``row``, if any."""
    if not row.provenance_sha256:
        return None
    with backends.blobs.open(blob_key(row.provenance_sha256)) as handle:
        data: bytes = handle.read()
    return data


# -- serving them -------------------------------------------------------------------------


def current_record(backends: Backends, project: str, row: FileRow) -> StoredRecord | None:
    """The record of the current decision of ``row`` (a file of ``project``, with a files row
    or not), the one signed, if written yet."""
    with backends.engine.connect() as conn:
        record = record_rows.file_record(conn, project, row.filename)
    return record if describes(record, row) else None


def record_blob(backends: Backends, project: str, row: FileRow) -> Blob:
    """The bytes of the current admission record of ``row``, a file of ``project``."""
    record = current_record(backends, project, row)
    if record is None:
        raise NotFoundError(f"{row.filename}: no admission record yet")
    return Blob(blob_key(record.sha256), record.sha256, record.size)
