"""The status marker (PEP 792) upstream last gave each project, and its reason: a project
quarantined upstream has none of its files served (docs/admission.md, "Project status").

Revision ID: 0015_project_status
Revises: 0014_oidc
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_project_status"
down_revision = "0014_oidc"


def upgrade() -> None:
    op.add_column("projects", sa.Column("upstream_status", sa.String(20)))
    op.add_column("projects", sa.Column("upstream_status_reason", sa.Text))
