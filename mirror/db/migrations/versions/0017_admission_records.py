"""Signed admission records: one in-toto statement per admitted file, and the pages whose
files' records the next full batch writes (docs/tuf.md, "Admission records").

Every existing page is marked due, so files admitted before this revision get their records
from the scheduler's batches, a bounded number per batch.

Revision ID: 0017_admission_records
Revises: 0016_private_packages
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from mirror.db.schema import UTCDateTime

revision = "0017_admission_records"
down_revision = "0016_private_packages"


def upgrade() -> None:
    op.create_table(
        "admission_records",
        sa.Column("file_id", sa.Integer, sa.ForeignKey("files.id"), primary_key=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("decided_at", UTCDateTime, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_admission_records_project", "admission_records", ["project"])
    op.add_column("pages", sa.Column("records_due_since", UTCDateTime))
    due = sa.text("records_due_since IS NOT NULL")
    op.create_index(
        "ix_pages_records_due",
        "pages",
        ["records_due_since"],
        sqlite_where=due,
        postgresql_where=due,
    )
    pages = sa.table("pages", sa.column("records_due_since", UTCDateTime))
    op.execute(pages.update().values(records_due_since=datetime.now(UTC)))
