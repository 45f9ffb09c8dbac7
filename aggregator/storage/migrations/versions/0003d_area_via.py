"""Record why an area is attached to a story: its source's district or a mention in its text.

`story_areas.via` is 'source' (an outlet of the area carried the story) or 'mention' (the
story's text names the area). Existing rows all came from sources, hence the default.
`items.categories` keeps the feed's own <category> values (one per line), so reclassifying
and explaining can map them to topics later.

Revision ID: 0003d
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003d"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("story_areas") as batch:
        batch.add_column(sa.Column("via", sa.String(16), nullable=False, server_default="source"))
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("categories", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("categories")
    with op.batch_alter_table("story_areas") as batch:
        batch.drop_column("via")
