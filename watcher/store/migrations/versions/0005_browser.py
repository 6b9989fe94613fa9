"""Browser fetching: the rendered DOM and a screenshot per capture, and what
`fetch: auto` learned about a target.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("captures") as batch:
        batch.add_column(sa.Column("dom_sha256", sa.String(64)))
        batch.add_column(sa.Column("screenshot_sha256", sa.String(64)))
    with op.batch_alter_table("targets") as batch:
        batch.add_column(sa.Column("fetch_learned", sa.String(16)))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("attachment_sha256", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("attachment_sha256")
    with op.batch_alter_table("targets") as batch:
        batch.drop_column("fetch_learned")
    with op.batch_alter_table("captures") as batch:
        batch.drop_column("screenshot_sha256")
        batch.drop_column("dom_sha256")
