"""Leaner derived index tables: band times in epoch seconds, no foreign keys on bands and stems.

`story_bands.published_at` becomes whole seconds since the epoch: on SQLite a timestamp is a
26-character text, most of a band row, so the big random-order index shrinks to about half.
`story_bands` and `story_terms` lose their foreign key to `stories`: PostgreSQL ran a trigger
checking it for each of a cold feed's ~1,900 rows; the one code path that deletes stories
deletes their rows. Figures in docs/design-notes.md. PostgreSQL alters in place; SQLite copies
each table into a new one (its ALTER can change neither a type nor a constraint).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
TO_SECONDS_SQLITE = "CAST(strftime('%s', published_at) AS INTEGER)"
# The text form SQLAlchemy's SQLite DATETIME writes and reads.
TO_TIMESTAMP_SQLITE = "strftime('%Y-%m-%d %H:%M:%f000', published_at, 'unixepoch')"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE story_bands ALTER COLUMN published_at TYPE BIGINT"
            " USING floor(extract(epoch FROM published_at))::bigint"
        )
        for table in ("story_bands", "story_terms"):
            op.drop_constraint(f"fk_{table}_story_id_stories", table, type_="foreignkey")
        return
    _rebuild_bands(sa.BigInteger(), TO_SECONDS_SQLITE, with_key=False)
    _rebuild_terms(with_key=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE story_bands ALTER COLUMN published_at TYPE TIMESTAMP WITH TIME ZONE"
            " USING to_timestamp(published_at)"
        )
        for table in ("story_bands", "story_terms"):
            op.create_foreign_key(
                f"fk_{table}_story_id_stories",
                table,
                "stories",
                ["story_id"],
                ["id"],
                ondelete="CASCADE",
            )
        return
    _rebuild_bands(TIMESTAMP, TO_TIMESTAMP_SQLITE, with_key=True)
    _rebuild_terms(with_key=True)


def _story_key(table: str, with_key: bool) -> list[sa.ForeignKeyConstraint]:
    if not with_key:
        return []
    return [
        sa.ForeignKeyConstraint(
            ["story_id"], ["stories.id"], name=f"fk_{table}_story_id_stories", ondelete="CASCADE"
        )
    ]


def _rebuild_bands(published: sa.types.TypeEngine[object], converted: str, with_key: bool) -> None:
    columns = [
        sa.Column("band_key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("published_at", published, autoincrement=False, nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("band_key", "published_at", "story_id", name="pk_story_bands"),
        *_story_key("story_bands", with_key),
    ]
    _copy_sqlite("story_bands", columns, f"band_key, {converted}, story_id", rowid=False)


def _rebuild_terms(with_key: bool) -> None:
    columns = [
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term", "story_id", name="pk_story_terms"),
        *_story_key("story_terms", with_key),
    ]
    _copy_sqlite("story_terms", columns, "term, story_id", rowid=True)


def _copy_sqlite(table: str, columns: list[sa.SchemaItem], select: str, rowid: bool) -> None:
    """Replace SQLite `table` by one with `columns`, copying its rows through `select`."""
    op.create_table(f"{table}_new", *columns, sqlite_with_rowid=rowid)
    names = ", ".join(c.name for c in columns if isinstance(c, sa.Column))
    op.execute(f"INSERT INTO {table}_new ({names}) SELECT {select} FROM {table} ORDER BY 1, 2")
    op.drop_index(f"ix_{table}_story_id", table_name=table)
    op.drop_table(table)
    op.rename_table(f"{table}_new", table)
    op.create_index(f"ix_{table}_story_id", table, ["story_id"])
