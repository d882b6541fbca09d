"""Admission records keyed by the file's name, not its files row: a file admitted as history
has no row of its own until something happens to it, and gets a record all the same
(docs/tuf.md, "Admission records"). Filenames are unique across the mirror (each names its
project, and ``files.filename`` is unique), so the records written before are copied as they
are.

Revision ID: 0018_admission_records_by_name
Revises: 0017_admission_records
"""

from alembic import op

revision = "0018_admission_records_by_name"
down_revision = "0017_admission_records"


def upgrade() -> None:
    # Rebuilt (SQLite cannot drop a primary key in place); the rows are copied over.
    with op.batch_alter_table("admission_records", recreate="always") as batch:
        batch.drop_column("file_id")
        batch.create_primary_key("admission_records_pkey", ["filename"])
