"""Pages to render again: a first download learnt a wheel's METADATA the page should list.

Revision ID: 0007_stale_pages
Revises: 0006_advisories
"""

import sqlalchemy as sa
from alembic import op

from mirror.db.schema import UTCDateTime

revision = "0007_stale_pages"
down_revision = "0006_advisories"


def upgrade() -> None:
    op.add_column("pages", sa.Column("stale_since", UTCDateTime))
