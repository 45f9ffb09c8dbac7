"""Near-duplicate stories: per-item features and the LSH band table shared by every worker.

Additive: two new tables. Items stored before this migration have no features; they are simply
not near-duplicate candidates (exact matches by link and fingerprint still find them).

Revision ID: 0004
Revises: 0003e
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003e"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "item_features",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("shingles", sa.LargeBinary(), nullable=False),
        sa.Column("title_stems", sa.Text(), nullable=False),
        sa.Column("numbers", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["items.id"],
            name="fk_item_features_item_id_items",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", name="pk_item_features"),
    )
    op.create_table(
        "story_bands",
        sa.Column("band_key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("published_at", UTC_DATETIME, nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name="fk_story_bands_story_id_stories",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("band_key", "published_at", "story_id", name="pk_story_bands"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_story_bands_story_id", "story_bands", ["story_id"])


def downgrade() -> None:
    op.drop_index("ix_story_bands_story_id", table_name="story_bands")
    op.drop_table("story_bands")
    op.drop_table("item_features")
