"""CI identity exchange: the identity a minted token carries, when each token was last used,
the identity in the download audit, and the identity tokens already exchanged.

Revision ID: 0014_oidc
Revises: 0013_notifications
"""

import sqlalchemy as sa
from alembic import op

from mirror.db.schema import UTCDateTime

revision = "0014_oidc"
down_revision = "0013_notifications"


def upgrade() -> None:
    op.add_column("tokens", sa.Column("identity", sa.JSON))
    op.add_column("tokens", sa.Column("last_used_at", UTCDateTime))
    op.add_column("downloads", sa.Column("identity", sa.JSON))
    op.create_table(
        "oidc_exchanges",
        sa.Column("issuer", sa.String(500), primary_key=True),
        sa.Column("jti", sa.String(200), primary_key=True),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_oidc_exchanges_expires", "oidc_exchanges", ["expires_at"])
