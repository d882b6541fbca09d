"""Who pulled which file: every distribution file served is recorded, in batches.

The first question after an incident is "which pipelines installed this release". Serving must
not wait for the database, so a request only appends to an in-process buffer that a background
thread writes as one INSERT statement in one transaction (``mirror.batches``) every
``audit.flush_interval``, as soon as ``audit.batch_size`` records are waiting, and once more
when the process exits. If the database is unreachable, records stay buffered (up to
``MAX_BUFFERED``; beyond that the oldest are dropped and the loss is logged).
"""

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from mirror.batches import BatchWriter
from mirror.db import download_rows
from mirror.db.engine import writing
from mirror.errors import NotFoundError
from mirror.names import is_valid_project_name, normalize
from mirror.services.backends import Backends

log = logging.getLogger(__name__)

MAX_BUFFERED = 100_000
MAX_USER_AGENT = 500


@dataclass(frozen=True)
class Download:
    at: datetime
    project: str
    version: str
    filename: str
    token_id: str | None
    remote_addr: str | None
    user_agent: str | None
    # The CI identity of a token minted by the exchange (services/oidc.py): who pulled this
    # names a pipeline, not only a token id.
    identity: Mapping[str, str] | None = None

    @property
    def pipeline(self) -> str | None:
        """The identity in one line: repository, workflow, run and ref, as far as known."""
        if not self.identity:
            return None
        parts = [self.identity.get(key) for key in ("repository", "workflow", "ref")]
        run = self.identity.get("run_id")
        described = " ".join(part for part in parts if part) + (f" run {run}" if run else "")
        return described.strip() or self.identity.get("subject")


class DownloadRecorder:
    """Buffers download records and writes them from one background thread per process."""

    def __init__(self, engine: Engine, *, interval: float, batch_size: int) -> None:
        self._engine = engine
        self._batches: BatchWriter[Download] = BatchWriter(
            self._write,
            name="download audit",
            interval=interval,
            batch_size=batch_size,
            keep_on=(SQLAlchemyError,),
            max_kept=MAX_BUFFERED,
        )

    def record(self, download: Download) -> None:
        """Queue one record; never blocks on the database."""
        self._batches.add(download)

    def flush(self) -> int:
        """Write everything buffered now; the number of records written."""
        return self._batches.flush()

    def close(self) -> None:
        """Stop the thread and write what is left (at process exit)."""
        self._batches.close()

    def _write(self, batch: list[Download]) -> None:
        with writing(self._engine) as conn:
            download_rows.add_downloads(conn, [asdict(item) for item in batch])


def recorder_for(backends: Backends) -> DownloadRecorder:
    config = backends.config
    return DownloadRecorder(
        backends.engine,
        interval=config.audit.flush_interval.total_seconds(),
        batch_size=config.audit.batch_size,
    )


def downloads(
    backends: Backends, project: str, version: str | None = None, *, limit: int | None = None
) -> list[Download]:
    """Who pulled ``project`` (one ``version`` when given), newest first."""
    if not is_valid_project_name(project):
        raise NotFoundError(f"invalid project name {project[:100]!r}")
    with backends.engine.connect() as conn:
        rows = download_rows.release_downloads(conn, normalize(project), version, limit)
    return [
        Download(
            at=row.at,
            project=row.project,
            version=row.version,
            filename=row.filename,
            token_id=row.token_id,
            remote_addr=row.remote_addr,
            user_agent=row.user_agent,
            identity=row.identity,
        )
        for row in rows
    ]
