"""Near-duplicate storage: item features, band key sets, candidate lookups, story members.

Candidates are found by equality on band keys within a publication-time window. Each process
looks keys up in its own in-memory index (`BandMirror`), caught up from the `band_sets` log by
id before every lookup, inside the story lock: every band set is written under that lock, so
ids become visible in order and "every row after the last id read" misses none. Storage
decides nothing: it hands stored features to the decider.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from aggregator.bandindex import BandIndex
from aggregator.domain import ChangedItem, ItemFeatures, NearCandidate, NewItem, StoryMember
from aggregator.storage.schema import (
    band_sets,
    epoch_seconds,
    feeds,
    item_features,
    items,
    stories,
)
from aggregator.storage.sql import Request, chunked, driver_rows, insert_all

MAX_STORIES_PER_ENTRY = 20
"""Candidate stories kept per entry, those sharing the most band keys first: a true duplicate
shares many bands, so a cap bounds the work for generic texts without losing real matches."""

STORY_LOCK = 0x73746F72
"""The PostgreSQL advisory lock that serializes reading candidates and creating stories."""


CATCH_UP_BATCH = 10_000
"""Band sets read per batch when catching up, so a first load of a big store stays bounded."""


def band_set_row(keys: Iterable[int], story_id: int, published: datetime) -> dict[str, object]:
    """A `band_sets` row: an item's distinct band keys, packed, under its story."""
    numbers = np.array(sorted(set(keys)), dtype="<u8")
    return {"story_id": story_id, "published_at": published, "band_keys": numbers.tobytes()}


# Statements run for every ingested feed are built once (building one costs more than SQLite
# takes to run it).
_BAND_SETS_AFTER = (
    sa.select(
        band_sets.c.id,
        band_sets.c.story_id,
        sa.type_coerce(band_sets.c.published_at, sa.BigInteger),
        band_sets.c.band_keys,
    )
    .where(band_sets.c.id > sa.bindparam("after"))
    .order_by(band_sets.c.id)
    .limit(CATCH_UP_BATCH)
)
_MEMBERS = (
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
    .where(items.c.story_id.in_(sa.bindparam("story_ids", expanding=True)))
    .order_by(items.c.story_id, items.c.first_seen_at, items.c.id)
)
_STORY_LOCK = sa.select(sa.func.pg_advisory_xact_lock(STORY_LOCK))


class BandMirror:
    """This process's in-memory copy of `band_sets`, as a band index, and how far it has read."""

    def __init__(self) -> None:
        self.index = BandIndex()
        self.read_through = 0
        # The ingest thread and web requests may look up at once.
        self.lock = threading.Lock()

    def catch_up(self, conn: Connection) -> None:
        """Add the band sets stored since the last call (all of them the first time)."""
        while self._add(driver_rows(conn, *self.catch_up_request())):
            pass

    def catch_up_request(self) -> Request:
        """The read that `catch_up` starts with, for a caller that batches it with others."""
        return _BAND_SETS_AFTER, {"after": self.read_through}

    def caught_up(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        """Add the rows of a `catch_up_request` run elsewhere, and read on if there are more."""
        with self.lock:
            # Another thread may have caught up since the request was made: skip what it added.
            self._add([row for row in rows if row[0] > self.read_through])
            if len(rows) == CATCH_UP_BATCH:
                self.catch_up(conn)

    def _add(self, rows: list[tuple[Any, ...]]) -> bool:
        """Add band set rows read in id order; True when a full batch says more may follow."""
        if not rows:
            return False
        self.index.add_many(
            [np.frombuffer(bytes(keys), dtype="<u8") for _, _, _, keys in rows],
            [time for _, _, time, _ in rows],
            [story_id for _, story_id, _, _ in rows],
        )
        self.read_through = rows[-1][0]
        return len(rows) == CATCH_UP_BATCH  # a short batch is the last: one query, not two

    def reset(self) -> None:
        """Forget everything: the next lookup reads all band sets again."""
        with self.lock:
            self.index = BandIndex()
            self.read_through = 0

    def stories_by_key(
        self,
        conn: Connection,
        numbers: Iterable[int],
        low: datetime,
        high: datetime,
        *,
        caught_up: bool = False,
    ) -> dict[int, set[int]]:
        """Catch up (unless the caller just did), then the stories with each band key (as a
        number) within [low, high]."""
        with self.lock:
            if not caught_up:
                self.catch_up(conn)
            return self.index.stories_by_key(numbers, epoch_seconds(low), epoch_seconds(high))

    def rows(self) -> int:
        with self.lock:
            return len(self.index)

    def evict(self, before: datetime) -> int:
        """Forget band sets published before `before` (the pruned ones); how many rows went."""
        with self.lock:
            return self.index.evict(epoch_seconds(before))


def lock_stories(conn: Connection) -> None:
    """On PostgreSQL, wait for the story lock until this transaction ends; SQLite needs none
    (its writers are serialized by BEGIN IMMEDIATE)."""
    for statement, params in lock_requests(conn):
        driver_rows(conn, statement, params)


def lock_requests(conn: Connection) -> list[Request]:
    """`lock_stories` as requests, to go first in a batch (`sql.driver_batch`)."""
    return [(_STORY_LOCK, None)] if conn.dialect.name == "postgresql" else []


def candidates(
    conn: Connection,
    mirror: BandMirror,
    band_keys: Mapping[str, Sequence[int]],
    published: Sequence[datetime],
    window: timedelta,
    *,
    caught_up: bool = False,
) -> tuple[NearCandidate, ...]:
    """The stored items of stories sharing a band key with an entry, within the time window.

    `band_keys` maps each entry key to its band keys; `published` are the entries' times;
    `caught_up` says the mirror has just read the band sets stored under this lock.
    """
    wanted = {key for keys in band_keys.values() for key in keys}
    if not wanted or not published:
        return ()
    low, high = min(published) - window, max(published) + window
    stories_by_key = mirror.stories_by_key(conn, wanted, low, high, caught_up=caught_up)
    chosen: set[int] = set()
    for keys in band_keys.values():
        hits = Counter(story for key in keys for story in stories_by_key.get(key, ()))
        chosen.update(story for story, _ in hits.most_common(MAX_STORIES_PER_ENTRY))
    return tuple(members(conn, sorted(chosen)))


def members(conn: Connection, story_ids: Sequence[int]) -> list[NearCandidate]:
    """The items of these stories that have stored features, in story then arrival order."""
    found: list[NearCandidate] = []
    for batch in chunked(story_ids):
        for row in conn.execute(_MEMBERS, {"story_ids": batch}):
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
    sets: list[dict[str, object]] = []
    for item, story_id, item_id in inserted:
        if item.features is None:
            continue
        rows.append(features_row(item_id, item.features))
        sets.append(band_set_row(item.features.band_keys, story_id, item.entry.published))
    insert_rows(conn, rows, sets)


def store_changed(conn: Connection, changed: Sequence[tuple[int, ChangedItem]]) -> None:
    """Replace the features of changed items (story id, change) and add their new band keys."""
    with_features = [(sid, c) for sid, c in changed if c.features is not None]
    for ids in chunked(sorted(c.item_id for _, c in with_features)):
        conn.execute(sa.delete(item_features).where(item_features.c.item_id.in_(ids)))
    rows: list[dict[str, object]] = []
    sets: list[dict[str, object]] = []
    for story_id, change in with_features:
        assert change.features is not None
        rows.append(features_row(change.item_id, change.features))
        sets.append(band_set_row(change.features.band_keys, story_id, change.entry.published))
    insert_rows(conn, rows, sets)


def insert_rows(
    conn: Connection, rows: Sequence[dict[str, object]], sets: Sequence[dict[str, object]]
) -> None:
    """Insert feature rows and band set rows (under the story lock: see the module doc)."""
    insert_all(conn, item_features, rows)
    insert_all(conn, band_sets, sets)


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


def delete_band_sets(conn: Connection, before: datetime, limit: int) -> int:
    """Delete up to `limit` band sets published before `before`, oldest first through the
    publication-time index; how many went."""
    query = sa.select(band_sets.c.id).where(band_sets.c.published_at < before)
    ids = list(conn.execute(query.order_by(band_sets.c.published_at).limit(limit)).scalars())
    if ids:
        conn.execute(sa.delete(band_sets).where(band_sets.c.id.in_(ids)))
    return len(ids)
