"""The outbox: messages and their per-channel deliveries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watcher.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(64)),
        sa.Column("capture_id", sa.String(26)),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body_text", sa.Text, nullable=False),
        sa.Column("body_html", sa.Text, nullable=False),
        sa.Column("body_markdown", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("digest_tag", sa.String(64)),
        sa.Column("digest_id", sa.String(26)),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_messages_status", "messages", ["status", "id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("message_id", sa.String(26), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("channel_name", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("message_id", "channel", name="uq_deliveries_message_channel"),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_due", "deliveries")
    op.drop_table("deliveries")
    op.drop_index("ix_messages_status", "messages")
    op.drop_table("messages")
