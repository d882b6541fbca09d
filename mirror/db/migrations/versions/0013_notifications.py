"""Notifications: the events webhooks subscribe to, and their delivery queue and log.

Revision ID: 0013_notifications
Revises: 0012_upstream_page_digest
"""

import sqlalchemy as sa
from alembic import op

from mirror.db.schema import UTCDateTime

revision = "0013_notifications"
down_revision = "0012_upstream_page_digest"

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("project", sa.String(200)),
        sa.Column("dedupe_key", sa.String(200), unique=True),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("dispatched_at", UTCDateTime),
    )
    undispatched = sa.text("dispatched_at IS NULL")
    op.create_index(
        "ix_notifications_undispatched",
        "notifications",
        ["id"],
        sqlite_where=undispatched,
        postgresql_where=undispatched,
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("notification_id", _ID, sa.ForeignKey("notifications.id"), nullable=False),
        sa.Column("webhook", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("lease_until", UTCDateTime),
        sa.Column("claim", sa.String(64)),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
    )
    op.create_index(
        "ix_notification_deliveries_due", "notification_deliveries", ["state", "next_attempt_at"]
    )
    op.create_index(
        "ix_notification_deliveries_notification", "notification_deliveries", ["notification_id"]
    )
