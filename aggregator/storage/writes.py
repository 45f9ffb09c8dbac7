"""Applying a deduplication plan: new stories and items, tags, changed items; all set-based."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aggregator.domain import ApplyResult, ChangedItem, Entry, NewItem, UpdatePlan
from aggregator.storage import near, outputs, tags
from aggregator.storage.schema import (
    DERIVED_TABLES,
    VIA_MENTION,
    VIA_SOURCE,
    items,
    search_docs,
    stories,
)
from aggregator.storage.sql import (
    bounded,
    chunked,
    driver_send,
    insert_ignore_returning,
)

ENTRY_COLUMNS = (
    "guid",
    "link",
    "link_key",
    "fingerprint",
    "title",
    "summary",
    "content_html",
    "author",
    "published_at",
    "content_hash",
    "categories",
)
"""The item columns an entry sets, on insert and when it changes upstream."""


def apply_plan(conn: Connection, feed_id: int, plan: UpdatePlan, now: datetime) -> ApplyResult:
    """Apply `plan` inside the caller's transaction and count what it changed."""
    story_ids, created = _resolve_stories(conn, plan.new_items, now)
    inserted_ids = _insert_items(conn, feed_id, plan.new_items, story_ids, now)
    inserted = [(item, story_id) for item, story_id, _ in inserted_ids]
    touched = {story_id for _, story_id in inserted}
    # A story we created whose every item already existed (a concurrent duplicate) is dropped,
    # so every story keeps at least one item.
    orphans = created - touched
    _delete_stories(conn, orphans)
    # Reads end here: the writes below wait for nothing (`sql.pipelined`).
    updated = _apply_changes(conn, feed_id, plan.changed_items, now)
    _touch_stories(conn, touched - created, now)
    tags.add_topics(conn, [(sid, topic) for item, sid in inserted for topic in item.topics])
    tags.add_areas(
        conn,
        [(sid, area, VIA_SOURCE) for item, sid in inserted for area in item.areas]
        + [(sid, area, VIA_MENTION) for item, sid in inserted for area in item.mentioned],
    )
    near.store_new(conn, inserted_ids)
    outputs.index_terms(conn, [(sid, item.entry, item.features) for item, sid in inserted])
    if inserted or updated:
        outputs.bump_version(conn)
    return ApplyResult(
        new_items=len(inserted), new_stories=len(created - orphans), updated_items=updated
    )


def _story_row(key: str, entry: Entry, now: datetime) -> dict[str, object]:
    return {
        "key": bounded(key),
        "title": entry.title,
        "link": entry.link,
        "summary": entry.summary,
        "content_html": entry.content_html,
        "published_at": entry.published,
        "first_seen_at": now,
        "updated_at": now,
    }


def _resolve_stories(
    conn: Connection, new_items: Sequence[NewItem], now: datetime
) -> tuple[list[int], set[int]]:
    """The story id of each new item (creating keyed stories once) and the ids created here."""
    leads: dict[str, Entry] = {}
    for item in new_items:
        if item.story_id is None:
            if item.new_story_key is None:
                raise ValueError(f"new item {item.entry.key!r} has neither story id nor key")
            leads.setdefault(bounded(item.new_story_key), item.entry)
    by_key: dict[str, int] = {}
    # Rows are locked in key order, so two workers inserting the same keys cannot deadlock.
    rows = [_story_row(key, leads[key], now) for key in sorted(leads)]
    if rows:
        returned = insert_ignore_returning(conn, stories, ["key"], rows, ["key", "id"])
        by_key.update((key, story_id) for key, story_id in returned)
    created = set(by_key.values())
    # Keys that existed already (another feed's story, or a concurrent worker's) are read.
    for keys in chunked([key for key in leads if key not in by_key]):
        found = conn.execute(sa.select(stories.c.key, stories.c.id).where(stories.c.key.in_(keys)))
        by_key.update((key, story_id) for key, story_id in found)
    ids = [
        item.story_id if item.story_id is not None else by_key[bounded(item.new_story_key or "")]
        for item in new_items
    ]
    return ids, created


def _entry_fields(entry: Entry) -> dict[str, object]:
    """The values of ENTRY_COLUMNS for `entry`."""
    return {
        "guid": entry.guid,
        "link": entry.link,
        "link_key": None if entry.link is None else bounded(entry.link),
        "fingerprint": bounded(entry.fingerprint),
        "title": entry.title,
        "summary": entry.summary,
        "content_html": entry.content_html,
        "author": entry.author,
        "published_at": entry.published,
        "content_hash": entry.content_hash,
        "categories": tags.join_categories(entry.categories),
    }


def _insert_items(
    conn: Connection,
    feed_id: int,
    new_items: Sequence[NewItem],
    story_ids: Sequence[int],
    now: datetime,
) -> list[tuple[NewItem, int, int]]:
    """Insert the items, skipping keys this feed already has; return those actually inserted
    with their story and item ids."""
    planned: dict[str, tuple[NewItem, int]] = {}
    for item, story_id in zip(new_items, story_ids, strict=True):
        planned.setdefault(bounded(item.entry.key), (item, story_id))
    rows = [
        {
            "feed_id": feed_id,
            "story_id": story_id,
            "entry_key": key,
            "first_seen_at": now,
            "updated_at": now,
            **_entry_fields(item.entry),
        }
        for key, (item, story_id) in sorted(planned.items())
    ]
    returned = insert_ignore_returning(
        conn, items, ["feed_id", "entry_key"], rows, ["entry_key", "id"]
    )
    return [(*planned[key], item_id) for key, item_id in returned]


def _delete_stories(conn: Connection, story_ids: Iterable[int]) -> None:
    """Delete stories with their rows; the derived tables have no cascading foreign key."""
    for ids in chunked(story_ids):
        outputs.remove_docs(conn, ids)  # search docs: on SQLite with their full-text entries
        for table in DERIVED_TABLES:
            if table is not search_docs:
                conn.execute(sa.delete(table).where(table.c.story_id.in_(ids)))
        conn.execute(sa.delete(stories).where(stories.c.id.in_(ids)))


_TOUCH_STORIES = (
    sa.update(stories)
    .where(stories.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(updated_at=sa.bindparam("now"))
)


def _touch_stories(conn: Connection, story_ids: Iterable[int], now: datetime) -> None:
    for ids in chunked(sorted(story_ids)):
        driver_send(conn, _TOUCH_STORIES, {"ids": ids, "now": now})


def _apply_changes(
    conn: Connection, feed_id: int, changed: Sequence[ChangedItem], now: datetime
) -> int:
    """Update this feed's changed items, and their stories where they are the lead item."""
    stored: dict[int, int] = {}
    for ids in chunked({change.item_id for change in changed}):
        query = sa.select(items.c.id, items.c.story_id).where(
            items.c.feed_id == feed_id, items.c.id.in_(ids)
        )
        stored.update((item_id, story_id) for item_id, story_id in conn.execute(query))
    changes = {c.item_id: c for c in changed if c.item_id in stored}
    if not changes:
        return 0
    _update_items(conn, [changes[i] for i in sorted(changes)], now)
    outputs.index_terms(conn, [(stored[i], changes[i].entry, changes[i].features) for i in changes])
    near.store_changed(conn, [(stored[i], changes[i]) for i in sorted(changes)])
    leads = _lead_items(conn, set(stored.values())) & changes.keys()
    updates = sorted(((stored[i], changes[i].entry) for i in leads), key=lambda u: u[0])
    _update_lead_stories(conn, updates, now)
    tags.add_topics(conn, [(stored[c.item_id], t) for c in changes.values() for t in c.topics])
    tags.add_areas(
        conn,
        [(stored[c.item_id], a, VIA_MENTION) for c in changes.values() for a in c.mentioned],
    )
    return len(changes)


def _update_items(conn: Connection, changes: Iterable[ChangedItem], now: datetime) -> None:
    stmt = (
        sa.update(items)
        .where(items.c.id == sa.bindparam("b_id"))
        .values({name: sa.bindparam(f"b_{name}") for name in [*ENTRY_COLUMNS, "updated_at"]})
    )
    params = [
        {
            "b_id": change.item_id,
            "b_updated_at": now,
            **{f"b_{name}": value for name, value in _entry_fields(change.entry).items()},
        }
        for change in changes
    ]
    conn.execute(stmt, params)


def _lead_items(conn: Connection, story_ids: set[int]) -> set[int]:
    """The ids of the earliest item of each of these stories."""
    leads: set[int] = set()
    for ids in chunked(sorted(story_ids)):
        rank = (
            sa.func.row_number()
            .over(partition_by=items.c.story_id, order_by=(items.c.first_seen_at, items.c.id))
            .label("rank")
        )
        ranked = sa.select(items.c.id, rank).where(items.c.story_id.in_(ids)).subquery()
        leads.update(conn.execute(sa.select(ranked.c.id).where(ranked.c.rank == 1)).scalars())
    return leads


def _update_lead_stories(
    conn: Connection, updates: Sequence[tuple[int, Entry]], now: datetime
) -> None:
    if not updates:
        return
    stmt = (
        sa.update(stories)
        .where(stories.c.id == sa.bindparam("b_id"))
        .values(
            title=sa.bindparam("b_title"),
            link=sa.bindparam("b_link"),
            summary=sa.bindparam("b_summary"),
            content_html=sa.bindparam("b_content_html"),
            updated_at=sa.bindparam("b_updated_at"),
        )
    )
    params = [
        {
            "b_id": story_id,
            "b_title": entry.title,
            "b_link": entry.link,
            "b_summary": entry.summary,
            "b_content_html": entry.content_html,
            "b_updated_at": now,
        }
        for story_id, entry in updates
    ]
    conn.execute(stmt, params)
