"""What the outputs need from the database beyond stories: the stem index and change tracking.

`index_terms` and `bump_version` run inside `writes.apply_plan`'s transaction; the reads serve
the web's output cache and the WebSub notifier.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aggregator.domain import Entry
from aggregator.search import story_terms
from aggregator.storage.schema import change_counter, stories, story_areas, story_topics
from aggregator.storage.schema import story_terms as terms
from aggregator.storage.sql import chunked, insert_ignore, insert_ignore_tuples

COUNTER_ID = 1


TERM_COLUMNS = ["term", "story_id"]


def term_rows(entries: Iterable[tuple[int, Entry]]) -> list[tuple[str, int]]:
    """The `story_terms` rows (term, story id) of (story id, entry) pairs: each once, sorted."""
    return sorted(
        {
            (term, story_id)
            for story_id, entry in entries
            for term in story_terms((entry.title, entry.summary))
        }
    )


def index_terms(conn: Connection, entries: Iterable[tuple[int, Entry]]) -> None:
    """Add the stems of each entry's title and lead to its story; a stem is never removed."""
    insert_ignore_tuples(conn, terms, TERM_COLUMNS, term_rows(entries))


def bump_version(conn: Connection) -> None:
    """Count one more change; the last statement of a write, so its row lock is held briefly."""
    updated = conn.execute(
        sa.update(change_counter)
        .where(change_counter.c.id == COUNTER_ID)
        .values(version=change_counter.c.version + 1)
    )
    if updated.rowcount == 0:
        conn.execute(
            insert_ignore(conn, change_counter, ["id"], [{"id": COUNTER_ID, "version": 1}])
        )


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
