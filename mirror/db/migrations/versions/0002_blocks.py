"""Blocks by a person or an advisory: a project and version specifier, kept until lifted.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from mirror.db.schema import UTCDateTime

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "blocks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("specifier", sa.String(500), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("lifted_at", UTCDateTime),
        sa.Column("lifted_by", sa.String(200)),
        sa.Column("lift_reason", sa.Text),
    )
    op.create_index("ix_blocks_project", "blocks", ["project"])
