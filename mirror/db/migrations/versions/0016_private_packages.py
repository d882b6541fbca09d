"""Private packages: which projects are uploaded rather than proxied, who uploaded each file,
and the name patterns an upload token may publish.

Revision ID: 0016_private_packages
Revises: 0015_project_status
"""

import sqlalchemy as sa
from alembic import op

from mirror.db.schema import UTCDateTime

revision = "0016_private_packages"
down_revision = "0015_project_status"


def upgrade() -> None:
    op.create_table(
        "private_projects",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False, unique=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("token_id", sa.String(100)),
        sa.Column("remote_addr", sa.String(100)),
        sa.Column("user_agent", sa.String(500)),
    )
    op.create_index("ix_uploads_project", "uploads", ["project", "at"])
    op.add_column("tokens", sa.Column("projects", sa.JSON))
