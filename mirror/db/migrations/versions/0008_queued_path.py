"""The queued TUF changes by path: each first look asks whether its pages wait to be signed.

Revision ID: 0008_queued_path
Revises: 0007_stale_pages
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_queued_path"
down_revision = "0007_stale_pages"


def upgrade() -> None:
    queued = sa.text("published_at IS NULL")
    op.create_index(
        "ix_tuf_pending_queued_path",
        "tuf_pending",
        ["path"],
        sqlite_where=queued,
        postgresql_where=queued,
    )
