"""Access: API tokens (stored as hashes) and review-UI sessions.

Revision ID: 0005_access
Revises: 0004_tuf
"""

import sqlalchemy as sa
from alembic import op

from mirror.db.schema import UTCDateTime

revision = "0005_access"
down_revision = "0004_tuf"


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(10), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_reason", sa.Text, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime),
        sa.Column("revoked_by", sa.String(200)),
        sa.Column("revoked_reason", sa.Text),
    )
    op.create_table(
        "admin_sessions",
        sa.Column("id_sha256", sa.String(64), primary_key=True),
        sa.Column("token_id", sa.String(32), sa.ForeignKey("tokens.id"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_admin_sessions_expires", "admin_sessions", ["expires_at"])
