"""Initial schema: targets, captures, hits, checks.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watcher.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "targets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_checked_at", UTCDateTime),
        sa.Column("last_status", sa.String(16)),
        sa.Column("last_error", sa.Text),
        sa.Column("consecutive_errors", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_capture_id", sa.String(26)),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("next_check_at", UTCDateTime),
    )
    op.create_table(
        "captures",
        sa.Column("id", sa.String(26), primary_key=True),
        sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
        sa.Column("previous_id", sa.String(26)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("final_url", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("fetched_at", UTCDateTime, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("raw_sha256", sa.String(64), nullable=False),
        sa.Column("raw_size", sa.Integer, nullable=False),
        sa.Column("text_sha256", sa.String(64), nullable=False),
        sa.Column("text_size", sa.Integer, nullable=False),
        sa.Column("content_type", sa.Text),
        sa.Column("encoding", sa.String(32)),
        sa.Column("encoding_source", sa.String(16)),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("added", sa.Integer, nullable=False, server_default="0"),
        sa.Column("removed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("hit_count", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_captures_target_fetched", "captures", ["target_id", "fetched_at"])
    op.create_index("ix_captures_raw_sha256", "captures", ["raw_sha256"])
    op.create_table(
        "hits",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("capture_id", sa.String(26), sa.ForeignKey("captures.id"), nullable=False),
        sa.Column("group_name", sa.String(64), nullable=False),
        sa.Column("term", sa.Text, nullable=False),
        sa.Column("where", sa.String(8), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("spans", sa.Text, nullable=False),  # "start:length,…" in the text
    )
    op.create_index("ix_hits_capture", "hits", ["capture_id"])
    op.create_index("ix_hits_group", "hits", ["group_name"])
    op.create_table(
        "checks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
        sa.Column("checked_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("capture_id", sa.String(26)),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_checks_target_time", "checks", ["target_id", "checked_at"])


def downgrade() -> None:
    for table in ("checks", "hits", "captures", "targets"):
        op.drop_table(table)
