"""The digest of each project's upstream page as last recorded: an upstream that sends no
ETag or Last-Modified answers every refresh in full, and the same bytes need no parsing.

Revision ID: 0012_upstream_page_digest
Revises: 0011_page_change_indexes
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_upstream_page_digest"
down_revision = "0011_page_change_indexes"


def upgrade() -> None:
    op.add_column("projects", sa.Column("page_sha256", sa.String(64)))
