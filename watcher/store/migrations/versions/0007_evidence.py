"""Evidence: what reading a capture's bytes could not do right (bytes that could not
be decoded, runs read in another encoding, an attachment read only in part), kept
with the capture so it is shown wherever its text is.

Revision ID: 0007_evidence
Revises: 0006_text
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_evidence"
down_revision = "0006_text"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("captures") as batch:
        batch.add_column(sa.Column("warnings", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("captures") as batch:
        batch.drop_column("warnings")
