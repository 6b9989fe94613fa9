"""The inbox: events as the checks record them, grouped into items, with each user's
reading state and the shared triage (states, assignees, notes and their history).
Past captures and documents' fates are backfilled as items of their own.

Revision ID: 0011_inbox
Revises: 0009_websec
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watcher.store.schema import UTCDateTime

revision = "0011_inbox"
down_revision = "0010_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("change_key", sa.String(64)),
        sa.Column("first_at", UTCDateTime, nullable=False),
        sa.Column("last_at", UTCDateTime, nullable=False),
        sa.Column("count", sa.Integer, nullable=False, server_default="1"),
        sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("state", sa.String(16)),
        sa.Column("assignee", sa.String(64)),
    )
    op.create_index("ix_inbox_items_last", "inbox_items", ["last_at", "id"])
    op.create_index("ix_inbox_items_key", "inbox_items", ["change_key", "last_at"])
    op.create_index("ix_inbox_items_target", "inbox_items", ["target_id", "last_at"])
    op.create_table(
        "inbox_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("inbox_items.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
        sa.Column("capture_id", sa.String(26)),
        sa.Column("previous_id", sa.String(26)),
        sa.Column("detail", sa.Text),
    )
    op.create_index("ix_inbox_events_item", "inbox_events", ["item_id"])
    op.create_index("ix_inbox_events_target", "inbox_events", ["target_id", "at"])
    op.create_index("ix_inbox_events_capture", "inbox_events", ["capture_id"])
    op.create_table(
        "inbox_actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("inbox_items.id"), nullable=False),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("value", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_inbox_actions_item", "inbox_actions", ["item_id", "id"])
    op.create_table(
        "inbox_reads",
        sa.Column("user", sa.String(64), primary_key=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("inbox_items.id"), primary_key=True),
        sa.Column("read", sa.Boolean, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "inbox_visits",
        sa.Column("user", sa.String(64), primary_key=True),
        sa.Column("last_visit_at", UTCDateTime),
        sa.Column("visit_at", UTCDateTime),
        sa.Column("read_before", UTCDateTime),
    )
    from watcher.store import inboxlog  # the same events the checks now write

    inboxlog.backfill(op.get_bind())


def downgrade() -> None:
    for table in ("inbox_visits", "inbox_reads", "inbox_actions", "inbox_events", "inbox_items"):
        op.drop_table(table)
