"""Read queries: dedupe candidates for a feed and stories with their sources and tags."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aggregator.domain import Candidates, Entry, ExistingItem, Story, StoryQuery, StorySource
from aggregator.storage.schema import (
    VIA_SOURCE,
    feeds,
    items,
    stories,
    story_areas,
    story_terms,
    story_topics,
)
from aggregator.storage.sql import bounded, chunked


def stored_items(
    conn: Connection, feed_id: int, entries: Sequence[Entry]
) -> dict[str, ExistingItem]:
    """This feed's stored items of these entries, by entry key."""
    found: dict[str, ExistingItem] = {}
    keys = {bounded(entry.key): entry.key for entry in entries}
    for batch in chunked(sorted(keys)):
        query = sa.select(items.c.entry_key, items.c.id, items.c.story_id, items.c.content_hash)
        query = query.where(items.c.feed_id == feed_id, items.c.entry_key.in_(batch))
        for key, item_id, story_id, content_hash in conn.execute(query):
            found[keys[key]] = ExistingItem(item_id, story_id, content_hash)
    return found


def candidates(conn: Connection, feed_id: int, entries: Sequence[Entry]) -> Candidates:
    """This feed's items by entry key and any feed's stories by link and by fingerprint."""
    found = stored_items(conn, feed_id, entries)
    links = {bounded(entry.link): entry.link for entry in entries if entry.link}
    prints = {
        bounded(entry.fingerprint): entry.fingerprint for entry in entries if entry.fingerprint
    }
    return Candidates(
        items=found,
        stories_by_link=_stories_by(conn, items.c.link_key, links),
        stories_by_fingerprint=_stories_by(conn, items.c.fingerprint, prints),
    )


def _stories_by(
    conn: Connection, column: sa.Column[str], values: Mapping[str, str]
) -> dict[str, int]:
    """For each value (stored form to caller's form), the story of the earliest item with it."""
    result: dict[str, int] = {}
    for batch in chunked(sorted(values)):
        query = (
            sa.select(column, items.c.story_id)
            .where(column.in_(batch))
            .order_by(items.c.first_seen_at.desc(), items.c.id.desc())
        )
        # Rows come latest first, so the earliest item's story is written last and wins.
        result.update((values[value], story_id) for value, story_id in conn.execute(query))
    return result


def story_ids(conn: Connection, query: StoryQuery) -> list[int]:
    """The ids of the newest stories matching the query's filters, newest first."""
    select = sa.select(stories.c.id)
    if query.areas is not None:
        conditions = [
            story_areas.c.story_id == stories.c.id,
            story_areas.c.area.in_(sorted(query.areas)),
        ]
        if query.own_sources:
            conditions.append(story_areas.c.via == VIA_SOURCE)
        select = select.where(sa.exists().where(*conditions))
    if query.topics is not None:
        select = select.where(
            sa.exists().where(
                story_topics.c.story_id == stories.c.id,
                story_topics.c.topic.in_(sorted(query.topics)),
            )
        )
    for forms in query.words:
        # Driven by the term index: the stories having one of this word's stems.
        select = select.where(
            stories.c.id.in_(sa.select(story_terms.c.story_id).where(story_terms.c.term.in_(forms)))
        )
    if query.since is not None:
        select = select.where(stories.c.published_at >= query.since)
    if query.before is not None:
        select = select.where(_older_than(*query.before))
    limit = max(query.limit, 0)
    if query.after is not None:
        # The page just newer than the cursor: walk up from it, then hand it back newest first.
        published, story_id = query.after
        newer = sa.or_(
            stories.c.published_at > published,
            sa.and_(stories.c.published_at == published, stories.c.id > story_id),
        )
        select = select.where(newer).order_by(stories.c.published_at, stories.c.id)
        return list(reversed(conn.execute(select.limit(limit)).scalars().all()))
    select = select.order_by(stories.c.published_at.desc(), stories.c.id.desc())
    return list(conn.execute(select.limit(limit)).scalars())


def _older_than(published: datetime, story_id: int) -> sa.ColumnElement[bool]:
    return sa.or_(
        stories.c.published_at < published,
        sa.and_(stories.c.published_at == published, stories.c.id < story_id),
    )


def load_stories(conn: Connection, ids: Sequence[int]) -> list[Story]:
    """Stories in the order of `ids`, each with sources, areas and topics, in four queries."""
    if not ids:
        return []
    rows: dict[int, sa.Row[tuple[object, ...]]] = {}
    sources: dict[int, list[StorySource]] = defaultdict(list)
    areas: dict[int, list[str]] = defaultdict(list)
    topics: dict[int, list[str]] = defaultdict(list)
    for batch in chunked(ids):
        rows.update(
            (row.id, row) for row in conn.execute(sa.select(stories).where(stories.c.id.in_(batch)))
        )
        _load_sources(conn, batch, sources)
        _load_tags(conn, story_areas.c.story_id, story_areas.c.area, batch, areas)
        _load_tags(conn, story_topics.c.story_id, story_topics.c.topic, batch, topics)
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
            sources=tuple(sources[story_id]),
            areas=tuple(areas[story_id]),
            topics=tuple(topics[story_id]),
            first_seen=row.first_seen_at,
        )
        for story_id in ids
        if (row := rows.get(story_id)) is not None
    ]


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


def _load_tags(
    conn: Connection,
    story_column: sa.Column[int],
    tag_column: sa.Column[str],
    ids: list[int],
    out: dict[int, list[str]],
) -> None:
    query = sa.select(story_column, tag_column).where(story_column.in_(ids)).order_by(tag_column)
    for story_id, tag in conn.execute(query):
        out[story_id].append(tag)
