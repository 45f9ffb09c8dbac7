"""What the outputs need from the database beyond stories: the search index and change tracking.

`index_terms` and `bump_version` run inside `writes.apply_plan`'s transaction; the reads serve
`q=`, the web's output cache and the WebSub notifier.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from aggregator.domain import Entry, ItemFeatures
from aggregator.search import story_terms
from aggregator.storage.schema import (
    SEARCH_INDEX,
    change_counter,
    search_docs,
    stories,
    story_areas,
    story_topics,
)
from aggregator.storage.sql import chunked, driver_rows, driver_send, insert_all

COUNTER_ID = 1


def doc_rows(
    entries: Iterable[tuple[int, Entry, ItemFeatures | None]],
) -> list[dict[str, object]]:
    """The `search_docs` rows of (story id, entry, features) triples; an entry without a word
    has none. Stems that came with the features (from a parse process) are not computed again."""
    rows: list[dict[str, object]] = []
    for story_id, entry, features in entries:
        terms = features.search_terms if features is not None else None
        if terms is None:
            terms = tuple(sorted(story_terms((entry.title, entry.summary))))
        if terms:
            rows.append({"story_id": story_id, "terms": " ".join(terms)})
    return rows


def index_terms(
    conn: Connection, entries: Iterable[tuple[int, Entry, ItemFeatures | None]]
) -> None:
    """Add a search doc of each entry's title and lead to its story (none is ever replaced)."""
    add_docs(conn, doc_rows(entries))


def add_docs(conn: Connection, rows: Sequence[dict[str, object]]) -> None:
    """Insert search docs and, on SQLite, their FTS5 entries (PostgreSQL's GIN index follows
    the table by itself)."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        insert_all(conn, search_docs, rows)
        return
    # SQLite numbers new rows after the largest id, and this transaction is the only writer.
    [(last,)] = driver_rows(conn, _LAST_DOC)
    insert_all(conn, search_docs, rows)
    driver_rows(conn, _INDEX_DOCS_AFTER, {"last": last})


_LAST_DOC = sa.select(sa.func.coalesce(sa.func.max(search_docs.c.id), 0))
_INDEX_DOCS_AFTER = sa.text(
    f"INSERT INTO {SEARCH_INDEX} (rowid, terms) SELECT id, terms FROM search_docs WHERE id > :last"
)


def remove_docs(conn: Connection, story_ids: Sequence[int]) -> None:
    """Delete these stories' search docs (on SQLite first their FTS5 entries, which an external
    content table must be told the old text of)."""
    if conn.dialect.name == "sqlite":
        conn.execute(
            sa.text(
                f"INSERT INTO {SEARCH_INDEX} ({SEARCH_INDEX}, rowid, terms) "
                "SELECT 'delete', id, terms FROM search_docs WHERE story_id IN :ids"
            ).bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": list(story_ids)},
        )
    conn.execute(sa.delete(search_docs).where(search_docs.c.story_id.in_(story_ids)))


def stories_with_any(dialect: str, forms: Collection[str]) -> sa.Select[Any]:
    """The ids of the stories having a search doc with one of `forms` (a word's stems)."""
    if dialect == "sqlite":
        # Each stem quoted: a bareword such as AND or NOT would be an operator.
        expression = " OR ".join(f'"{form}"' for form in sorted(forms))
        index = sa.table(SEARCH_INDEX, sa.column("rowid"))
        hits = sa.select(index.c.rowid).where(
            sa.literal_column(SEARCH_INDEX).op("MATCH")(expression)
        )
        return sa.select(search_docs.c.story_id).where(search_docs.c.id.in_(hits))
    # The expression as the GIN index has it (a literal separator, not a parameter), or the
    # planner will not use the index.
    stems = sa.func.string_to_array(search_docs.c.terms, sa.literal_column("' '"))
    wanted = sa.bindparam(None, sorted(forms), type_=postgresql.ARRAY(sa.Text))
    return sa.select(search_docs.c.story_id).where(stems.op("&&")(wanted))


def bump_version(conn: Connection) -> None:
    """Count one more change; the last statement of a write, so its row lock is held briefly."""
    driver_send(conn, _BUMP_VERSION, {"id": COUNTER_ID})


_BUMP_VERSION = sa.text(
    f"INSERT INTO {change_counter.name} (id, version) VALUES (:id, 1) "
    f"ON CONFLICT (id) DO UPDATE SET version = {change_counter.name}.version + 1"
)
"""One upsert, built once: it ends every write that stores an item."""


def version(conn: Connection) -> int:
    """The current change count: equal values mean no story changed in between."""
    found = conn.execute(
        sa.select(change_counter.c.version).where(change_counter.c.id == COUNTER_ID)
    ).scalar_one_or_none()
    return int(found or 0)


def changed_tags(conn: Connection, since: datetime) -> list[tuple[frozenset[str], frozenset[str]]]:
    """(areas, topics) of every story created or changed at or after `since`."""
    ids = list(conn.execute(sa.select(stories.c.id).where(stories.c.updated_at >= since)).scalars())
    areas: dict[int, set[str]] = defaultdict(set)
    topics: dict[int, set[str]] = defaultdict(set)
    for batch in chunked(ids):
        for sid, area in conn.execute(
            sa.select(story_areas.c.story_id, story_areas.c.area).where(
                story_areas.c.story_id.in_(batch)
            )
        ):
            areas[sid].add(area)
        for sid, topic in conn.execute(
            sa.select(story_topics.c.story_id, story_topics.c.topic).where(
                story_topics.c.story_id.in_(batch)
            )
        ):
            topics[sid].add(topic)
    return [(frozenset(areas[sid]), frozenset(topics[sid])) for sid in ids]
