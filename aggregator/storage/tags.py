"""Area tags with their reason (source or mention), and the set-based reads and writes that
reclassifying and explaining stored stories need."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aggregator.domain import AreaTag, ItemText, Retag
from aggregator.storage.schema import (
    VIA_MENTION,
    VIA_SOURCE,
    feeds,
    items,
    stories,
    story_areas,
    story_topics,
)
from aggregator.storage.sql import Copied, chunked, insert_ignore_copying


def join_categories(categories: Sequence[str]) -> str | None:
    """Categories as stored: one per line (a category never holds a line break after parsing)."""
    cleaned = [" ".join(c.split()) for c in categories]
    return "\n".join(c for c in cleaned if c) or None


def split_categories(stored: str | None) -> tuple[str, ...]:
    return tuple(stored.split("\n")) if stored else ()


STORY_TIME = Copied(stories, "id", "story_id", ("published_at",))
"""A tag row repeats its story's publication time (for the feed indexes); the insert copies it
from the story, so a feed's tags need no read of the times of stories stored before."""


def add_topics(conn: Connection, pairs: Iterable[tuple[int, str]]) -> None:
    """Insert-or-ignore (story, topic) tags, in order; a tag is never removed from a story, and
    a story that is gone gets none."""
    insert_ignore_copying(conn, story_topics, ["story_id", "topic"], sorted(set(pairs)), STORY_TIME)


def add_areas(conn: Connection, rows: Iterable[tuple[int, str, str]]) -> None:
    """Attach (story, area, via) tags; a source tag wins over a mention of the same area."""
    by_key: dict[tuple[int, str], str] = {}
    for story_id, area, via in rows:
        if by_key.get((story_id, area)) != VIA_SOURCE:
            by_key[(story_id, area)] = via
    tagged = [(s, a, v) for (s, a), v in sorted(by_key.items())]
    # One statement for both kinds (a key comes once): a source tag replaces a stored mention,
    # a mention leaves a stored tag as it is.
    insert_ignore_copying(
        conn,
        story_areas,
        ["story_id", "area", "via"],
        tagged,
        STORY_TIME,
        "ON CONFLICT (story_id, area) DO UPDATE SET via = excluded.via"
        f" WHERE excluded.via = '{VIA_SOURCE}'",
    )


def count_stories(conn: Connection, since: datetime | None) -> int:
    query = sa.select(sa.func.count()).select_from(stories)
    if since is not None:
        query = query.where(stories.c.published_at >= since)
    return int(conn.execute(query).scalar_one())


def story_ids_after(
    conn: Connection, since: datetime | None, after_id: int, limit: int
) -> list[int]:
    """The next `limit` story ids above `after_id` (keyset paging), published since `since`."""
    query = sa.select(stories.c.id).where(stories.c.id > after_id)
    if since is not None:
        query = query.where(stories.c.published_at >= since)
    return list(conn.execute(query.order_by(stories.c.id).limit(limit)).scalars())


def item_texts(conn: Connection, story_ids: Sequence[int]) -> dict[int, list[ItemText]]:
    """The items of each story, the lead (earliest) item first."""
    out: dict[int, list[ItemText]] = {story_id: [] for story_id in story_ids}
    for batch in chunked(story_ids):
        query = (
            sa.select(
                items.c.id,
                items.c.story_id,
                feeds.c.title.label("outlet"),
                items.c.title,
                items.c.summary,
                items.c.categories,
                feeds.c.district,
            )
            .join_from(items, feeds, items.c.feed_id == feeds.c.id)
            .where(items.c.story_id.in_(batch))
            .order_by(items.c.story_id, items.c.first_seen_at, items.c.id)
        )
        for row in conn.execute(query):
            out[row.story_id].append(
                ItemText(
                    row.id,
                    row.story_id,
                    row.outlet,
                    row.title,
                    row.summary,
                    split_categories(row.categories),
                    row.district,
                )
            )
    return out


def area_tags(conn: Connection, story_ids: Sequence[int]) -> dict[int, list[AreaTag]]:
    """The area tags of each story, source tags first, then by area slug."""
    out: dict[int, list[AreaTag]] = {story_id: [] for story_id in story_ids}
    for batch in chunked(story_ids):
        query = (
            sa.select(story_areas.c.story_id, story_areas.c.area, story_areas.c.via)
            .where(story_areas.c.story_id.in_(batch))
            .order_by(story_areas.c.story_id, story_areas.c.via.desc(), story_areas.c.area)
        )
        for story_id, area, via in conn.execute(query):
            out[story_id].append(AreaTag(area, via))
    return out


def retag(conn: Connection, retags: Sequence[Retag]) -> None:
    """Replace the topics and mention areas of these stories; source areas stay.

    A story deleted since its texts were read is skipped.
    """
    existing: set[int] = set()
    for batch in chunked(sorted({r.story_id for r in retags})):
        existing.update(
            conn.execute(sa.select(stories.c.id).where(stories.c.id.in_(batch))).scalars()
        )
    retags = [r for r in retags if r.story_id in existing]
    for ids in chunked(sorted(existing)):
        conn.execute(sa.delete(story_topics).where(story_topics.c.story_id.in_(ids)))
        conn.execute(
            sa.delete(story_areas).where(
                story_areas.c.story_id.in_(ids), story_areas.c.via == VIA_MENTION
            )
        )
    add_topics(conn, ((r.story_id, t) for r in retags for t in r.topics))
    add_areas(conn, [(r.story_id, a, VIA_MENTION) for r in retags for a in r.mentioned])
