"""The web UI's login: a random key per store, the password's hash, and sessions
kept server-side (so that logging out ends them).

Revision ID: 0009_websec
Revises: 0008_fate
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watcher.store.schema import UTCDateTime

revision = "0009_websec"
down_revision = "0008_fate"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_secrets",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_web_sessions_expires", "web_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_web_sessions_expires", "web_sessions")
    op.drop_table("web_sessions")
    op.drop_table("web_secrets")
