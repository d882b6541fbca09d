"""The mirror's copy of a file's verified PEP 740 provenance object, served onward.

Revision ID: 0003_evidence
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_evidence"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("provenance_sha256", sa.String(64)))
