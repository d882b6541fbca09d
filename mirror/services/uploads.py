"""Private packages (docs/private-packages.md): files uploaded through the legacy upload API,
admitted by the private projects' own policy and served, signed, beside the proxied ones.

A project name is private or proxied, never both. The first upload of a name the mirror has
never recorded makes it private, in the transaction that records the file; from then on
upstream is never asked about it (``refusal.upstream_refusal``). An upload to a name with
upstream data is refused. Files are immutable: a filename is accepted once, ever.

The bytes are checked before anything is recorded: the filename names the project and the
version the form gives, the core metadata inside the archive agrees with both, the sha256 is
the one the client computed, and an archive the content inspector cannot read, or whose
members would be written outside their directory, is refused. The blob is written once,
under its sha256, before the database learns of it; then the file is decided, its page
rendered and its targets queued as any other file's, and signed by whichever process holds
the keys.
"""

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import IO

from packaging.version import InvalidVersion, Version
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError as DbIntegrityError

from mirror.checks.content import NoCoreMetadataError, core_metadata, inspect_distribution
from mirror.db import event_rows, file_rows, private_rows, project_rows
from mirror.db.engine import writing
from mirror.db.records import UNSAVED, FileRecord
from mirror.errors import MirrorError, NotFoundError
from mirror.names import is_valid_project_name, normalize, version_from_filename
from mirror.policy.admission import Decision, State
from mirror.services import pages, publish, refusal, state_changes, sync
from mirror.services.backends import Backends
from mirror.services.tokens import Token
from mirror.storage import blob_key, store_bytes

log = logging.getLogger(__name__)

UPLOADER = "upload"
_CHUNK = 1 << 20


class UploadError(MirrorError):
    """An upload refused; the message is what the uploading client shows."""


class UploadForbiddenError(UploadError):
    """The token may not publish this project."""


class FilenameTakenError(UploadError):
    """The filename was uploaded (or proxied) before: files are immutable."""


@dataclass(frozen=True)
class Upload:
    """One ``file_upload`` request: what the form says, and where the bytes were staged."""

    name: str
    version: str
    filename: str
    sha256_digest: str
    staged: Path


@dataclass(frozen=True)
class Uploader:
    """Who uploads: the token, and where the request came from (for the audit record)."""

    token: Token
    remote_addr: str | None
    user_agent: str | None


@dataclass(frozen=True)
class _Checked:
    """An upload whose bytes agree with its form and its filename."""

    project: str
    filename: str
    version: str
    sha256: str
    size: int
    metadata: bytes
    requires_python: str | None

    @property
    def served_metadata(self) -> bytes | None:
        """The PEP 658 file the pages offer: a wheel's METADATA (an sdist's PKG-INFO may
        leave fields to the build, so installers are not pointed at it)."""
        return self.metadata if self.filename.endswith(".whl") else None


def stage(backends: Backends, stream: IO[bytes]) -> Path:
    """The uploaded bytes in a staging file, refused past ``private.max_upload_bytes``."""
    limit = backends.config.private.max_upload_bytes
    handle, name = tempfile.mkstemp(prefix="upload-", dir=backends.blobs.staging_dir())
    path, written = Path(name), 0
    with os.fdopen(handle, "wb") as out:
        while chunk := stream.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                break
            out.write(chunk)
    if written > limit:
        path.unlink()
        raise UploadError(f"the file is larger than {limit} bytes (private.max_upload_bytes)")
    return path


def accept(backends: Backends, upload: Upload, uploader: Uploader) -> str:
    """Check, store and record ``upload``, then decide it and publish if this process signs;
    the project's normalised name.

    Raises:
        UploadForbiddenError: the token does not cover the project.
        FilenameTakenError: the filename is known already.
        UploadError: anything else about the upload is wrong (the message says what).
    """
    checked = _check(backends, upload, uploader.token)
    _store(backends, upload.staged, checked)
    _record(backends, upload, checked, uploader)
    log.info(
        "private file uploaded",
        extra={"project": checked.project, "file": upload.filename, "actor": uploader.token.actor},
    )
    sync.evaluate_only(backends, checked.project)
    publish.publish_now(backends, checked.project)
    return checked.project


def _check(backends: Backends, upload: Upload, token: Token) -> _Checked:
    if not is_valid_project_name(upload.name):
        raise UploadError(f"{upload.name[:100]!r} is not a valid project name")
    project = normalize(upload.name)
    if not token.may_upload(project):
        raise UploadForbiddenError(f"this token may not upload to {project!r}")
    refused = refusal.refusal(backends, project)
    if refused is not None:
        raise UploadError(f"{project}: {refused.reason}")
    version = _version(project, upload)
    sha256, size = _measure(upload.staged)
    if upload.sha256_digest.lower() != sha256:
        raise UploadError(f"the sha256_digest does not match the file's bytes ({sha256})")
    metadata = _core_metadata(upload.filename, upload.staged)
    requires_python = _agree(metadata, project, version)
    _refuse_hostile(upload.filename, upload.staged)
    return _Checked(project, upload.filename, version, sha256, size, metadata, requires_python)


def _version(project: str, upload: Upload) -> str:
    """The release version, once the filename and the form agree on it and on the project."""
    in_filename = version_from_filename(project, upload.filename)
    if in_filename is None:
        raise UploadError(f"{upload.filename!r} is not a wheel or sdist filename of {project!r}")
    if _canonical(upload.version) != _canonical(in_filename):
        raise UploadError(
            f"the version {upload.version!r} does not match the filename {upload.filename!r}"
        )
    return in_filename


def _canonical(version: str) -> Version | None:
    try:
        return Version(version)
    except InvalidVersion:
        return None


def _measure(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _core_metadata(filename: str, path: Path) -> bytes:
    try:
        with path.open("rb") as stream:
            return core_metadata(filename, stream)
    except NoCoreMetadataError as exc:
        raise UploadError(f"{filename}: no readable core metadata: {exc}") from None


def _agree(metadata: bytes, project: str, version: str) -> str | None:
    """The Requires-Python of ``metadata``, once its Name and Version agree with the upload."""
    headers = BytesHeaderParser().parsebytes(metadata)
    name, stated = str(headers.get("Name", "")), str(headers.get("Version", ""))
    if not is_valid_project_name(name) or normalize(name) != project:
        raise UploadError(f"the metadata names the project {name[:100]!r}, not {project!r}")
    if _canonical(stated) is None or _canonical(stated) != _canonical(version):
        raise UploadError(f"the metadata gives the version {stated[:100]!r}, not {version!r}")
    requires = headers.get("Requires-Python")
    return str(requires).strip()[:500] if requires else None


def _refuse_hostile(filename: str, path: Path) -> None:
    """Refuse what the content inspector cannot read whole, or what would escape its directory;
    everything else it finds is judged by the admission policy, as for upstream files."""
    report = inspect_distribution(filename, path)
    problems = report.errors + [
        f"{name} would be written outside the directory it installs to"
        for name in report.path_escapes
    ]
    if problems:
        raise UploadError(f"{filename}: refused: {'; '.join(problems)[:1000]}")


def _store(backends: Backends, staged: Path, checked: _Checked) -> None:
    """The file and its METADATA under their sha256, each written once."""
    key = blob_key(checked.sha256)
    if backends.blobs.exists(key):
        staged.unlink(missing_ok=True)
    else:
        backends.blobs.put_file(key, staged)
    if checked.served_metadata is not None:
        store_bytes(backends.blobs, checked.served_metadata)


def _record(backends: Backends, upload: Upload, checked: _Checked, uploader: Uploader) -> None:
    now = backends.clock.now()
    project, actor = checked.project, uploader.token.actor
    try:
        with writing(backends.engine) as conn:
            project_id = _private_project(conn, project, actor, now)
            if file_rows.file_by_name(conn, project, upload.filename) is not None:
                raise _exists(upload.filename)
            file_rows.insert_files(conn, project_id, [_new_file(upload, checked, now)])
            private_rows.record_upload(
                conn,
                {
                    "at": now,
                    "project": project,
                    "version": checked.version,
                    "filename": upload.filename,
                    "sha256": checked.sha256,
                    "size": checked.size,
                    "actor": actor,
                    "token_id": uploader.token.id,
                    "remote_addr": uploader.remote_addr,
                    "user_agent": (uploader.user_agent or "")[:500] or None,
                },
            )
            event_rows.record_event(
                conn,
                at=now,
                project=project,
                filename=upload.filename,
                from_state=None,
                to_state=State.PENDING,
                actor=actor,
                reason=f"uploaded (sha256 {checked.sha256}, {checked.size} bytes)",
            )
    except DbIntegrityError:
        # The same filename, or the project's first upload, recorded at this moment elsewhere.
        raise _exists(upload.filename) from None


def _exists(filename: str) -> FilenameTakenError:
    return FilenameTakenError(f"File already exists: {filename}; files are immutable")


def _private_project(conn: Connection, project: str, actor: str, now: datetime) -> int:
    """The id of ``project``, made private here by its first upload; refused when proxied."""
    row = project_rows.get_project(conn, project)
    if row is None:
        row = project_rows.create_project(conn, project, now)
        private_rows.mark_private(conn, project, at=now, by=actor)
    elif not private_rows.is_private(conn, project):
        raise UploadError(
            f"{project!r} is proxied from upstream; a name is either private or proxied"
        )
    return int(row.id)


def _new_file(upload: Upload, checked: _Checked, now: datetime) -> FileRecord:
    metadata = checked.served_metadata
    return FileRecord(
        id=UNSAVED,
        project_id=UNSAVED,
        filename=upload.filename,
        version=checked.version,
        url="",  # no upstream copy: the blob stored above is the only one
        sha256=checked.sha256,
        size=checked.size,
        upload_time=now,
        requires_python=checked.requires_python,
        yanked=False,
        yanked_reason=None,
        upstream_metadata_sha256=None,
        metadata_sha256=hashlib.sha256(metadata).hexdigest() if metadata else None,
        metadata_size=len(metadata) if metadata else None,
        provenance_url=None,
        provenance_sha256=None,
        first_seen_at=now,
        present_upstream=True,
        state=State.PENDING,
        reason="uploaded",
        decided_by=UPLOADER,
        state_at=now,
        hold_until=None,
        cached=True,
        evidence={},
    )


def yank(backends: Backends, project: str, filename: str, *, actor: str, reason: str) -> None:
    """Mark an uploaded file yanked (PEP 592): installers skip it unless pinned to it."""
    _change_private_file(backends, project, filename, actor, f"yanked: {_reason(reason)}")


def delete(backends: Backends, project: str, filename: str, *, actor: str, reason: str) -> None:
    """Take an uploaded file off the index for good: withdrawn, never served again, and its
    filename stays taken (files are immutable). Its bytes stay in the blob store for audit."""
    _change_private_file(backends, project, filename, actor, f"deleted: {_reason(reason)}")


def _reason(reason: str) -> str:
    if not reason.strip():
        raise UploadError("a reason is required")
    return reason.strip()


def _change_private_file(
    backends: Backends, project: str, filename: str, actor: str, why: str
) -> None:
    now = backends.clock.now()
    with writing(backends.engine) as conn:
        row = file_rows.file_by_name(conn, project, filename)
        if row is None or not private_rows.is_private(conn, project):
            raise NotFoundError(f"{filename}: no such uploaded file of {project!r}")
        if why.startswith("yanked"):
            file_rows.update_file(conn, row, yanked=True, yanked_reason=why.partition(": ")[2])
            event_rows.record_event(
                conn,
                at=now,
                project=project,
                filename=filename,
                from_state=row.state,
                to_state=row.state,
                actor=actor,
                reason=why,
            )
        else:
            file_rows.update_file(conn, row, present_upstream=False)
            withdrawn = Decision(State.WITHDRAWN, why, actor)
            state_changes.apply_decision(conn, project, row, withdrawn, now)
        pages.render_and_queue(conn, backends.blobs, row.project_id, project, now)
    log.warning("private file changed", extra={"project": project, "file": filename, "reason": why})
