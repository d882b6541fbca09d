"""A project's history as one record: the files its first look admitted because they were
already older than the quarantine (docs/admission.md, "History").

Projects looked at before this revision keep their files rows.

Revision ID: 0019_histories
Revises: 0018_admission_records_by_name
"""

import sqlalchemy as sa
from alembic import op

from mirror.db.schema import UTCDateTime

revision = "0019_histories"
down_revision = "0018_admission_records_by_name"


def upgrade() -> None:
    op.create_table(
        "histories",
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), primary_key=True),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("entries", sa.LargeBinary, nullable=False),
        sa.Column("versions", sa.JSON, nullable=False),
        sa.Column("materialized", sa.Integer, nullable=False, server_default="0"),
    )
