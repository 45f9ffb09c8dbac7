"""Outputs: a stem index for `q=`, keyset-paging and change indexes, and a change counter.

`story_terms` holds the stems of each story's words (title and lead of every item), so a
full-text filter is an index lookup; existing stories are indexed here. `change_counter` is
one row whose version grows with every applied change, so the web can keep rendered outputs
in memory and know when to drop them.

Revision ID: 0003e
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from aggregator.search import story_terms

revision = "0003e"
down_revision = "0003a"
branch_labels = None
depends_on = None

BATCH = 2000


def upgrade() -> None:
    op.create_index("ix_stories_published_at_id", "stories", ["published_at", "id"])
    op.create_index("ix_stories_updated_at", "stories", ["updated_at"])
    op.create_table(
        "story_terms",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name="fk_story_terms_story_id_stories",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("term", "story_id", name="pk_story_terms"),
    )
    op.create_index("ix_story_terms_story_id", "story_terms", ["story_id"])
    op.create_table(
        "change_counter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_change_counter"),
    )
    counter = sa.table("change_counter", sa.column("id", sa.Integer), sa.column("version"))
    op.get_bind().execute(sa.insert(counter).values(id=1, version=0))
    _index_existing_stories()


def _index_existing_stories() -> None:
    conn = op.get_bind()
    items = sa.table(
        "items",
        sa.column("id", sa.Integer),
        sa.column("story_id", sa.Integer),
        sa.column("title", sa.Text),
        sa.column("summary", sa.Text),
    )
    terms = sa.table("story_terms", sa.column("term"), sa.column("story_id"))
    last_id = 0
    while True:
        rows = conn.execute(
            sa.select(items.c.id, items.c.story_id, items.c.title, items.c.summary)
            .where(items.c.id > last_id)
            .order_by(items.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last_id = rows[-1].id
        found: dict[int, set[str]] = defaultdict(set)
        for row in rows:
            found[row.story_id] |= story_terms((row.title, row.summary))
        existing = {
            (term, story_id)
            for term, story_id in conn.execute(
                sa.select(terms.c.term, terms.c.story_id).where(terms.c.story_id.in_(sorted(found)))
            )
        }
        new = sorted({(t, sid) for sid, stems in found.items() for t in stems} - existing)
        if new:
            conn.execute(sa.insert(terms), [{"term": t, "story_id": sid} for t, sid in new])


def downgrade() -> None:
    op.drop_table("change_counter")
    op.drop_index("ix_story_terms_story_id", table_name="story_terms")
    op.drop_table("story_terms")
    op.drop_index("ix_stories_updated_at", table_name="stories")
    op.drop_index("ix_stories_published_at_id", table_name="stories")
