"""TUF publishing: the queue of pending target changes and the published target set.

Revision ID: 0004_tuf
Revises: 0003_evidence
"""

import sqlalchemy as sa
from alembic import op

from mirror.db.schema import UTCDateTime

revision = "0004_tuf"
down_revision = "0003_evidence"


def upgrade() -> None:
    op.create_table(
        "tuf_pending",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("op", sa.String(10), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("length", sa.BigInteger),
        sa.Column("sha256", sa.String(64)),
        sa.Column("queued_at", UTCDateTime, nullable=False),
        sa.Column("published_at", UTCDateTime),
        sa.Column("snapshot_version", sa.Integer),
    )
    op.create_index("ix_tuf_pending_open", "tuf_pending", ["published_at", "id"])
    op.create_index("ix_tuf_pending_project", "tuf_pending", ["project", "published_at"])
    op.create_table(
        "tuf_targets",
        sa.Column("path", sa.String(500), primary_key=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("length", sa.BigInteger, nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_tuf_targets_project", "tuf_targets", ["project"])
