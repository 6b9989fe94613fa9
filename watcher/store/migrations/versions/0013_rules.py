"""The rules that made each capture's text: the SHA-256 of the target's select,
exclude and ignore, so a changed page is read again under today's rules only when
they differ from those of the capture it is compared with.

Revision ID: 0013_rules
Revises: 0012_documents
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_rules"
down_revision = "0012_documents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("captures") as batch:
        batch.add_column(sa.Column("rules_sha256", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("captures") as batch:
        batch.drop_column("rules_sha256")
