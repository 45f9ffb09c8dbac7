"""Near-duplicate storage: item features, the LSH band table, candidate lookups, story members.

Candidates are found by equality on band keys within a publication-time window, through the
(band_key, published_at) index, so a lookup reads only the rows of the keys asked for; every
worker shares this one index. Storage decides nothing: it hands stored features to the decider.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from aggregator.domain import ChangedItem, ItemFeatures, NearCandidate, NewItem, StoryMember
from aggregator.storage.schema import (
    UTCDateTime,
    epoch_seconds,
    feeds,
    item_features,
    items,
    stories,
    story_bands,
)
from aggregator.storage.sql import chunked, insert_ignore_tuples

MAX_STORIES_PER_ENTRY = 20
"""Candidate stories kept per entry, those sharing the most band keys first: a true duplicate
shares many bands, so a cap bounds the work for generic texts without losing real matches."""

STORY_LOCK = 0x73746F72
"""The PostgreSQL advisory lock that serializes reading candidates and creating stories."""


BAND_COLUMNS = ["band_key", "published_at", "story_id"]
"""The columns of `story_bands`, all of its primary key, in index order."""


def band_number(key: str) -> int:
    """The stored form of a band key: its 14 hex digits (56 bits) as an integer."""
    return int(key, 16)


def band_row(key: str, story_id: int, published: datetime) -> dict[str, object]:
    """A `story_bands` row."""
    return {"band_key": band_number(key), "published_at": published, "story_id": story_id}


def lock_stories(conn: Connection) -> None:
    """On PostgreSQL, wait for the story lock until this transaction ends; SQLite needs none
    (its writers are serialized by BEGIN IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(STORY_LOCK)))


def candidates(
    conn: Connection,
    band_keys: Mapping[str, Sequence[str]],
    published: Sequence[datetime],
    window: timedelta,
) -> tuple[NearCandidate, ...]:
    """The stored items of stories sharing a band key with an entry, within the time window.

    `band_keys` maps each entry key to its band keys; `published` are the entries' times.
    """
    wanted = {band_number(key): key for keys in band_keys.values() for key in keys}
    if not wanted or not published:
        return ()
    low, high = min(published) - window, max(published) + window
    stories_by_key: dict[str, set[int]] = {}
    for number, story_id in _band_rows(conn, sorted(wanted), low, high):
        stories_by_key.setdefault(wanted[number], set()).add(story_id)
    chosen: set[int] = set()
    for keys in band_keys.values():
        hits = Counter(story for key in keys for story in stories_by_key.get(key, ()))
        chosen.update(story for story, _ in hits.most_common(MAX_STORIES_PER_ENTRY))
    return tuple(members(conn, sorted(chosen)))


_BANDS_ANY = sa.select(story_bands.c.band_key, story_bands.c.story_id).where(
    story_bands.c.band_key == sa.any_(sa.bindparam("keys", type_=postgresql.ARRAY(sa.BigInteger))),
    story_bands.c.published_at.between(sa.bindparam("low"), sa.bindparam("high")),
)
"""On PostgreSQL the keys go as one array parameter: one statement text for any number of keys,
so neither SQLAlchemy nor the driver re-renders and re-parses an IN list of hundreds per feed."""


def _band_rows(
    conn: Connection, numbers: Sequence[int], low: datetime, high: datetime
) -> Iterable[tuple[int, int]]:
    """(band key, story id) of the stored bands with these keys published in [low, high]."""
    if conn.dialect.name == "postgresql":
        params = {"keys": list(numbers), "low": low, "high": high}
        yield from conn.execute(_BANDS_ANY, params)
        return
    # The driver's own execute: SQLAlchemy rendered and bound the IN list value by value in
    # Python, a third of the lookup's time in a cold cycle.
    driver = conn.connection.driver_connection
    assert driver is not None
    window = [epoch_seconds(low), epoch_seconds(high)]
    for batch in chunked(numbers):
        marks = ", ".join("?" * len(batch))
        yield from driver.execute(_SQLITE_BANDS.format(marks=marks), [*batch, *window])


_SQLITE_BANDS = (
    f"SELECT band_key, story_id FROM {story_bands.name} "
    "WHERE band_key IN ({marks}) AND published_at BETWEEN ? AND ?"
)


def members(conn: Connection, story_ids: Sequence[int]) -> list[NearCandidate]:
    """The items of these stories that have stored features, in story then arrival order."""
    found: list[NearCandidate] = []
    for batch in chunked(story_ids):
        query = (
            sa.select(
                items.c.story_id,
                items.c.id,
                items.c.published_at,
                item_features.c.signature,
                item_features.c.shingles,
                item_features.c.title_stems,
                item_features.c.numbers,
            )
            .join_from(items, item_features, item_features.c.item_id == items.c.id)
            .where(items.c.story_id.in_(batch))
            .order_by(items.c.story_id, items.c.first_seen_at, items.c.id)
        )
        for row in conn.execute(query):
            stored = _stored_features(row)
            found.append(NearCandidate(row.story_id, row.id, row.published_at, stored))
    return found


def _stored_features(row: Any) -> ItemFeatures:
    return ItemFeatures(
        signature=bytes(row.signature),
        shingles=bytes(row.shingles),
        title_stems=tuple(row.title_stems.split()),
        numbers=tuple(row.numbers.split()),
    )


def features_row(item_id: int, stored: ItemFeatures) -> dict[str, object]:
    return {
        "item_id": item_id,
        "signature": stored.signature,
        "shingles": stored.shingles,
        "title_stems": " ".join(stored.title_stems),
        "numbers": " ".join(stored.numbers),
    }


def store_new(conn: Connection, inserted: Iterable[tuple[NewItem, int, int]]) -> None:
    """Store the features of newly inserted items and their band keys under their stories."""
    rows: list[dict[str, object]] = []
    bands: dict[tuple[str, int], datetime] = {}
    for item, story_id, item_id in inserted:
        if item.features is None:
            continue
        rows.append(features_row(item_id, item.features))
        for key in item.features.band_keys:
            bands.setdefault((key, story_id), item.entry.published)
    insert_rows(conn, rows, bands)


def store_changed(conn: Connection, changed: Sequence[tuple[int, ChangedItem]]) -> None:
    """Replace the features of changed items (story id, change) and add their new band keys."""
    with_features = [(sid, c) for sid, c in changed if c.features is not None]
    for ids in chunked(sorted(c.item_id for _, c in with_features)):
        conn.execute(sa.delete(item_features).where(item_features.c.item_id.in_(ids)))
    rows: list[dict[str, object]] = []
    bands: dict[tuple[str, int], datetime] = {}
    for story_id, change in with_features:
        assert change.features is not None
        rows.append(features_row(change.item_id, change.features))
        for key in change.features.band_keys:
            bands.setdefault((key, story_id), change.entry.published)
    insert_rows(conn, rows, bands)


def insert_rows(
    conn: Connection,
    rows: Sequence[dict[str, object]],
    bands: Mapping[tuple[str, int], datetime],
) -> None:
    """Insert feature rows, and band rows in key order (concurrent writers cannot deadlock)."""
    if rows:
        conn.execute(sa.insert(item_features), list(rows))
    ordered = sorted(bands.items(), key=lambda kv: (band_number(kv[0][0]), kv[1], kv[0][1]))
    band_rows = [(band_number(key), published, sid) for (key, sid), published in ordered]
    insert_ignore_tuples(conn, story_bands, BAND_COLUMNS, band_rows)


def story_members(conn: Connection, story_id: int) -> list[StoryMember]:
    """The items of one story in arrival order, with their outlet and stored features."""
    query = (
        sa.select(
            items.c.id,
            feeds.c.title.label("outlet"),
            feeds.c.url.label("feed_url"),
            items.c.link,
            items.c.title,
            items.c.published_at,
            items.c.first_seen_at,
            item_features.c.signature,
            item_features.c.shingles,
            item_features.c.title_stems,
            item_features.c.numbers,
        )
        .join_from(items, feeds, items.c.feed_id == feeds.c.id)
        .outerjoin(item_features, item_features.c.item_id == items.c.id)
        .where(items.c.story_id == story_id)
        .order_by(items.c.first_seen_at, items.c.id)
    )
    members = []
    for row in conn.execute(query):
        stored = None if row.signature is None else _stored_features(row)
        members.append(
            StoryMember(
                item_id=row.id,
                outlet=row.outlet,
                feed_url=row.feed_url,
                link=row.link,
                title=row.title,
                published=row.published_at,
                first_seen=row.first_seen_at,
                features=stored,
            )
        )
    return members


def story_ids_since(conn: Connection, since: datetime | None) -> list[int]:
    """Ids of the stories first seen at or after `since` (all without it), oldest first."""
    query = sa.select(stories.c.id).order_by(stories.c.first_seen_at, stories.c.id)
    if since is not None:
        query = query.where(stories.c.first_seen_at >= since)
    return list(conn.execute(query).scalars())


def delete_old_bands(conn: Connection, story_ids: Sequence[int], before: datetime) -> int:
    """Delete these stories' band rows published before `before`; how many went."""
    query = sa.delete(story_bands).where(
        story_bands.c.story_id.in_(story_ids), story_bands.c.published_at < before
    )
    return int(conn.execute(query).rowcount or 0)


def stories_published(
    conn: Connection,
    since: datetime | None,
    before: datetime,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[tuple[datetime, int]]:
    """Up to `limit` (published, id) of the stories published in [since, before) (before
    `before` without `since`) after the key `after`, in key order: the (published_at, id)
    index serves it page by page."""
    key = sa.tuple_(stories.c.published_at, stories.c.id)
    query = sa.select(stories.c.published_at, stories.c.id).where(stories.c.published_at < before)
    if since is not None:
        query = query.where(stories.c.published_at >= since)
    if after is not None:
        query = query.where(key > sa.tuple_(sa.literal(after[0], UTCDateTime()), after[1]))
    query = query.order_by(stories.c.published_at, stories.c.id).limit(limit)
    return [(published, story_id) for published, story_id in conn.execute(query)]
