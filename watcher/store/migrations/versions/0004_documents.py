"""Listings: documents and attachments found through a listing target, and the
metadata of a notice (发文字号, dates, issuer) on its captures.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watcher.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("targets") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="page"))
        batch.add_column(sa.Column("parent_id", sa.Integer))
        batch.create_foreign_key("fk_targets_parent", "targets", ["parent_id"], ["id"])
    with op.batch_alter_table("captures") as batch:
        batch.add_column(sa.Column("metadata", sa.JSON))
    op.create_index("ix_captures_fetched", "captures", ["fetched_at", "id"])
    op.create_table(
        "documents",
        sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), primary_key=True),
        sa.Column("listing_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("targets.id")),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("listed_date", sa.String(32)),
        sa.Column("position", sa.Integer),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("last_listed_at", UTCDateTime),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_since", UTCDateTime),
        sa.Column("failed_checks", sa.Integer, nullable=False, server_default="0"),
        sa.Column("delisted_at", UTCDateTime),
        sa.Column("last_good_capture_id", sa.String(26)),
        sa.Column("next_check_at", UTCDateTime),
        sa.Column("metadata", sa.JSON),
        sa.UniqueConstraint("listing_id", "url", name="uq_documents_listing_url"),
    )
    op.create_index("ix_documents_listing", "documents", ["listing_id"])


def downgrade() -> None:
    op.drop_index("ix_documents_listing", "documents")
    op.drop_table("documents")
    op.drop_index("ix_captures_fetched", "captures")
    with op.batch_alter_table("captures") as batch:
        batch.drop_column("metadata")
    with op.batch_alter_table("targets") as batch:
        batch.drop_constraint("fk_targets_parent", type_="foreignkey")
        batch.drop_column("parent_id")
        batch.drop_column("kind")
