"""Tag rows carry their story's publication time, indexed with the tag: a district or topic
feed is then a walk down one index, whatever the number of stories.

Before, a feed walked every story newest first and probed the tag table for each, so a district
with 0.4 % of the stories cost some 12,000 probes per page at a million stories. A story's
publication time never changes after insert, so the copy cannot go stale. The indexes on the tag
alone are prefixes of the new ones and are dropped.

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

TAG_TABLES = (("story_areas", "area"), ("story_topics", "topic"))


def upgrade() -> None:
    for table, tag in TAG_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        op.execute(
            f"UPDATE {table} SET published_at ="
            f" (SELECT published_at FROM stories WHERE stories.id = {table}.story_id)"
        )
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "published_at", existing_type=sa.DateTime(timezone=True), nullable=False
            )
            batch.drop_index(f"ix_{table}_{tag}")
            batch.create_index(f"ix_{table}_{tag}_published_at", [tag, "published_at", "story_id"])


def downgrade() -> None:
    for table, tag in TAG_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_{tag}_published_at")
            batch.create_index(f"ix_{table}_{tag}", [tag])
            batch.drop_column("published_at")
