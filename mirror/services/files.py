"""Admitted files and their PEP 658 metadata: fetched once, verified, then kept by hash.

Concurrent first requests for one file share a single upstream download
(``mirror.services.single_flight``, per digest).
"""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mirror.db import file_rows, page_rows, record_rows, targets
from mirror.db.engine import writing
from mirror.db.records import FileRow, NamedRow
from mirror.errors import DigestMismatchError, NotFoundError
from mirror.policy.admission import Decision, State
from mirror.services import pages
from mirror.services.backends import Backends
from mirror.services.single_flight import single_flight
from mirror.services.state_changes import apply_decision
from mirror.services.targets import queue_stored_metadata
from mirror.services.wheel_metadata import MAX_METADATA_BYTES, extract_metadata
from mirror.storage import blob_key, store_bytes

log = logging.getLogger(__name__)

INTEGRITY = "integrity"


@dataclass(frozen=True)
class Blob:
    key: str
    sha256: str
    size: int | None

    @classmethod
    def stored(cls, sha256: str) -> "Blob":
        """The blob kept under its sha256 (a page, a provenance copy); size not looked up."""
        return cls(blob_key(sha256), sha256, None)


def distribution(
    backends: Backends, row: NamedRow, extracted: Callable[[bytes], None] | None = None
) -> Blob:
    """The verified blob of an admitted file, downloading it on first use; ``extracted`` is
    called with the wheel's METADATA when it was extracted just now (upstream had none)."""
    blob = stored_blob(backends, row.project, row)
    if not row.cached:
        metadata = _after_first_download(backends, row, blob.key)
        if metadata is not None and extracted is not None:
            extracted(metadata)
    return blob


def stored_blob(backends: Backends, project: str, row: FileRow) -> Blob:
    """The file's bytes in the blob store, downloaded and verified first if need be.

    Also used before admission, to inspect a candidate's content.

    Raises:
        DigestMismatchError: upstream's bytes do not match the digest (the file is now rejected).
        UpstreamError: the download failed.
    """
    key = blob_key(row.sha256)
    if not backends.blobs.exists(key):
        with single_flight(backends, row.sha256):
            if not backends.blobs.exists(key):
                _download(backends, project, row, key)
    return Blob(key, row.sha256, row.size)


def provenance_copy(row: NamedRow) -> Blob:
    """The mirror's copy of an admitted file's verified PEP 740 provenance object."""
    if not row.provenance_sha256:
        raise NotFoundError(f"{row.filename}: no verified provenance")
    return Blob(blob_key(row.provenance_sha256), row.provenance_sha256, None)


def core_metadata(
    backends: Backends, row: NamedRow, fetched: Callable[[bytes], None] | None = None
) -> Blob:
    """The PEP 658 metadata of an admitted file, verified against the digest the page shows;
    ``fetched`` is called with the bytes when they came from upstream just now."""
    if not row.metadata_sha256:
        raise NotFoundError(f"{row.filename}: no core metadata")
    key = blob_key(row.metadata_sha256)
    if not backends.blobs.exists(key):
        if not row.url:
            raise NotFoundError(f"{row.filename}.metadata: missing from the blob store")
        upstream = backends.upstream.for_project(row.project)
        data = upstream.fetch_small(row.url + ".metadata", MAX_METADATA_BYTES)
        if data is None or hashlib.sha256(data).hexdigest() != row.metadata_sha256:
            raise DigestMismatchError(f"{row.filename}.metadata: upstream copy missing or altered")
        backends.blobs.put_bytes(key, data)
        with writing(backends.engine) as conn:
            file_rows.update_file(conn, row, metadata_size=len(data))
            targets.learn_length(conn, row.project, row.metadata_sha256, len(data))
            current = file_rows.file_by_name(conn, row.project, row.filename)
            if current is not None:
                queue_stored_metadata(conn, current, row.project, backends.clock.now())
        if fetched is not None:
            fetched(data)
        return Blob(key, row.metadata_sha256, len(data))
    return Blob(key, row.metadata_sha256, backends.blobs.size(key))


def _download(backends: Backends, project: str, row: FileRow, key: str) -> None:
    if not row.url:
        # An uploaded file's only copy is the one the upload stored; upstream has none.
        raise NotFoundError(f"{row.filename}: uploaded file missing from the blob store")
    staging = backends.blobs.staging_dir()
    try:
        path = backends.upstream.for_project(project).download(
            row.url, row.sha256, row.size, staging
        )
    except DigestMismatchError as exc:
        _reject(backends, project, row, str(exc))
        raise
    backends.blobs.put_file(key, path)
    log.info("cached file", extra={"project": project, "file": row.filename})


def _reject(backends: Backends, project: str, row: FileRow, reason: str) -> None:
    log.error(
        "integrity check failed; file rejected",
        extra={"project": project, "file": row.filename, "reason": reason},
    )
    now = backends.clock.now()
    with writing(backends.engine) as conn:
        current = file_rows.file_by_name(conn, project, row.filename)
        if current is None or current.state == State.REJECTED:
            return
        apply_decision(conn, project, current, Decision(State.REJECTED, reason, INTEGRITY), now)
        pages.render_and_queue(conn, backends.blobs, current.project_id, project, now)


def _after_first_download(backends: Backends, row: NamedRow, key: str) -> bytes | None:
    """Mark the file cached; give a wheel without upstream metadata its extracted METADATA
    (returned), which its page lists once rendered again (``pages.render_stale``). A history
    file gets its row now, and with it an admission record, which the next batch writes."""
    length = backends.blobs.size(key)  # what the publisher signs next
    metadata: dict[str, Any] = {}
    data = None
    if row.metadata_sha256 is None and row.filename.endswith(".whl"):
        data = extract_metadata(backends, key, row.filename)
        if data is not None:
            metadata = {
                "metadata_sha256": store_bytes(backends.blobs, data),
                "metadata_size": len(data),
            }
    now = backends.clock.now()
    with writing(backends.engine) as conn:
        file_rows.update_file(conn, row, cached=True, **metadata)
        if not record_rows.describes(record_rows.file_record(conn, row.project, row.filename), row):
            record_rows.mark_due(conn, row.project, now)
        if metadata:
            # Rendering a page of thousands of files here would hold the write lock, on the
            # client's critical path, for what only later clients read: the scheduler does it
            # (and queues the `.metadata` companion then).
            page_rows.mark_page_stale(conn, row.project, now)
        if length is not None:
            targets.learn_length(conn, row.project, row.sha256, length)
    return data
