"""Tag rows (`story_areas`, `story_topics`) lose their foreign key to `stories`, as band sets
and search docs did: PostgreSQL checked each row's story by a trigger, which doubled the cost
of inserting tags (60,000 area rows: 0.43 s without the key, 0.86-0.93 s with it), about
100 rows per cold feed. `writes._delete_stories`, the one place stories are deleted, now
deletes their tags too.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TAG_TABLES = ("story_areas", "story_topics")


def upgrade() -> None:
    for table in TAG_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"fk_{table}_story_id_stories", type_="foreignkey")


def downgrade() -> None:
    for table in TAG_TABLES:
        # A tag of a story deleted meanwhile would break the key: it goes first.
        op.execute(f"DELETE FROM {table} WHERE story_id NOT IN (SELECT id FROM stories)")
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(
                f"fk_{table}_story_id_stories",
                "stories",
                ["story_id"],
                ["id"],
                ondelete="CASCADE",
            )
