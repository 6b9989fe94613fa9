"""Accounts: users with a role and an argon2 hash, sessions of a user, and the audit
of who did what.

Revision ID: 0010_users
Revises: 0009_websec
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watcher.store.schema import UTCDateTime

revision = "0010_users"
down_revision = "0009_websec"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_login_at", UTCDateTime),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("user_name", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(512), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_audit_subject", "audit", ["subject", "at"])
    op.create_index("ix_audit_at", "audit", ["at"])
    with op.batch_alter_table("web_sessions") as batch:
        batch.add_column(
            sa.Column(
                "user_id",
                sa.Integer,
                sa.ForeignKey("users.id", name="fk_web_sessions_user", ondelete="CASCADE"),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("web_sessions") as batch:
        batch.drop_column("user_id")
    op.drop_index("ix_audit_at", "audit")
    op.drop_index("ix_audit_subject", "audit")
    op.drop_table("audit")
    op.drop_table("users")
