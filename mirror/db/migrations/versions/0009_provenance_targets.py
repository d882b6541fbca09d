"""Provenance copies become TUF targets: queue those of the files already signed or queued.

From this revision a project's targets include ``packages/<project>/<file>.provenance`` for
each admitted file whose PEP 740 attestations verified (``services.targets.wanted``). Files
whose targets were queued before it get theirs here, so a pipeline can fetch every listed
provenance through TUF without waiting for the project's page to change. Lengths are learnt
by the publisher, as for every companion.

Revision ID: 0009_provenance_targets
Revises: 0008_queued_path
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from mirror.db.schema import UTCDateTime

revision = "0009_provenance_targets"
down_revision = "0008_queued_path"


def upgrade() -> None:
    projects = sa.table("projects", sa.column("id"), sa.column("name", sa.String))
    files = sa.table(
        "files",
        sa.column("project_id"),
        sa.column("filename", sa.String),
        sa.column("state", sa.String),
        sa.column("provenance_sha256", sa.String),
    )
    pending = sa.table(
        "tuf_pending",
        *(sa.column(name) for name in ("project", "op", "length", "sha256", "queued_at")),
        sa.column("path", sa.String),
        sa.column("published_at"),
    )
    signed = sa.table("tuf_targets", sa.column("path", sa.String))
    file_path = sa.literal("packages/") + projects.c.name + "/" + files.c.filename
    queued = sa.select(pending.c.path).where(
        pending.c.published_at.is_(None), pending.c.op == "add"
    )
    rows = sa.select(
        projects.c.name,
        sa.literal("add"),
        file_path + ".provenance",
        sa.null(),
        files.c.provenance_sha256,
        sa.literal(datetime.now(UTC), UTCDateTime()),
    ).where(
        files.c.project_id == projects.c.id,
        files.c.state == "admitted",
        files.c.provenance_sha256.is_not(None),
        sa.or_(file_path.in_(sa.select(signed.c.path)), file_path.in_(queued)),
    )
    columns = ["project", "op", "path", "length", "sha256", "queued_at"]
    op.execute(sa.insert(pending).from_select(columns, rows))
