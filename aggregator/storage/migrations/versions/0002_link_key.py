"""Index items by a bounded link key instead of the raw link.

PostgreSQL refuses B-tree entries over 2,704 bytes, so one very long link would fail a whole
feed; `link_key` holds the link, or its SHA-256 digest when longer than 600 characters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MAX_KEY_CHARS = 600


def _bounded(value: str) -> str:
    if len(value) <= MAX_KEY_CHARS:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("link_key", sa.Text(), nullable=True))
        batch.drop_index("ix_items_link")
        batch.create_index("ix_items_link_key", ["link_key"])
    items = sa.table(
        "items",
        sa.column("id", sa.Integer),
        sa.column("link", sa.Text),
        sa.column("link_key", sa.Text),
    )
    conn = op.get_bind()
    conn.execute(
        sa.update(items)
        .where(sa.func.length(items.c.link) <= MAX_KEY_CHARS)
        .values(link_key=items.c.link)
    )
    long_links = conn.execute(
        sa.select(items.c.id, items.c.link).where(sa.func.length(items.c.link) > MAX_KEY_CHARS)
    )
    for item_id, link in long_links.all():
        conn.execute(sa.update(items).where(items.c.id == item_id).values(link_key=_bounded(link)))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_index("ix_items_link_key")
        batch.drop_column("link_key")
        batch.create_index("ix_items_link", ["link"])
