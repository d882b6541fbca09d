"""Plain records for the rows the services read by the thousand.

A project's first look reads each of its files' rows dozens of times (deciding, rendering,
queueing targets). SQLAlchemy's ``Row`` answers an attribute only after a failed normal lookup,
about ten times slower than a named tuple, so the bulk reads hand out ``FileRecord`` instead.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Row

from mirror.db.schema import files


class FileRecord(NamedTuple):
    """One ``files`` row (``mirror.db.schema`` documents the columns)."""

    id: int
    project_id: int
    filename: str
    version: str
    url: str
    sha256: str
    size: int | None
    upload_time: datetime | None
    requires_python: str | None
    yanked: bool
    yanked_reason: str | None
    upstream_metadata_sha256: str | None
    metadata_sha256: str | None
    metadata_size: int | None
    provenance_url: str | None
    provenance_sha256: str | None
    first_seen_at: datetime
    present_upstream: bool
    state: str
    reason: str
    decided_by: str
    state_at: datetime
    hold_until: datetime | None
    cached: bool
    evidence: dict[str, Any]


# The id and project id of a record not inserted yet: the database gives them.
UNSAVED = 0


class Decided(NamedTuple):
    """The fields of a record after what upstream said of its file, but its evidence: where the
    mirror stands on it."""

    first_seen_at: datetime
    present_upstream: bool
    state: str
    reason: str
    decided_by: str
    state_at: datetime
    hold_until: datetime | None
    cached: bool


def listed_records(
    listed: Iterable[Sequence[Any]],
    project_id: int,
    decided: Decided,
    evidence: dict[str, Any],
    untimed_evidence: dict[str, Any],
) -> list[FileRecord]:
    """The records, not saved, of files as an upstream listed them: each of ``listed`` holds
    the file's name, version, URL, sha256, size, upload time, requires-python, whether it is
    yanked and why, its metadata's sha256 and its provenance URL, in that order (an upstream
    page's entry, or a history listing's). A file without an upload time gets
    ``untimed_evidence``, the others ``evidence``.

    A first look makes thousands in one go: each entry is unpacked by the loop and its record
    made by position through ``tuple.__new__``, since the named tuple's own constructor (a
    Python function) costs twice as much, and star-unpacking or slicing a third more.
    """
    first_seen, present, state, reason, decided_by, state_at, hold_until, cached = decided
    make = tuple.__new__
    return [
        make(
            FileRecord,
            (
                UNSAVED,  # id
                project_id,
                filename,
                version,
                url,
                sha256,
                size,
                uploaded,
                requires_python,
                yanked,
                yanked_reason,
                metadata_sha256,  # upstream_metadata_sha256
                metadata_sha256,
                None,  # metadata_size
                provenance_url,
                None,  # provenance_sha256: set once its attestations verify
                first_seen,
                present,
                state,
                reason,
                decided_by,
                state_at,
                hold_until,
                cached,
                untimed_evidence if uploaded is None else evidence,
            ),
        )
        for (
            filename,
            version,
            url,
            sha256,
            size,
            uploaded,
            requires_python,
            yanked,
            yanked_reason,
            metadata_sha256,
            provenance_url,
        ) in listed
    ]


# Selected in the record's field order; a field that is no column fails here, at import.
FILE_COLUMNS: list[ColumnElement[Any]] = [files.c[name] for name in FileRecord._fields]


@dataclass(frozen=True, slots=True)
class NamedFile:
    """A history file (docs/admission.md, "History") with its project's name: read like the
    rows of the lookups that join the project (``row.project``, ``row.filename``...)."""

    project: str
    record: FileRecord

    def __getattr__(self, name: str) -> Any:
        return getattr(self.record, name)


# A file with its project's name (``row.project``): a row of a query that joins the project,
# or a history file.
NamedRow = Row[Any] | NamedFile

# A files row as services take it: a record, or a Row of a query that joins other tables.
FileRow = FileRecord | NamedFile | Row[Any]
