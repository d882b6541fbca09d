"""Indexes of the pages waiting to be rendered again or to have their files' targets queued:
the scheduler's watch asks for the newest of each every half second.

Revision ID: 0011_page_change_indexes
Revises: 0010_deferred_targets
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_page_change_indexes"
down_revision = "0010_deferred_targets"


def upgrade() -> None:
    for name, column in (
        ("ix_pages_stale", "stale_since"),
        ("ix_pages_deferred", "targets_deferred_since"),
    ):
        waiting = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, "pages", [column], sqlite_where=waiting, postgresql_where=waiting)
