"""One document across sites: documents (works), their copies on the targets, their
text sketches (and how common each hash is), citations, deadlines and followers.
Captures stored before this revision are not linked (their facts come from the
analysis of new captures).

Revision ID: 0012_documents
Revises: 0011_inbox
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from watcher.store.schema import UTCDateTime

revision = "0012_documents"
down_revision = "0011_inbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "works",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.Text),
        sa.Column("document_number", sa.Text),
        sa.Column("issuer", sa.Text),
        sa.Column("title", sa.Text, nullable=False, server_default=""),
        sa.Column("title_key", sa.Text),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("first_target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
    )
    op.create_index("ix_works_key", "works", ["key"])
    op.create_index("ix_works_number", "works", ["document_number"])
    op.create_index("ix_works_title", "works", ["title_key"])
    op.create_table(
        "work_copies",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("work_id", sa.Integer, sa.ForeignKey("works.id"), nullable=False),
        sa.Column(
            "target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False, unique=True
        ),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("first_capture_id", sa.String(26), nullable=False),
        sa.Column("last_capture_id", sa.String(26), nullable=False),
        sa.Column("last_seen_at", UTCDateTime, nullable=False),
        sa.Column("linked_by", sa.String(16), nullable=False),
        sa.Column("similarity", sa.Float),
    )
    op.create_index("ix_work_copies_work", "work_copies", ["work_id", "first_seen_at"])
    op.create_table(
        "work_sketches",
        sa.Column("work_id", sa.Integer, sa.ForeignKey("works.id"), nullable=False),
        sa.Column("hash", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_work_sketches_hash", "work_sketches", ["hash", "work_id"])
    op.create_index("ix_work_sketches_work", "work_sketches", ["work_id"])
    op.create_table(
        "work_hash_counts",
        sa.Column("hash", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("works", sa.Integer, nullable=False),
    )
    op.create_table(
        "work_citations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("work_id", sa.Integer, sa.ForeignKey("works.id"), nullable=False),
        sa.Column("number", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("title_key", sa.Text),
        sa.Column("snippet", sa.Text, nullable=False, server_default=""),
        sa.Column("cited_id", sa.Integer, sa.ForeignKey("works.id")),
        sa.Column("found_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_work_citations_work", "work_citations", ["work_id"])
    op.create_index("ix_work_citations_cited", "work_citations", ["cited_id"])
    op.create_index("ix_work_citations_number", "work_citations", ["number"])
    op.create_table(
        "work_deadlines",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("work_id", sa.Integer, sa.ForeignKey("works.id"), nullable=False),
        sa.Column("date", sa.String(10), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sentence", sa.Text, nullable=False),
        sa.Column("capture_id", sa.String(26), nullable=False),
        sa.Column("target_id", sa.Integer, sa.ForeignKey("targets.id"), nullable=False),
        sa.Column("reminded_at", UTCDateTime),
    )
    op.create_index("ix_work_deadlines_date", "work_deadlines", ["date"])
    op.create_index("ix_work_deadlines_work", "work_deadlines", ["work_id"])
    op.create_table(
        "work_follows",
        sa.Column("work_id", sa.Integer, sa.ForeignKey("works.id"), primary_key=True),
        sa.Column("user", sa.String(64), primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "work_follows",
        "work_deadlines",
        "work_citations",
        "work_hash_counts",
        "work_sketches",
        "work_copies",
        "works",
    ):
        op.drop_table(table)
