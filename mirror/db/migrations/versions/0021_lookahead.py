"""The read-ahead queue: what web requests leave the scheduler's process to read and download
ahead of their clients (docs/performance.md, "First looks").

Revision ID: 0021_lookahead
Revises: 0020_history_entries
"""

import sqlalchemy as sa
from alembic import op

from mirror.db.schema import UTCDateTime

revision = "0021_lookahead"
down_revision = "0020_history_entries"


def upgrade() -> None:
    op.create_table(
        "lookahead",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("depth", sa.Integer, nullable=False),
        sa.Column("queued_at", UTCDateTime, nullable=False),
    )
    op.create_index("ux_lookahead_entry", "lookahead", ["kind", "project", "filename"], unique=True)
    op.create_index("ix_lookahead_queued_at", "lookahead", ["queued_at"])
