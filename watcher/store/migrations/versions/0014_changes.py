"""A partial index of the captures that changed the text, by target and time: a
target's last change is then one probe that reads no row, where the index of every
capture had to be walked past the unchanged ones and each row read for its kind
(kind is in it too: SQLite then sees that it answers the query alone, and prefers it).

Revision ID: 0014_changes
Revises: 0013_rules
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_changes"
down_revision = "0013_rules"
branch_labels = None
depends_on = None

CHANGES = "kind IN ('new', 'changed')"  # as watcher.store.schema.CHANGES, frozen here


def upgrade() -> None:
    op.create_index(
        "ix_captures_changes",
        "captures",
        ["target_id", "fetched_at", "kind"],  # kind: SQLite sees it covers the query
        sqlite_where=sa.text(CHANGES),
        postgresql_where=sa.text(CHANGES),
    )


def downgrade() -> None:
    op.drop_index("ix_captures_changes", table_name="captures")
