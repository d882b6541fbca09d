"""Initial schema: projects, files, events, pages, status.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from mirror.db.schema import UTCDateTime

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("checked_at", UTCDateTime),
        sa.Column("etag", sa.String(500)),
        sa.Column("last_modified", sa.String(100)),
        sa.Column("upstream_gone", sa.Boolean, nullable=False),
        sa.Column("last_error", sa.Text),
    )
    op.create_table(
        "files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False, unique=True),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger),
        sa.Column("upload_time", UTCDateTime),
        sa.Column("requires_python", sa.String(500)),
        sa.Column("yanked", sa.Boolean, nullable=False),
        sa.Column("yanked_reason", sa.Text),
        sa.Column("upstream_metadata_sha256", sa.String(64)),
        sa.Column("metadata_sha256", sa.String(64)),
        sa.Column("provenance_url", sa.Text),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("present_upstream", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.Column("state_at", UTCDateTime, nullable=False),
        sa.Column("hold_until", UTCDateTime),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
    )
    op.create_index("ix_files_project_state", "files", ["project_id", "state"])
    op.create_index("ix_files_state_hold", "files", ["state", "hold_until"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("filename", sa.String(255)),
        sa.Column("from_state", sa.String(20)),
        sa.Column("to_state", sa.String(20)),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_events_project", "events", ["project", "at"])
    op.create_table(
        "pages",
        sa.Column("project", sa.String(200), primary_key=True),
        sa.Column("html_sha256", sa.String(64), nullable=False),
        sa.Column("html_size", sa.Integer, nullable=False),
        sa.Column("json_sha256", sa.String(64), nullable=False),
        sa.Column("json_size", sa.Integer, nullable=False),
        sa.Column("files", sa.Integer, nullable=False),
        sa.Column("rendered_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "status",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
