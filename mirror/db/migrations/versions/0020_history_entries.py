"""A history listing's entries in a table of their own (docs/admission.md, "History").

In the listing's row, every read of a column stored after the entries (its versions, its
count of files with rows) and every update of the row (a file getting its row) read all of
them: SQLite walks a large value's overflow pages to reach what follows it.

Revision ID: 0020_history_entries
Revises: 0019_histories
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_history_entries"
down_revision = "0019_histories"


def upgrade() -> None:
    op.create_table(
        "history_entries",
        sa.Column(
            "project_id", sa.Integer, sa.ForeignKey("histories.project_id"), primary_key=True
        ),
        sa.Column("entries", sa.LargeBinary, nullable=False),
    )
    op.execute(
        "INSERT INTO history_entries (project_id, entries)"
        " SELECT project_id, entries FROM histories"
    )
    with op.batch_alter_table("histories") as batch:
        batch.drop_column("entries")
