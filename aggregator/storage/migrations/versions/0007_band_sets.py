"""Band keys as one packed row per item (`band_sets`) instead of one index row per key.

Lookups by band key moved to an in-memory index per process (aggregator.bandindex), caught up
from `band_sets` by id; `story_bands`' random-order primary key cost a cold feed ~1,260 page
writes. Rows are converted both ways: the band keys of a story published at one time become
one set. Figures in docs/design-notes.md.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

BATCH = 5_000

OLD = sa.table(
    "story_bands",
    sa.column("band_key", sa.BigInteger),
    sa.column("published_at", sa.BigInteger),
    sa.column("story_id", sa.Integer),
)
NEW = sa.table(
    "band_sets",
    sa.column("story_id", sa.Integer),
    sa.column("published_at", sa.BigInteger),
    sa.column("band_keys", sa.LargeBinary),
)


def upgrade() -> None:
    op.create_table(
        "band_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.BigInteger(), nullable=False),
        sa.Column("band_keys", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_band_sets"),
        sqlite_autoincrement=True,
    )
    conn = op.get_bind()
    query = sa.select(OLD.c.story_id, OLD.c.published_at, OLD.c.band_key).order_by(
        OLD.c.story_id, OLD.c.published_at, OLD.c.band_key
    )
    batch: list[dict[str, object]] = []
    for story_id, published, keys in _groups(conn.execute(query)):
        packed = b"".join(key.to_bytes(8, "little") for key in keys)
        batch.append({"story_id": story_id, "published_at": published, "band_keys": packed})
        if len(batch) >= BATCH:
            conn.execute(sa.insert(NEW), batch)
            batch = []
    if batch:
        conn.execute(sa.insert(NEW), batch)
    op.create_index("ix_band_sets_story_id", "band_sets", ["story_id"])
    op.create_index("ix_band_sets_published_at", "band_sets", ["published_at"])
    op.drop_index("ix_story_bands_story_id", table_name="story_bands")
    op.drop_table("story_bands")


def _groups(rows: sa.CursorResult[tuple[int, int, int]]) -> Iterator[tuple[int, int, list[int]]]:
    """(story id, time, keys) of consecutive rows sharing story and time."""
    current: tuple[int, int] | None = None
    keys: list[int] = []
    for story_id, published, key in rows:
        if (story_id, published) != current:
            if current is not None:
                yield (*current, keys)
            current, keys = (story_id, published), []
        keys.append(key)
    if current is not None:
        yield (*current, keys)


def downgrade() -> None:
    op.create_table(
        "story_bands",
        sa.Column("band_key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("published_at", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("band_key", "published_at", "story_id", name="pk_story_bands"),
        sqlite_with_rowid=False,
    )
    conn = op.get_bind()
    query = sa.select(NEW.c.story_id, NEW.c.published_at, NEW.c.band_keys)
    rows = {
        (int.from_bytes(packed[i : i + 8], "little"), published, story_id)
        for story_id, published, packed in conn.execute(query)
        for i in range(0, len(packed), 8)
    }
    values = [{"band_key": k, "published_at": t, "story_id": s} for k, t, s in sorted(rows)]
    for start in range(0, len(values), BATCH):
        conn.execute(sa.insert(OLD), values[start : start + BATCH])
    op.create_index("ix_story_bands_story_id", "story_bands", ["story_id"])
    op.drop_index("ix_band_sets_published_at", table_name="band_sets")
    op.drop_index("ix_band_sets_story_id", table_name="band_sets")
    op.drop_table("band_sets")
