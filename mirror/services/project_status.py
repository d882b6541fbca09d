"""A project's status marker (PEP 792): what upstream says, and what the mirror's pages say
(docs/admission.md, "Project status").

Upstream's ``quarantined`` holds every file of the project for review, those admitted before
included; ``archived`` and ``deprecated`` change nothing that is admitted and are shown as
evidence. The mirror's pages carry a marker too: ``quarantined`` when upstream says so or when
every file of the project is blocked (with the reason), else upstream's ``archived`` or
``deprecated``, else none (``active``).
"""

from collections.abc import Iterable

from sqlalchemy import Connection

from mirror.db import file_rows, project_rows
from mirror.policy.admission import State
from mirror.simple_api import ACTIVE, ProjectStatus, Status

# Longest reason our pages carry: a project blocked by many rules has many reasons.
_MAX_REASON = 500


def upstream_hold(upstream: ProjectStatus) -> str | None:
    """Why every file of the project is held for review, or None when upstream's marker does
    not hold it."""
    if upstream.status != Status.QUARANTINED:
        return None
    return f"{_quarantined_upstream(upstream)}; held for review"


def served(
    upstream: ProjectStatus,
    states: Iterable[tuple[str, str]],
    own: ProjectStatus | None = None,
) -> ProjectStatus:
    """The marker the mirror's pages carry for a project.

    ``states``: the (state, reason) of the project's files. ``own``: a marker the mirror's
    operators set on a project of their own (a private project archived); upstream's
    quarantine and a project wholly blocked still win over it.
    """
    if upstream.status == Status.QUARANTINED:
        return ProjectStatus(Status.QUARANTINED, _quarantined_upstream(upstream))
    blocked = _every_file_blocked(states)
    if blocked is not None:
        return ProjectStatus(Status.QUARANTINED, blocked)
    if own is not None:
        return own
    return upstream if upstream.status != Status.ACTIVE else ACTIVE


def for_project(conn: Connection, project: str, project_id: int) -> ProjectStatus:
    """``served`` for a recorded project."""
    upstream = project_rows.upstream_status(conn, project)
    return served(upstream, file_rows.state_reasons(conn, project_id))


def _quarantined_upstream(upstream: ProjectStatus) -> str:
    reason = f": {upstream.reason}" if upstream.reason else ""
    return f"quarantined upstream{reason}"


def _every_file_blocked(states: Iterable[tuple[str, str]]) -> str | None:
    """Why every file is blocked (their reasons), or None when one is not (or there is none)."""
    reasons: set[str] = set()
    for state, reason in states:
        if state != State.BLOCKED:
            return None
        reasons.add(reason)
    if not reasons:
        return None
    return f"every release is blocked: {'; '.join(sorted(reasons))}"[:_MAX_REASON]
