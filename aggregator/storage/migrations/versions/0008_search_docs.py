"""The search index as one stems document per stored entry (`search_docs`) instead of one
(term, story) row per stem (`story_terms`).

SQLite indexes the documents with FTS5 (`search_terms`, external content), PostgreSQL with a
GIN index on the stems as an array: a cold feed's ~600 random B-tree inserts become ~30
sequential rows. Existing stems are converted both ways: a story's stems become one document.
Figures in docs/design-notes.md.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BATCH = 5_000
SEARCH_INDEX = "search_terms"
GIN_INDEX = "ix_search_docs_terms_gin"

OLD = sa.table("story_terms", sa.column("term", sa.String), sa.column("story_id", sa.Integer))
NEW = sa.table(
    "search_docs",
    sa.column("id", sa.Integer),
    sa.column("story_id", sa.Integer),
    sa.column("terms", sa.Text),
)


def upgrade() -> None:
    op.create_table(
        "search_docs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_search_docs"),
    )
    conn = op.get_bind()
    query = sa.select(OLD.c.story_id, OLD.c.term).order_by(OLD.c.story_id, OLD.c.term)
    batch: list[dict[str, object]] = []
    for story_id, terms in _by_story(conn.execute(query)):
        batch.append({"story_id": story_id, "terms": " ".join(terms)})
        if len(batch) >= BATCH:
            conn.execute(sa.insert(NEW), batch)
            batch = []
    if batch:
        conn.execute(sa.insert(NEW), batch)
    op.create_index("ix_search_docs_story_id", "search_docs", ["story_id"])
    if conn.dialect.name == "sqlite":
        op.execute(
            f"CREATE VIRTUAL TABLE {SEARCH_INDEX} USING fts5(terms, content='search_docs',"
            " content_rowid='id', detail=none,"
            " tokenize=\"unicode61 remove_diacritics 0 tokenchars '_'\")"
        )
        op.execute(f"INSERT INTO {SEARCH_INDEX} ({SEARCH_INDEX}) VALUES ('rebuild')")
    else:
        op.execute(
            f"CREATE INDEX {GIN_INDEX} ON search_docs USING gin (string_to_array(terms, ' '))"
        )
    op.drop_index("ix_story_terms_story_id", table_name="story_terms")
    op.drop_table("story_terms")


def _by_story(rows: sa.CursorResult[tuple[int, str]]) -> Iterator[tuple[int, list[str]]]:
    """(story id, its terms) of rows ordered by story."""
    current: int | None = None
    terms: list[str] = []
    for story_id, term in rows:
        if story_id != current:
            if current is not None:
                yield current, terms
            current, terms = story_id, []
        terms.append(term)
    if current is not None:
        yield current, terms


def downgrade() -> None:
    op.create_table(
        "story_terms",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("story_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("term", "story_id", name="pk_story_terms"),
    )
    conn = op.get_bind()
    rows = {
        (term, story_id)
        for story_id, terms in conn.execute(sa.select(NEW.c.story_id, NEW.c.terms))
        for term in terms.split()
    }
    values = [{"term": t, "story_id": s} for t, s in sorted(rows)]
    for start in range(0, len(values), BATCH):
        conn.execute(sa.insert(OLD), values[start : start + BATCH])
    op.create_index("ix_story_terms_story_id", "story_terms", ["story_id"])
    if conn.dialect.name == "sqlite":
        op.execute(f"DROP TABLE {SEARCH_INDEX}")
    else:
        op.drop_index(GIN_INDEX, table_name="search_docs")
    op.drop_index("ix_search_docs_story_id", table_name="search_docs")
    op.drop_table("search_docs")
