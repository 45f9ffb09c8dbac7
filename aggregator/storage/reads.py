"""Read queries: dedupe candidates for a feed and stories with their sources and tags."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aggregator.domain import Candidates, Entry, ExistingItem, Story, StoryQuery, StorySource
from aggregator.storage import outputs
from aggregator.storage.schema import (
    VIA_SOURCE,
    feeds,
    items,
    stories,
    story_areas,
    story_topics,
)
from aggregator.storage.sql import Request, bounded, chunked, driver_batch


def estimated_items(conn: Connection) -> int:
    """PostgreSQL's estimate of the items table's size; 0 if it was never analyzed."""
    found = conn.execute(sa.text("SELECT reltuples FROM pg_class WHERE relname = 'items'"))
    return max(0, int(found.scalar() or 0))  # -1: never analyzed


def stored_items(
    conn: Connection, feed_id: int, entries: Sequence[Entry]
) -> Mapping[str, ExistingItem]:
    """This feed's stored items of these entries, by entry key."""
    return candidates(conn, feed_id, entries, stories=False).items


def candidates(
    conn: Connection, feed_id: int, entries: Sequence[Entry], *, stories: bool = True
) -> Candidates:
    """This feed's items by entry key and (unless `stories` is false) any feed's stories by
    link and by fingerprint."""
    reads = ExactReads(feed_id, entries, stories=stories)
    return reads.candidates(driver_batch(conn, reads.requests))


class ExactReads:
    """The reads of `candidates` as requests, so that a caller can batch them with its own
    (`sql.driver_batch`), and their rows assembled."""

    def __init__(self, feed_id: int, entries: Sequence[Entry], *, stories: bool = True) -> None:
        self._keys = {bounded(entry.key): entry.key for entry in entries}
        self._links = {bounded(e.link): e.link for e in entries if e.link and stories}
        self._prints = {
            bounded(e.fingerprint): e.fingerprint for e in entries if e.fingerprint and stories
        }
        self._counts: list[int] = []
        self.requests: list[Request] = []
        for statement, name, values, fixed in (
            (_STORED_ITEMS, "keys", self._keys, {"feed_id": feed_id}),
            (_STORIES_BY_LINK, "values", self._links, {}),
            (_STORIES_BY_FINGERPRINT, "values", self._prints, {}),
        ):
            batches = list(chunked(sorted(values)))
            self._counts.append(len(batches))
            self.requests += [(statement, {**fixed, name: batch}) for batch in batches]

    def candidates(self, results: Sequence[list[tuple[Any, ...]]]) -> Candidates:
        """The candidates from the rows of `requests`, in their order."""
        items_end = self._counts[0]
        links_end = items_end + self._counts[1]
        found: dict[str, ExistingItem] = {}
        for rows in results[:items_end]:
            for key, item_id, story_id, content_hash in rows:
                found[self._keys[key]] = ExistingItem(item_id, story_id, content_hash)
        return Candidates(
            items=found,
            stories_by_link=_stories_by(self._links, results[items_end:links_end]),
            stories_by_fingerprint=_stories_by(self._prints, results[links_end:]),
        )


# The statements read for every ingested feed are built once: building a select with its
# clauses costs more than SQLite takes to run it (~0.2 ms against ~0.01 ms for 30 keys).
_STORED_ITEMS = sa.select(
    items.c.entry_key, items.c.id, items.c.story_id, items.c.content_hash
).where(
    items.c.feed_id == sa.bindparam("feed_id"),
    items.c.entry_key.in_(sa.bindparam("keys", expanding=True)),
)


def _stories_by_statement(column: sa.Column[str]) -> sa.Select[Any]:
    """The items with one of the `values` in `column`, latest first."""
    return (
        sa.select(column, items.c.story_id)
        .where(column.in_(sa.bindparam("values", expanding=True)))
        .order_by(items.c.first_seen_at.desc(), items.c.id.desc())
    )


_STORIES_BY_LINK = _stories_by_statement(items.c.link_key)
_STORIES_BY_FINGERPRINT = _stories_by_statement(items.c.fingerprint)


def _stories_by(
    values: Mapping[str, str], results: Sequence[list[tuple[Any, ...]]]
) -> dict[str, int]:
    """For each value (stored form to caller's form), the story of the earliest item with it."""
    found: dict[str, int] = {}
    for rows in results:
        # Rows come latest first, so the earliest item's story is written last and wins.
        found.update((values[value], story_id) for value, story_id in rows)
    return found


def stories_page(conn: Connection, query: StoryQuery) -> list[Story]:
    """The newest stories matching the query's filters, newest first, in two queries.

    A feed of areas or topics walks each tag's `(tag, published_at, story_id)` index and merges
    the walks; a page then costs the same at a thousand stories and at a million. The page's
    stories are read joined to that walk, so their ids make no extra round trip.
    """
    page = _page(query, conn.dialect.name)
    if page is None:
        return []
    ranked = page.subquery()
    found = conn.execute(_STORIES.join_from(stories, ranked, stories.c.id == ranked.c.story_id))
    rows = sorted(found, key=lambda row: (row.published_at, row.id), reverse=True)
    return _build(conn, rows)


def _page(query: StoryQuery, dialect: str) -> sa.Select[Any] | None:
    """(story_id, published_at) of the page's stories; None when no story can match."""
    limit = max(query.limit, 0)
    newest_first = query.after is None
    if query.areas is not None or query.topics is not None:
        walks = _tag_walks(query, limit, newest_first, dialect)
        if not walks:
            return None
        merged = sa.union_all(*walks).subquery()
        # A story tagged with two of the areas comes up in two walks, at the same place.
        select = sa.select(merged.c.story_id, merged.c.published_at).distinct()
        ids, published = merged.c.story_id, merged.c.published_at
    else:
        ids, published = stories.c.id, stories.c.published_at
        select = _narrowed(
            sa.select(ids.label("story_id"), published),
            ids,
            published,
            query,
            topics=False,
            dialect=dialect,
        )
    # The page just newer than an `after` cursor is read upwards from it.
    order = (published.desc(), ids.desc()) if newest_first else (published, ids)
    return select.order_by(*order).limit(limit)


def _tag_walks(
    query: StoryQuery, limit: int, newest_first: bool, dialect: str
) -> list[sa.Select[Any]]:
    """Per area (or, without areas, per topic): its first `limit` matching stories in order.

    The merged walks hold the page: a story above the `limit`-th distinct one is above it in
    every walk it appears in.
    """
    if query.areas is not None:
        table, column, values = story_areas, story_areas.c.area, query.areas
    else:
        assert query.topics is not None
        table, column, values = story_topics, story_topics.c.topic, query.topics
    ids, published = table.c.story_id, table.c.published_at
    order = (published.desc(), ids.desc()) if newest_first else (published, ids)
    walks = []
    for value in sorted(values):
        walk = sa.select(ids, published).where(column == value)
        if query.areas is not None and query.own_sources:
            walk = walk.where(table.c.via == VIA_SOURCE)
        topics = query.areas is not None
        walk = _narrowed(walk, ids, published, query, topics=topics, dialect=dialect)
        # SQLite takes ORDER BY and LIMIT inside UNION ALL only in a subquery.
        inner = walk.order_by(*order).limit(limit).subquery()
        walks.append(sa.select(inner.c.story_id, inner.c.published_at))
    return walks


def _narrowed(
    select: sa.Select[Any],
    ids: sa.ColumnElement[int],
    published: sa.ColumnElement[datetime],
    query: StoryQuery,
    *,
    topics: bool,
    dialect: str,
) -> sa.Select[Any]:
    """`select` with the query's topic (when `topics`), word, since and cursor filters."""
    if topics and query.topics is not None:
        select = select.where(
            sa.exists().where(
                story_topics.c.story_id == ids, story_topics.c.topic.in_(sorted(query.topics))
            )
        )
    for forms in query.words:
        # Driven by the search index: the stories having one of this word's stems.
        select = select.where(ids.in_(outputs.stories_with_any(dialect, forms)))
    if query.since is not None:
        select = select.where(published >= query.since)
    if query.before is not None:
        at, story_id = query.before
        select = select.where(sa.or_(published < at, sa.and_(published == at, ids < story_id)))
    if query.after is not None:
        at, story_id = query.after
        select = select.where(sa.or_(published > at, sa.and_(published == at, ids > story_id)))
    return select


def load_stories(conn: Connection, ids: Sequence[int]) -> list[Story]:
    """Stories in the order of `ids`, each with sources, areas and topics, in two queries."""
    rows: dict[int, sa.Row[Any]] = {}
    for batch in chunked(ids):
        rows.update((row.id, row) for row in conn.execute(_STORIES.where(stories.c.id.in_(batch))))
    return _build(conn, [rows[story_id] for story_id in ids if story_id in rows])


def _build(conn: Connection, rows: Sequence[sa.Row[Any]]) -> list[Story]:
    """Stories from `_STORIES` rows, in their order, with their sources."""
    sources: dict[int, list[StorySource]] = defaultdict(list)
    for batch in chunked([row.id for row in rows]):
        _load_sources(conn, batch, sources)
    return [
        Story(
            id=row.id,
            key=row.key,
            title=row.title,
            link=row.link,
            summary=row.summary,
            content_html=row.content_html,
            published=row.published_at,
            updated=row.updated_at,
            sources=tuple(sources[row.id]),
            areas=_split_tags(row.area_tags),
            topics=_split_tags(row.topic_tags),
            first_seen=row.first_seen_at,
        )
        for row in rows
    ]


TAG_SEPARATOR = "\n"
"""Joins a story's tags in one column; slugs never hold a line break."""


def _joined_tags(
    story_column: sa.Column[int], tag_column: sa.Column[str]
) -> sa.ScalarSelect[str | None]:
    joined = sa.func.aggregate_strings(tag_column, TAG_SEPARATOR)
    return sa.select(joined).where(story_column == stories.c.id).scalar_subquery()


# A story row with its tags joined into one string each: a round trip less per tag table.
_STORIES = sa.select(
    stories,
    _joined_tags(story_areas.c.story_id, story_areas.c.area).label("area_tags"),
    _joined_tags(story_topics.c.story_id, story_topics.c.topic).label("topic_tags"),
)


def _split_tags(joined: str | None) -> tuple[str, ...]:
    """A story's tags in slug order (the aggregate's own order is not defined on SQLite)."""
    return tuple(sorted(joined.split(TAG_SEPARATOR))) if joined else ()


def _load_sources(conn: Connection, ids: list[int], out: dict[int, list[StorySource]]) -> None:
    query = (
        sa.select(items.c.story_id, feeds.c.title, feeds.c.url, items.c.link, feeds.c.district)
        .join_from(items, feeds, items.c.feed_id == feeds.c.id)
        .where(items.c.story_id.in_(ids))
        .order_by(items.c.first_seen_at, items.c.id)
    )
    for story_id, outlet, feed_url, link, district in conn.execute(query):
        source = StorySource(outlet=outlet, feed_url=feed_url, link=link, district=district)
        if source not in out[story_id]:
            out[story_id].append(source)
