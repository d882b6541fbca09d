"""Names of the simple repository API shared by the pages the mirror reads from upstream and the
pages it serves."""

from dataclasses import dataclass
from enum import StrEnum

# PEP 691: the JSON form of the simple API, version 1.
JSON_TYPE = "application/vnd.pypi.simple.v1+json"


class Status(StrEnum):
    """A project's status marker (PEP 792): exactly one per project, ``active`` when unsaid."""

    ACTIVE = "active"
    ARCHIVED = "archived"
    QUARANTINED = "quarantined"
    DEPRECATED = "deprecated"


STATUSES: dict[str, Status] = {status.value: status for status in Status}


@dataclass(frozen=True, slots=True)
class ProjectStatus:
    """A status marker and the free text that explains it, if any."""

    status: Status = Status.ACTIVE
    reason: str | None = None


ACTIVE = ProjectStatus()
