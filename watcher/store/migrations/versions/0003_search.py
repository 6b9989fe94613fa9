"""Full-text search: search_texts and the FTS5 table search.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

Texts stored before this revision are indexed by `watcher reindex` (the
service does it by itself in the background).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

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
    op.execute(
        "CREATE VIRTUAL TABLE search USING fts5("
        "terms, content='', detail=none, tokenize='unicode61 remove_diacritics 0')"
    )


def downgrade() -> None:
    op.execute("DROP TABLE search")
    op.drop_index("ix_captures_text_sha256", "captures")
    op.drop_table("search_texts")
