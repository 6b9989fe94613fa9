"""Full-text search: search_texts and the table search (FTS5 on SQLite).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Texts stored before this revision are indexed by `watcher reindex` (the
service does it by itself in the background).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watcher.store import dialects

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "search_texts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("text_sha256", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_captures_text_sha256", "captures", ["text_sha256"])
    bind = op.get_bind()
    dialects.of(bind).create_search(bind)  # SQLite: FTS5; PostgreSQL: a tsvector, GIN


def downgrade() -> None:
    op.execute("DROP TABLE search")
    op.drop_index("ix_captures_text_sha256", "captures")
    op.drop_table("search_texts")
