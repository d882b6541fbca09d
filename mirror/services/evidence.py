"""Gather provenance and content evidence for a project's files, outside any transaction.

Everything slow happens here: fetching PEP 740 provenance objects, Sigstore verification,
downloading files (verified against their sha256, into the blob store) and inspecting them.
``gather`` returns the records; ``record`` merges them into ``files.evidence`` inside the
transaction that then decides (``mirror.services.state_changes``). Which files need what is
``mirror.policy.verdicts``; how much one sync may do is ``policy.checks_per_sync``.

Not done here: any decision. A result is evidence, whatever it says.
"""

import contextlib
import logging
import operator
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection

from mirror.checks import external
from mirror.checks.content import (
    ContentReport,
    compare,
    inspect_distribution,
    report_is_current,
)
from mirror.checks.provenance import (
    ProvenanceResult,
    TrustConfig,
    verify_provenance,
)
from mirror.db import file_rows, private_rows, project_rows
from mirror.db.records import FileRecord, FileRow
from mirror.errors import DigestMismatchError, MirrorError, UpstreamError
from mirror.policy import verdicts
from mirror.publishers import PinnedPublisher
from mirror.services import files, state_changes
from mirror.services.backends import Backends
from mirror.storage import BlobStore, store_bytes
from mirror.timeutil import format_timestamp
from mirror.upstream.client import ResponseTooLargeError
from mirror.upstream.netpolicy import RefusedDestinationError

log = logging.getLogger(__name__)

INTEGRITY_ACCEPT = "application/vnd.pypi.integrity.v1+json, application/json;q=0.9"
_COPY_CHUNK = 1 << 20
_version = operator.attrgetter("version")
_filename = operator.attrgetter("filename")


@dataclass
class Gathered:
    """New evidence by filename (keys merged into ``files.evidence``), and provenance copies."""

    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    copies: dict[str, str | None] = field(default_factory=dict)
    # The checks the files were chosen by: deciding the same rows reuses their views.
    checks: state_changes.Checks | None = None

    def add(self, filename: str, key: str, value: dict[str, Any]) -> None:
        self.records.setdefault(filename, {})[key] = value


def gather(
    backends: Backends,
    project: str,
    *,
    inspect: bool,
    rows: Sequence[FileRecord] | None = None,
    now: datetime | None = None,
    private: bool | None = None,
) -> Gathered:
    """Evidence for the files of ``project`` that need it, newest first, within the budget.

    ``inspect`` False skips content inspection (downloads): a page request must answer
    quickly, and a file inside its quarantine cannot be admitted before the scheduler's
    next cycle inspects it anyway. ``rows``: the project's files when the caller has just
    read or written them all (else read here). ``now``: the moment the caller decides them
    at (else the clock's), which makes the gathered checks its own. ``private``: whether the
    project is private, when the caller read it (else read here).
    """
    if rows is None:
        rows = _project_files(backends, project)
    gatherer = _Gatherer(backends, project, rows, now or backends.clock.now(), private)
    gatherer.provenance()
    if inspect:
        gatherer.content()
    return gatherer.gathered


def inspect_before_serving(backends: Backends, project: str, filename: str) -> Gathered:
    """Content evidence for one file about to be served for the first time without any (history,
    admitted without checks), gathered as for a candidate: inspected, and compared with the
    previous admitted release (inspected now too if it never was).

    The check reads the file and the release it is compared with, not every file of the
    project (``state_changes.content_check_rows``): the same evidence, gathered the same way.
    """
    now = backends.clock.now()
    with backends.engine.connect() as conn:
        row = project_rows.get_project(conn, project)
        index = file_rows.file_index(conn, row.id) if row is not None else None
        private = private_rows.is_private(conn, project)
    rows: list[FileRow] = []
    if index is not None:
        quarantine = backends.config.quarantine_for(project, private=private)
        rows = state_changes.content_check_rows(
            index.versions(), index.file, filename, quarantine, now
        )
    gatherer = _Gatherer(backends, project, rows, now)
    gatherer.content(only=filename)
    return gatherer.gathered


def _project_files(backends: Backends, project: str) -> list[FileRecord]:
    with backends.engine.connect() as conn:
        row = project_rows.get_project(conn, project)
        return file_rows.project_files(conn, row.id) if row is not None else []


def record(conn: Connection, rows: Sequence[FileRow], gathered: Gathered) -> list[int]:
    """Merge gathered evidence into the files' records (inside the deciding transaction);
    returns the ids of the rows changed."""
    changed = []
    for row in rows:
        values = recorded(row, gathered)
        if values:
            changed.append(file_rows.update_file(conn, row, **values))
    return changed


def recorded(row: FileRow, gathered: Gathered) -> dict[str, Any]:
    """The columns of ``row`` that ``gathered`` changes (none: empty)."""
    new = gathered.records.get(row.filename)
    if not new:
        return {}
    values: dict[str, Any] = {"evidence": {**(row.evidence or {}), **new}}
    if row.filename in gathered.copies:
        values["provenance_sha256"] = gathered.copies[row.filename]
    return values


def trust_config(backends: Backends) -> TrustConfig:
    trust_root = backends.config.provenance.trust_root
    return TrustConfig(
        offline=backends.config.provenance.offline,
        trust_root=Path(trust_root).expanduser() if trust_root else None,
    )


def integrity_url(backends: Backends, project: str, row: FileRow) -> str | None:
    """Upstream's `provenance` link for the file, else the configured template's URL."""
    if row.provenance_url:
        return str(row.provenance_url)
    template = backends.config.integrity_url_template_for(project)
    if not template:
        return None
    base = (
        backends.upstream.for_project(project).simple_url.removesuffix("/").removesuffix("/simple")
    )
    return str(template).format(
        base=base, project=project, version=quote(row.version), filename=quote(row.filename)
    )


class _Gatherer:
    def __init__(
        self,
        backends: Backends,
        project: str,
        rows: Sequence[FileRow],
        now: datetime,
        private: bool | None = None,
    ) -> None:
        self.backends = backends
        self.project = project
        if private is None:
            with backends.engine.connect() as conn:
                private = private_rows.is_private(conn, project)
        # A private project's files came from an upload: upstream is never asked about them,
        # for provenance either (``Config.provenance_mode_for``).
        self.private = private
        self.checks = state_changes.checks_of(
            backends, project, rows, private=self.private, now=now
        )
        checked = self.checks.rows
        self.rows = dict(zip(map(_filename, checked), checked, strict=True))  # in C
        self.views = dict(self.checks.views)  # and what this gathers, as it does
        # What the rules refuse is blocked whatever its evidence says: nothing upstream names
        # for it is fetched (a denied release is the one most likely to be hostile).
        rules = backends.rules
        self.refused: set[str] = set()
        if rules.refuses_versions(project):
            versions = set(map(_version, self.views.values()))
            self.refused = {v for v in versions if rules.file_refusal(project, v)}
        self.budget = backends.config.policy.checks_per_sync
        self.gathered = Gathered(checks=self.checks)

    def _checkable(self, views: Iterable[verdicts.FileView]) -> list[verdicts.FileView]:
        return [view for view in views if view.version not in self.refused]

    def _newest_first(self, views: list[verdicts.FileView]) -> list[verdicts.FileView]:
        def moment(view: verdicts.FileView) -> float:
            row = self.rows[view.filename]
            return (row.upload_time or row.first_seen_at).timestamp()

        return sorted(views, key=lambda view: (-moment(view), view.filename))

    def _spend(self) -> bool:
        if self.budget <= 0:
            return False
        self.budget -= 1
        return True

    def _remember(self, filename: str, key: str, value: dict[str, Any]) -> None:
        self.gathered.add(filename, key, value)
        view = self.views[filename]
        self.views[filename] = view._replace(evidence={**view.evidence, key: value})

    # -- provenance -----------------------------------------------------------------------

    def provenance(self) -> None:
        config = self.backends.config
        mode = config.provenance_mode_for(self.project, private=self.private)
        if mode == "off":
            return
        pinned = config.publisher_for(self.project)
        key = config.pinned_publisher_key(self.project)
        anchor = self.checks.anchor
        # The others are plain history, which needs no provenance (``state_changes.Checks``).
        wanted = [
            view
            for view in self._checkable(self.checks.checked)
            if verdicts.provenance_needed(mode, view, anchor)
            and not verdicts.provenance_current(view, key)
        ]
        # The continuity anchor first: the candidates are judged against it.
        first = anchor.filename if anchor is not None else None
        ordered = sorted(self._newest_first(wanted), key=lambda view: view.filename != first)
        trust = trust_config(self.backends)
        fetching = True
        for view in ordered:
            row = self.rows[view.filename]
            url = integrity_url(self.backends, self.project, row)
            # Without a URL the absence is known from the listing: no fetch, nothing spent
            # (a project that stopped attesting long ago has every later file here).
            if url is not None and not (fetching and self._spend()):
                continue
            evidence = self._provenance_of(row, url, pinned, key, trust)
            self._remember(view.filename, "provenance", evidence)
            if evidence["status"] == "unavailable":
                # Upstream or Sigstore is down: the other files would fail the same way.
                fetching = False

    def _provenance_of(
        self,
        row: FileRow,
        url: str | None,
        pinned: PinnedPublisher | None,
        key: str | None,
        trust: TrustConfig,
    ) -> dict[str, Any]:
        now = self.backends.clock.now()
        base = {"source": url, "pinned": key, "checked_at": format_timestamp(now)}
        self.gathered.copies[row.filename] = None
        if url is None:
            return self._logged(row, {**base, **_absent("upstream lists no provenance")})
        limit = self.backends.config.provenance.max_bytes
        try:
            upstream = self.backends.upstream.for_project(self.project)
            body = upstream.fetch_small(url, limit, accept=INTEGRITY_ACCEPT)
        except ResponseTooLargeError as exc:
            result = ProvenanceResult("failed", reason=f"provenance too large: {exc}")
        except RefusedDestinationError as exc:
            # A link into the mirror's own network is hostile, not an outage to wait out.
            result = ProvenanceResult("failed", reason=str(exc))
        except UpstreamError as exc:
            result = ProvenanceResult("unavailable", reason=str(exc))
        else:
            if body is None:
                return self._logged(row, {**base, **_absent("upstream has no provenance (404)")})
            result = verify_provenance(
                row.filename, row.sha256, body, expected=pinned, trust=trust, now=now
            )
            if result.status == "verified":
                self.gathered.copies[row.filename] = store_bytes(self.backends.blobs, body)
        return self._logged(row, {**base, **result.to_dict(), "identity": _identity(result)})

    def _logged(self, row: FileRow, evidence: dict[str, Any]) -> dict[str, Any]:
        status = evidence["status"]
        level = logging.WARNING if status in ("failed", "unavailable") else logging.INFO
        log.log(
            level,
            "provenance %s",
            status,
            extra={
                "project": self.project,
                "file": row.filename,
                "status": status,
                "publisher": evidence["identity"],
                "reason": evidence["reason"],
            },
        )
        return evidence

    # -- content --------------------------------------------------------------------------

    def content(self, only: str | None = None) -> None:
        """Inspect the files that need it (``only``: that file, whatever its state)."""
        wanted = [
            view
            for view in self._checkable(self.views.values())
            if (view.filename == only if only else verdicts.content_needed(view))
            and not verdicts.content_current(view)
        ]
        for view in self._newest_first(wanted):
            baseline = verdicts.content_baseline(self.views.values(), view)
            previous = self._report_of(baseline) if baseline is not None else None
            if baseline is not None and previous is None:
                continue  # the baseline could not be inspected: compare on a later cycle
            if not self._spend():
                return
            report = self._inspect(view.filename, scan=True)
            if isinstance(report, str):
                self._remember(view.filename, "content", {"error": report})
                continue
            if report is None:
                continue
            flags = compare(previous, report)
            self._remember(
                view.filename,
                "content",
                {
                    "report": report.to_dict(),
                    "baseline": baseline.filename if baseline is not None else None,
                    "flags": [flag.to_dict() for flag in flags],
                    "inspected_at": format_timestamp(self.backends.clock.now()),
                },
            )

    def _report_of(self, baseline: verdicts.FileView) -> ContentReport | None:
        """The previous release's report: stored by this inspector's rules, else inspected now
        (once, kept as evidence)."""
        stored = self.views[baseline.filename].content
        if stored is not None and report_is_current(stored.get("report")):
            return ContentReport.from_dict(stored["report"])
        if not self._spend():
            return None
        report = self._inspect(baseline.filename)
        if not isinstance(report, ContentReport):
            return None
        evidence = {
            "report": report.to_dict(),
            "inspected_at": format_timestamp(self.backends.clock.now()),
        }
        self._remember(baseline.filename, "content", evidence)
        return report

    def _inspect(self, filename: str, *, scan: bool = False) -> ContentReport | str | None:
        """The file's report; an error text when it cannot be had now; None if rejected.
        ``scan``: run the external scanners on the same local copy too (a candidate's)."""
        row = self.rows[filename]
        try:
            blob = files.stored_blob(self.backends, self.project, row)
            with _local_file(self.backends.blobs, blob.key) as path:
                report = inspect_distribution(filename, path)
                scanners = self.backends.config.checks.external
                if scan and scanners:
                    at = format_timestamp(self.backends.clock.now())
                    self._remember(filename, "external", external.scan_all(scanners, path, at))
                return report
        except DigestMismatchError:
            return None  # upstream's bytes do not match: the file is rejected already
        except MirrorError as exc:
            log.warning(
                "content not inspected",
                extra={"project": self.project, "file": filename, "error": str(exc)},
            )
            return f"cannot inspect now: {exc}"


def _absent(reason: str) -> dict[str, Any]:
    """Upstream offers no provenance: the same fields as a ``ProvenanceResult`` record."""
    return {
        "status": "absent",
        "publisher": None,
        "identity": None,
        "attestations": [],
        "verified_at": None,
        "reason": reason,
    }


def _identity(result: ProvenanceResult) -> str | None:
    if result.publisher is None:
        return None
    try:
        return PinnedPublisher.parse(result.publisher).identity
    except ValueError:
        return None


@contextlib.contextmanager
def _local_file(blobs: BlobStore, key: str) -> Iterator[Path]:
    """A seekable local path for the blob: the store's own file, else a streamed temp copy."""
    path = blobs.local_path(key)
    if path is not None:
        yield path
        return
    fd, name = tempfile.mkstemp(dir=blobs.staging_dir(), prefix="inspect-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, blobs.open(key) as source:
            shutil.copyfileobj(source, out, _COPY_CHUNK)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
