"""Pages whose files' TUF targets a first look left to the next full batch to queue, and the
length of each file's stored PEP 658 metadata, which those targets then carry.

Revision ID: 0010_deferred_targets
Revises: 0009_provenance_targets
"""

import sqlalchemy as sa
from alembic import op

from mirror.db.schema import UTCDateTime

revision = "0010_deferred_targets"
down_revision = "0009_provenance_targets"


def upgrade() -> None:
    op.add_column("pages", sa.Column("targets_deferred_since", UTCDateTime))
    op.add_column("files", sa.Column("metadata_size", sa.Integer))
