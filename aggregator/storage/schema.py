"""The database tables (SQLAlchemy Core) and the UTC datetime column type they share.

The first Alembic migration creates exactly these tables; a test compares the two.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and returns them aware, on SQLite (which drops tzinfo) too."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not UTC:  # most values are UTC already: ~250 per stored feed
            value = _aware(value).astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _aware(value: datetime) -> datetime:
    """`value`, refused if naive: storage never guesses a time zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime given to storage: {value!r}")
    return value


def epoch_seconds(value: datetime) -> int:
    """Whole seconds since the Unix epoch of an aware datetime."""
    return math.floor(_aware(value).timestamp())


class EpochSeconds(sa.TypeDecorator[datetime]):
    """An aware datetime stored as whole seconds since the epoch: 4-6 bytes on SQLite instead
    of a 26-character text (band rows, migration 0006)."""

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> int | None:
        return None if value is None else epoch_seconds(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else datetime.fromtimestamp(int(value), UTC)


feeds = sa.Table(
    "feeds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # The URL from the config identifies the feed; `url` is where it is fetched now
    # (a permanent redirect replaces it), so a moved feed still matches its config entry.
    sa.Column("source_url", sa.Text, nullable=False, unique=True),
    sa.Column("url", sa.Text, nullable=False, index=True),
    sa.Column("title", sa.Text, nullable=False, server_default=""),
    sa.Column("district", sa.String(64), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("refresh_seconds", sa.Integer, nullable=True),
    sa.Column("etag", sa.Text, nullable=True),
    sa.Column("last_modified", sa.Text, nullable=True),
    sa.Column("last_attempt_at", UTCDateTime, nullable=True),
    sa.Column("last_success_at", UTCDateTime, nullable=True),
    sa.Column("last_status", sa.Integer, nullable=True),
    sa.Column("error_kind", sa.String(64), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("consecutive_errors", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_fetch_at", UTCDateTime, nullable=True, index=True),
    sa.Column("lease_owner", sa.String(200), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # The polling policy's regular interval, a visible note (a permanent redirect) and why
    # the service disabled the feed itself (410 Gone); migration 0003a.
    sa.Column("poll_seconds", sa.Integer, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("disabled_reason", sa.Text, nullable=True),
)

stories = sa.Table(
    "stories",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.Text, nullable=False, unique=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("link", sa.Text, nullable=True),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("content_html", sa.Text, nullable=False),
    sa.Column("published_at", UTCDateTime, nullable=False),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("feed_id", sa.Integer, sa.ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    sa.Column(
        "story_id",
        sa.Integer,
        sa.ForeignKey("stories.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # Keys longer than sql.MAX_KEY_CHARS are stored as digests (here and in stories.key).
    sa.Column("entry_key", sa.Text, nullable=False),
    sa.Column("guid", sa.Text, nullable=True),
    # The entry's canonical link (normalized by the caller), shown to readers; `link_key` is
    # the same link (or its digest when very long), the indexed cross-feed join key.
    sa.Column("link", sa.Text, nullable=True),
    sa.Column("link_key", sa.Text, nullable=True, index=True),
    sa.Column("fingerprint", sa.Text, nullable=False, index=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("content_html", sa.Text, nullable=False),
    sa.Column("author", sa.Text, nullable=True),
    sa.Column("published_at", UTCDateTime, nullable=False),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("content_hash", sa.Text, nullable=False),
    # The feed's own <category> values, one per line: reclassifying and explaining read them.
    sa.Column("categories", sa.Text, nullable=True),
    sa.UniqueConstraint("feed_id", "entry_key"),
)

story_areas = sa.Table(
    "story_areas",
    metadata,
    # No foreign key, as in band_sets: see DERIVED_TABLES.
    sa.Column("story_id", sa.Integer, primary_key=True),
    sa.Column("area", sa.String(64), primary_key=True),
    # Why the area is attached: VIA_SOURCE (an outlet of the area carried the story) wins over
    # VIA_MENTION (the story's text names it); reclassifying replaces mention rows only.
    sa.Column("via", sa.String(16), nullable=False, server_default="source"),
    # The story's publication time (never changes), so a feed walks one index (migration 0005).
    sa.Column("published_at", UTCDateTime, nullable=False),
)

VIA_SOURCE = "source"
VIA_MENTION = "mention"

story_topics = sa.Table(
    "story_topics",
    metadata,
    # No foreign key, as in band_sets: see DERIVED_TABLES.
    sa.Column("story_id", sa.Integer, primary_key=True),
    sa.Column("topic", sa.String(64), primary_key=True),
    sa.Column("published_at", UTCDateTime, nullable=False),
)

# Keyset paging walks (published_at, id) newest first; WebSub finds what a cycle changed.
sa.Index("ix_stories_published_at_id", stories.c.published_at, stories.c.id)
sa.Index("ix_stories_updated_at", stories.c.updated_at)
# A district's or topic's feed: its newest stories straight from one index, newest first.
sa.Index(
    "ix_story_areas_area_published_at",
    story_areas.c.area,
    story_areas.c.published_at,
    story_areas.c.story_id,
)
sa.Index(
    "ix_story_topics_topic_published_at",
    story_topics.c.topic,
    story_topics.c.published_at,
    story_topics.c.story_id,
)

search_docs = sa.Table(
    "search_docs",
    metadata,
    # One row per stored entry version: the stems of its title and lead (aggregator.search),
    # space-joined, under its story; `q=` finds the stories having a doc with each word. A new
    # member or a changed item adds a doc, so a story is found by every version's words. The
    # index over `terms` is per backend and outside this metadata (migration 0008, UNMANAGED):
    # SQLite FTS5 `search_terms`, PostgreSQL a GIN index on the stems as an array. Both take a
    # feed's ~30 docs as a few sequential writes, where a (term, story) B-tree took ~600 random
    # ones.
    sa.Column("id", sa.Integer, primary_key=True),
    # No foreign key, as in band_sets: see DERIVED_TABLES.
    sa.Column("story_id", sa.Integer, nullable=False, index=True),
    sa.Column("terms", sa.Text, nullable=False),
)

SEARCH_INDEX = "search_terms"
"""The SQLite FTS5 table indexing `search_docs.terms` (rowid = doc id; external content)."""
SEARCH_GIN_INDEX = "ix_search_docs_terms_gin"
"""The PostgreSQL GIN index on `string_to_array(search_docs.terms, ' ')`."""


def unmanaged(name: str | None) -> bool:
    """Whether a table or index is created per backend by migration 0008 and so is not in
    `metadata`: the FTS5 table with its shadow tables, and the GIN expression index."""
    return name is not None and (name.startswith(SEARCH_INDEX) or name == SEARCH_GIN_INDEX)


def managed_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's `include_name` hook: compare and autogenerate everything but `unmanaged`."""
    return not unmanaged(name)


change_counter = sa.Table(
    "change_counter",
    metadata,
    # One row whose version Storage.apply bumps whenever stories change: the web's cheap test
    # of whether a rendered output it holds in memory may still be served.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
)

# Near-duplicate matching (see aggregator/similarity.py): each item's features, and its band keys
# as one packed row (band_sets) that the in-memory band index of each process is loaded from.
item_features = sa.Table(
    "item_features",
    metadata,
    sa.Column(
        "item_id",
        sa.Integer,
        sa.ForeignKey("items.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("signature", sa.LargeBinary, nullable=False),
    sa.Column("shingles", sa.LargeBinary, nullable=False),
    # Space-joined: stems and digit words never contain spaces.
    sa.Column("title_stems", sa.Text, nullable=False),
    sa.Column("numbers", sa.Text, nullable=False),
)

band_sets = sa.Table(
    "band_sets",
    metadata,
    # One row per stored item with features: its LSH band keys (similarity.band_keys' 56-bit
    # numbers, 8 bytes each, little-endian) under its story. Lookups by key go to the per-process
    # in-memory index (aggregator.bandindex); this table is its durable copy and the log other
    # workers catch up from by id, so a cold feed appends 30 rows, not 1,260 random index rows.
    # AUTOINCREMENT on SQLite: an id is never reused, so "every row after id N" is exact.
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("story_id", sa.Integer, nullable=False, index=True),
    sa.Column("published_at", EpochSeconds, nullable=False, index=True),
    sa.Column("band_keys", sa.LargeBinary, nullable=False),
    sqlite_autoincrement=True,
)

DERIVED_TABLES = (band_sets, search_docs, story_topics, story_areas)
"""Rows computed from a story's items, without a foreign key to `stories`: PostgreSQL checked
the key of each of a cold feed's ~1,900 index rows with a trigger (a third of their insert
time), and of its ~100 tag rows (half of theirs; migration 0010). Whoever deletes stories
deletes their rows here too (`writes._delete_stories`); a row left behind would only point a
lookup at a story that is not there."""


UNQUERIED_COLUMNS: dict[str, tuple[str, ...]] = {
    "items": (
        "guid",
        "link",
        "title",
        "summary",
        "content_html",
        "author",
        "content_hash",
        "categories",
    ),
    "stories": ("title", "link", "summary", "content_html"),
    "item_features": ("signature", "shingles", "title_stems", "numbers"),
    "band_sets": ("band_keys",),
}
"""Columns no query filters, joins, groups or sorts on: PostgreSQL's ANALYZE leaves them out.
Their statistics would never be read, and computing them (wide texts, blobs) took half of an
ANALYZE at 30,000 items (1.14-1.18 s -> 0.58-0.60 s)."""


def analyze_statement(dialect_name: str) -> str:
    """ANALYZE of every table, on PostgreSQL without the `UNQUERIED_COLUMNS`."""
    if dialect_name != "postgresql":
        return "ANALYZE"
    targets = []
    for table in metadata.sorted_tables:
        skipped = UNQUERIED_COLUMNS.get(table.name, ())
        kept = ", ".join(c.name for c in table.columns if c.name not in skipped)
        targets.append(f"{table.name} ({kept})" if skipped else table.name)
    return "ANALYZE " + ", ".join(targets)
