"""Every notice's fate: why a document's state last changed, whether its
``follow.select`` missed (told once), and the log of state changes the feeds and
the dashboard read.

Revision ID: 0008_fate
Revises: 0007_evidence
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watcher.store.schema import UTCDateTime

revision = "0008_fate"
down_revision = "0007_evidence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("reason", sa.Text))
        batch.add_column(
            sa.Column("select_missed", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_table(
        "document_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
        sa.Column("listing_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("evidence_id", sa.String(26)),
    )
    op.create_index("ix_document_events_listing", "document_events", ["listing_id", "at"])
    op.create_index("ix_document_events_at", "document_events", ["at"])


def downgrade() -> None:
    op.drop_index("ix_document_events_at", "document_events")
    op.drop_index("ix_document_events_listing", "document_events")
    op.drop_table("document_events")
    with op.batch_alter_table("documents") as batch:
        batch.drop_column("select_missed")
        batch.drop_column("reason")
