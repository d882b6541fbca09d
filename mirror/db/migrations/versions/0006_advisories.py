"""Advisories (OSV) with their affected ranges, and the download audit.

Revision ID: 0006_advisories
Revises: 0005_access
"""

import sqlalchemy as sa
from alembic import op

from mirror.db.schema import UTCDateTime

revision = "0006_advisories"
down_revision = "0005_access"


def upgrade() -> None:
    op.create_table(
        "advisories",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("osv_id", sa.String(200), nullable=False, unique=True),
        sa.Column("modified", UTCDateTime, nullable=False),
        sa.Column("published", UTCDateTime),
        sa.Column("withdrawn", UTCDateTime),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("aliases", sa.JSON, nullable=False),
        sa.Column("links", sa.JSON, nullable=False),
        sa.Column("malicious", sa.Boolean, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("imported_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "advisory_ranges",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("advisory_id", sa.Integer, sa.ForeignKey("advisories.id"), nullable=False),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("specifier", sa.String(500), nullable=False),
    )
    op.create_index("ix_advisory_ranges_project", "advisory_ranges", ["project"])
    op.create_index("ix_advisory_ranges_advisory", "advisory_ranges", ["advisory_id"])
    op.create_table(
        "downloads",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("token_id", sa.String(100)),
        sa.Column("remote_addr", sa.String(100)),
        sa.Column("user_agent", sa.String(500)),
    )
    op.create_index("ix_downloads_release", "downloads", ["project", "version", "at"])
