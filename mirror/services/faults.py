"""Failures of the backends rather than bugs: a client is told the reason with a 503."""

from mirror.db.engine import database_fault
from mirror.errors import disk_full


def backend_fault(exc: BaseException) -> str | None:
    """ "disk full: ..." or "database unavailable" when ``exc`` is a backend failing; else None."""
    return disk_full(exc) or database_fault(exc)
