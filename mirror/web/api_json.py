"""JSON shapes of the admin API; ``mirror.web.openapi`` describes exactly these."""

from datetime import datetime
from typing import Any

from sqlalchemy import Row

from mirror.services.advisories import StoredAdvisory
from mirror.services.audit import Download
from mirror.services.review_view import ReleaseReport, ReleaseSummary, ReviewedFile
from mirror.timeutil import format_timestamp


def when(value: datetime | None) -> str | None:
    """RFC 3339 in UTC, or None."""
    return format_timestamp(value) if value is not None else None


def file_json(row: ReviewedFile, now: datetime) -> dict[str, Any]:
    age = (now - row.upload_time).total_seconds() if row.upload_time else None
    return {
        "filename": row.filename,
        "state": row.state,
        "reason": row.reason,
        "decided_by": row.decided_by,
        "hold_until": when(row.hold_until),
        "state_at": when(row.state_at),
        "sha256": row.sha256,
        "size": row.size,
        "upload_time": when(row.upload_time),
        "age_seconds": age,
        "first_seen_at": when(row.first_seen_at),
        "requires_python": row.requires_python,
        "yanked": row.yanked,
        "yanked_reason": row.yanked_reason,
        "present_upstream": row.present_upstream,
        "evidence": row.evidence or {},
    }


def event_json(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": when(row.at),
        "project": row.project,
        "filename": row.filename,
        "from_state": row.from_state,
        "to_state": row.to_state,
        "actor": row.actor,
        "reason": row.reason,
    }


def block_json(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "project": row.project,
        "specifier": row.specifier,
        "reason": row.reason,
        "actor": row.actor,
        "created_at": when(row.created_at),
    }


def summary_json(summary: ReleaseSummary, now: datetime) -> dict[str, Any]:
    return {
        "project": summary.project,
        "version": summary.version,
        "first_seen_at": when(summary.first_seen_at),
        "hold_until": when(summary.hold_until),
        "files": [file_json(row, now) for row in summary.files],
    }


def advisory_json(advisory: StoredAdvisory) -> dict[str, Any]:
    return {
        "id": advisory.osv_id,
        "summary": advisory.summary,
        "details": advisory.details,
        "malicious": advisory.malicious,
        "modified": when(advisory.modified),
        "published": when(advisory.published),
        "withdrawn": when(advisory.withdrawn),
        "aliases": list(advisory.aliases),
        "links": list(advisory.links),
        "affected": [{"project": a.project, "specifier": a.specifier} for a in advisory.affected],
        "imported_at": when(advisory.imported_at),
    }


def download_json(download: Download, token_names: dict[str, str]) -> dict[str, Any]:
    return {
        "at": when(download.at),
        "project": download.project,
        "version": download.version,
        "filename": download.filename,
        "token_id": download.token_id,
        "token_name": token_names.get(download.token_id or ""),
        "remote_addr": download.remote_addr,
        "user_agent": download.user_agent,
        "identity": dict(download.identity) if download.identity else None,
    }


def delivery_json(row: Row[Any]) -> dict[str, Any]:
    """A row of the delivery log (``webhooks.delivery_log``)."""
    return {
        "id": row.id,
        "event_id": row.notification_id,
        "event": row.kind,
        "event_at": when(row.event_at),
        "project": row.project,
        "summary": row.summary,
        "webhook": row.webhook,
        "state": row.state,
        "attempts": row.attempts,
        "next_attempt_at": when(row.next_attempt_at),
        "last_status": row.last_status,
        "last_error": row.last_error,
        "created_at": when(row.created_at),
        "finished_at": when(row.finished_at),
    }


def release_json(report: ReleaseReport) -> dict[str, Any]:
    previous = None
    if report.previous_version is not None:
        previous = {
            "version": report.previous_version,
            "files": [file_json(row, report.now) for row in report.previous_files],
        }
    return {
        "project": report.project,
        "version": report.version,
        "files": [file_json(row, report.now) for row in report.files],
        "previous_admitted": previous,
        "blocks": [block_json(row) for row in report.blocks],
        "advisories": [advisory_json(advisory) for advisory in report.advisories],
        "events": [event_json(row) for row in report.events],
        "upstream_status": {
            "status": report.upstream_status.status.value,
            "reason": report.upstream_status.reason,
        },
    }


def token_json(row: Row[Any], status: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "scope": row.scope,
        "projects": list(row.projects or []),
        "status": status,
        "created_at": when(row.created_at),
        "created_by": row.created_by,
        "created_reason": row.created_reason,
        "expires_at": when(row.expires_at),
        "revoked_at": when(row.revoked_at),
        "revoked_by": row.revoked_by,
        "revoked_reason": row.revoked_reason,
        "identity": row.identity,
        "last_used_at": when(row.last_used_at),
    }
