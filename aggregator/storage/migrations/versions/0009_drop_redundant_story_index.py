"""Drop `ix_stories_published_at`: `ix_stories_published_at_id` (published_at, id) serves every
query it served, and each new story paid for both.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_stories_published_at", table_name="stories")


def downgrade() -> None:
    op.create_index("ix_stories_published_at", "stories", ["published_at"])
