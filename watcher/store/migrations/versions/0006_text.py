"""The text of record: the extraction version that made each capture's text, so a
capture made by older code is compared after re-extracting its bytes.

Revision ID: 0006_text
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_text"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("captures") as batch:
        batch.add_column(sa.Column("extraction_version", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("captures") as batch:
        batch.drop_column("extraction_version")
