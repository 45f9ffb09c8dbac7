"""The one database API of the aggregator: `Storage`, over SQLite or PostgreSQL.

Every public method runs in its own transaction and wraps driver errors once as StorageError.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from alembic.util import CommandError
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from aggregator import dedupe
from aggregator.domain import (
    ApplyResult,
    AreaTag,
    Candidates,
    Entry,
    ExistingItem,
    FeedHealth,
    FeedOutcome,
    FeedState,
    ItemFeatures,
    ItemText,
    Retag,
    Source,
    Story,
    StoryMember,
    StoryQuery,
    UpdatePlan,
)
from aggregator.errors import StorageError
from aggregator.storage import bulk, leases, near, outcomes, outputs, reads, tags, writes
from aggregator.storage import engine as engines
from aggregator.storage.schema import analyze_statement, feeds, items, stories
from aggregator.storage.sql import (
    chunked,
    driver_batch,
    insert_ignore,
    pipelined,
    rows_per_statement,
)

NEAR_WINDOW = timedelta(days=7)
"""The default time window of near-duplicate candidates."""
PRUNE_BATCH = 2_000
"""Band sets (one per item) one pruning transaction deletes."""

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def _describe(exc: Exception) -> str:
    """The driver's own message, without SQLAlchemy's statement dump and background link."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def _guarded(method: Callable[P, R]) -> Callable[P, R]:
    """Wrap driver errors of a Storage method as StorageError, once, at this boundary."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (SQLAlchemyError, CommandError) as exc:
            where = args[0].url if args and isinstance(args[0], Storage) else "database"
            raise StorageError(f"{method.__name__} on {where}: {_describe(exc)}") from exc

    return wrapper


def _refresh_seconds(refresh: timedelta | None) -> int | None:
    return None if refresh is None else int(refresh.total_seconds())


def _feed_state(row: Any) -> FeedState:
    refresh = None if row.refresh_seconds is None else timedelta(seconds=row.refresh_seconds)
    return FeedState(
        feed_id=row.id,
        url=row.url,
        etag=row.etag,
        last_modified=row.last_modified,
        title=row.title,
        district=row.district,
        refresh=refresh,
        consecutive_errors=row.consecutive_errors,
        poll_interval=None if row.poll_seconds is None else timedelta(seconds=row.poll_seconds),
        source_url=row.source_url,
    )


def _candidates(
    conn: Connection,
    mirror: near.BandMirror,
    feed_id: int,
    entries: Sequence[Entry],
    band_keys: Mapping[str, Sequence[int]] | None,
    window: timedelta,
    *,
    lock: bool = True,
) -> Candidates:
    """Read the candidates, first taking the story lock if `lock`: the lock, the mirror's
    catch-up (when there are band keys to look up) and the exact reads go in one batch (one
    round trip on PostgreSQL), the members in one more."""
    exact_reads = reads.ExactReads(feed_id, entries)
    opening = near.lock_requests(conn) if lock else []
    if band_keys:
        opening.append(mirror.catch_up_request())
    results = driver_batch(conn, [*opening, *exact_reads.requests])
    if band_keys:
        mirror.caught_up(conn, results[len(opening) - 1])
    exact = exact_reads.candidates(results[len(opening) :])
    # Only new and changed entries are matched: a stored, unchanged one keeps its story.
    given = band_keys or {}
    fresh = [e for e in dedupe.fresh_entries(entries, exact.items) if e.key in given]
    wanted = {e.key: given[e.key] for e in fresh}
    if not wanted:
        return exact
    published = [e.published for e in fresh]
    found = near.candidates(conn, mirror, wanted, published, window, caught_up=True)
    return replace(exact, near=found)


class Storage:
    """Feeds, items, stories and their tags in one SQL database (SQLite file or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._statistics = engines.StatisticsKeeper(engine.dialect.name == "postgresql")
        self._analyzer: threading.Thread | None = None
        self._analyzer_lock = threading.Lock()
        self._bands = near.BandMirror()

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True) -> Storage:
        """Connect to `url` (creating a SQLite file's directory) and migrate unless told not to."""
        try:
            engine = engines.create(url)
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError(f"cannot open database {url!r}: {_describe(exc)}") from exc
        storage = cls(engine)
        if upgrade:
            try:
                storage.upgrade()
            except StorageError:
                storage.close()
                raise
        return storage

    @property
    def url(self) -> str:
        """The database URL with any password hidden."""
        return self._engine.url.render_as_string(hide_password=True)

    @_guarded
    def upgrade(self) -> None:
        """Run every pending Alembic migration."""
        engines.upgrade(self._engine)

    def close(self) -> None:
        """Close every pooled connection; the storage must not be used afterwards."""
        self.settle_statistics()
        self._engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with (
            self._engine.connect().execution_options(**{engines.IMMEDIATE: True}) as conn,
            conn.begin(),
        ):
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as conn, conn.begin():
            yield conn

    # --- feeds ------------------------------------------------------------------------------

    @_guarded
    def sync_sources(self, sources: Sequence[Source], now: datetime) -> None:
        """Upsert feeds from the config by URL; feeds no longer configured are disabled."""
        wanted = {source.url: source for source in sources}
        with self._write() as conn:
            stored = {
                url: id_ for url, id_ in conn.execute(sa.select(feeds.c.source_url, feeds.c.id))
            }
            new = [s for url, s in wanted.items() if url not in stored]
            # Insert-or-ignore: several workers starting at once may all see a feed as new.
            rows = [self._new_feed(s, now) for s in new]
            for batch in chunked(rows, rows_per_statement(feeds)):
                conn.execute(insert_ignore(conn, feeds, ["source_url"], batch))
            known = [(stored[url], s) for url, s in wanted.items() if url in stored]
            if known:
                conn.execute(self._feed_settings_update(), [self._settings(i, s) for i, s in known])
            gone = [feed_id for url, feed_id in stored.items() if url not in wanted]
            for ids in chunked(gone):
                conn.execute(sa.update(feeds).where(feeds.c.id.in_(ids)).values(enabled=False))

    @staticmethod
    def _new_feed(source: Source, now: datetime) -> dict[str, object]:
        return {
            "source_url": source.url,
            "url": source.url,
            "title": source.title,
            "district": source.district,
            "enabled": source.enabled,
            "refresh_seconds": _refresh_seconds(source.refresh),
            "consecutive_errors": 0,
            "next_fetch_at": now,
            "created_at": now,
        }

    @staticmethod
    def _feed_settings_update() -> sa.Update:
        return (
            sa.update(feeds)
            .where(feeds.c.id == sa.bindparam("b_id"))
            .values(
                title=sa.bindparam("b_title"),
                district=sa.bindparam("b_district"),
                # A feed the service disabled itself (410 Gone) stays disabled.
                enabled=sa.and_(sa.bindparam("b_enabled"), feeds.c.disabled_reason.is_(None)),
                refresh_seconds=sa.bindparam("b_refresh"),
            )
        )

    @staticmethod
    def _settings(feed_id: int, source: Source) -> dict[str, object]:
        return {
            "b_id": feed_id,
            "b_title": source.title,
            "b_district": source.district,
            "b_enabled": source.enabled,
            "b_refresh": _refresh_seconds(source.refresh),
        }

    @_guarded
    def due_feeds(self, now: datetime, limit: int | None = None) -> list[FeedState]:
        """Enabled feeds whose next fetch is due (or never set), the longest waiting first."""
        query = (
            sa.select(feeds)
            .where(
                feeds.c.enabled.is_(True),
                sa.or_(feeds.c.next_fetch_at.is_(None), feeds.c.next_fetch_at <= now),
            )
            .order_by(feeds.c.next_fetch_at.asc().nulls_first(), feeds.c.id)
            .limit(limit)
        )
        with self._read() as conn:
            return [_feed_state(row) for row in conn.execute(query)]

    @_guarded
    def claim_due_feeds(
        self, owner: str, now: datetime, lease: timedelta, limit: int
    ) -> list[FeedState]:
        """Lease up to `limit` due feeds to `owner` until `now + lease`, the longest waiting first.

        A feed leased by another worker is skipped until its lease expires or its outcome is
        recorded, so no feed is fetched by two workers at once.
        """
        with self._write() as conn:
            return [_feed_state(row) for row in leases.claim(conn, owner, now, lease, limit)]

    @_guarded
    def renew_leases(self, owner: str, until: datetime) -> int:
        """Extend the leases `owner` holds to `until`, while its claimed feeds wait their turn."""
        with self._write() as conn:
            return leases.renew(conn, owner, until)

    @_guarded
    def release_leases(self, owner: str) -> int:
        """Free every lease `owner` still holds (on a clean shutdown); return how many."""
        with self._write() as conn:
            return leases.release_owner(conn, owner)

    @_guarded
    def enabled_feeds(self) -> list[FeedState]:
        """Every enabled feed, in id order."""
        query = sa.select(feeds).where(feeds.c.enabled.is_(True)).order_by(feeds.c.id)
        with self._read() as conn:
            return [_feed_state(row) for row in conn.execute(query)]

    @_guarded
    def record_outcome(self, outcome: FeedOutcome) -> None:
        """Record one attempt on its feed and free its lease: success resets the error streak."""
        self.record_outcomes([outcome])

    @_guarded
    def record_outcomes(self, batch: Sequence[FeedOutcome]) -> None:
        """Record several attempts (as `record_outcome` each) in one transaction."""
        if batch:
            # Pipelined: one round trip for the batch on PostgreSQL, not one per feed.
            with self._write() as conn, pipelined(conn):
                outcomes.write(conn, batch)

    @_guarded
    def feed_health(self, recent_since: datetime | None = None) -> list[FeedHealth]:
        """Every feed with its state and item counts, failing feeds (longest streak) first.

        `recent_items` counts the items published since `recent_since` (0 without it).
        """
        counts = (
            sa.select(items.c.feed_id, sa.func.count().label("n"))
            .group_by(items.c.feed_id)
            .subquery()
        )
        recent = (
            sa.select(items.c.feed_id, sa.func.count().label("n"))
            .where(sa.false() if recent_since is None else items.c.published_at >= recent_since)
            .group_by(items.c.feed_id)
            .subquery()
        )
        query = (
            sa.select(
                feeds,
                sa.func.coalesce(counts.c.n, 0).label("item_count"),
                sa.func.coalesce(recent.c.n, 0).label("recent_items"),
            )
            .outerjoin(counts, counts.c.feed_id == feeds.c.id)
            .outerjoin(recent, recent.c.feed_id == feeds.c.id)
            .order_by(
                feeds.c.consecutive_errors.desc(),
                feeds.c.disabled_reason.is_(None),
                feeds.c.id,
            )
        )
        with self._read() as conn:
            return [
                FeedHealth(
                    feed_id=row.id,
                    url=row.url,
                    title=row.title,
                    district=row.district,
                    enabled=row.enabled,
                    last_attempt_at=row.last_attempt_at,
                    last_success_at=row.last_success_at,
                    last_status=row.last_status,
                    error_kind=row.error_kind,
                    last_error=row.last_error,
                    consecutive_errors=row.consecutive_errors,
                    next_fetch_at=row.next_fetch_at,
                    item_count=row.item_count,
                    recent_items=row.recent_items,
                    source_url=row.source_url,
                    note=row.note,
                    disabled_reason=row.disabled_reason,
                )
                for row in conn.execute(query)
            ]

    @_guarded
    def overdue_feeds(self, before: datetime) -> int:
        """How many enabled feeds should have been fetched before `before` and were not."""
        query = (
            sa.select(sa.func.count())
            .select_from(feeds)
            .where(feeds.c.enabled.is_(True), feeds.c.next_fetch_at < before)
        )
        with self._read() as conn:
            return int(conn.execute(query).scalar_one())

    # --- items and stories ------------------------------------------------------------------

    @_guarded
    def candidates(
        self,
        feed_id: int,
        entries: Sequence[Entry],
        band_keys: Mapping[str, Sequence[int]] | None = None,
        window: timedelta = NEAR_WINDOW,
    ) -> Candidates:
        """What the decider needs to plan `entries` of this feed, in a few set-based queries.

        With `band_keys` (entry key to LSH band keys) it includes near-duplicate candidates.
        """
        with self._read() as conn:
            return _candidates(conn, self._bands, feed_id, entries, band_keys, window, lock=False)

    @_guarded
    def stored_items(self, feed_id: int, entries: Sequence[Entry]) -> Mapping[str, ExistingItem]:
        """This feed's stored items of `entries` by entry key: what is new or changed, in one
        query (the full `candidates` read takes three)."""
        with self._read() as conn:
            return reads.stored_items(conn, feed_id, entries)

    @_guarded
    def ingest(
        self,
        feed_id: int,
        entries: Sequence[Entry],
        decide: Callable[[Candidates], UpdatePlan],
        now: datetime,
        band_keys: Mapping[str, Sequence[int]] | None = None,
        window: timedelta = NEAR_WINDOW,
        outcome: FeedOutcome | None = None,
    ) -> ApplyResult:
        """Read the candidates, plan with `decide` and apply, all in one write transaction.

        Concurrent workers take turns here (an advisory lock on PostgreSQL, the write lock on
        SQLite), so each plans against the stories the other has just created. `outcome`, the
        attempt that fetched the entries, is recorded in the same transaction.
        """
        own_rows = None
        try:
            # Pipelined: the plan's writes, the outcome, the band refresh's read and the commit
            # go to PostgreSQL together, one round trip where each was one or two.
            with self._write() as conn, pipelined(conn) as batch:
                found = _candidates(conn, self._bands, feed_id, entries, band_keys, window)
                result = writes.apply_plan(conn, feed_id, decide(found), now)
                if outcome is not None:
                    outcomes.write(conn, [outcome])
                if result.new_items or result.updated_items:
                    # The index reads this transaction's own band sets with its commit, which
                    # saves a read transaction per feed.
                    own_rows = batch.read_later(self._bands.catch_up_request())
                batch.commit()
                if own_rows is not None:
                    self._bands.caught_up(conn, own_rows())
        except BaseException:
            if own_rows is not None:
                self._bands.reset()  # it may hold band sets whose commit failed: start over
            raise
        if self._statistics.due(result.new_items, self._estimated_items):
            self._start_analyze()
        return result

    def band_index_rows(self) -> int:
        """How many band keys this process holds in memory (no database access)."""
        return self._bands.rows()

    def _estimated_items(self) -> int:
        """The planner's estimate of the items table's size (0 if never analyzed)."""
        try:
            with self._read() as conn:
                return reads.estimated_items(conn)
        except SQLAlchemyError:
            log.warning("could not read the size of the items table", exc_info=True)
            return 0

    def _start_analyze(self) -> None:
        # ANALYZE samples every table: on the ingest thread it held up the next feeds' writes
        # (6 % of a PostgreSQL cold cycle's ingest). It takes no lock that an insert waits for.
        with self._analyzer_lock:
            if self._analyzer is not None and self._analyzer.is_alive():
                return  # the running one will see most of these rows too
            self._analyzer = threading.Thread(
                target=self._refresh_statistics, name="analyze", daemon=True
            )
            self._analyzer.start()

    def settle_statistics(self) -> None:
        """Wait for a background ANALYZE that ingest started, if one is running."""
        with self._analyzer_lock:
            analyzer = self._analyzer
        if analyzer is not None:
            analyzer.join()

    def _refresh_statistics(self) -> None:
        # The items are committed already: a failed ANALYZE is logged, never raised.
        try:
            self.analyze()
        except StorageError:
            log.warning("ANALYZE failed", exc_info=True)

    @_guarded
    def apply(self, feed_id: int, plan: UpdatePlan, now: datetime) -> ApplyResult:
        """Apply a deduplication plan in one transaction; concurrent duplicates are skipped."""
        with self._write() as conn:
            near.lock_stories(conn)
            return writes.apply_plan(conn, feed_id, plan, now)

    @_guarded
    def prune_bands(self, before: datetime, batch: int = PRUNE_BATCH) -> int:
        """Delete the near-duplicate band sets published before `before`, here and in this
        process's index: a transaction per `batch`, so that ingest waits for none long.
        Returns the number of sets (one per item) deleted."""
        deleted = 0
        while True:
            with self._write() as conn:
                done = near.delete_band_sets(conn, before, batch)
            deleted += done
            if done < batch:
                break
        self._bands.evict(before)
        return deleted

    @_guarded
    def stories(self, query: StoryQuery) -> list[Story]:
        """The newest stories matching `query`, each with its sources, areas and topics."""
        with self._read() as conn:
            return reads.stories_page(conn, query)

    @_guarded
    def analyze(self) -> None:
        """Refresh the planner's statistics (ANALYZE), e.g. after a bulk load: without them
        PostgreSQL may scan a tag table instead of using its primary key."""
        with self._write() as conn:
            conn.execute(sa.text(analyze_statement(conn.dialect.name)))

    @_guarded
    def change_version(self) -> int:
        """A number that grows whenever stories change: cached outputs compare it (one row)."""
        with self._read() as conn:
            return outputs.version(conn)

    @_guarded
    def changed_story_tags(self, since: datetime) -> list[tuple[frozenset[str], frozenset[str]]]:
        """(areas, topics) of each story created or changed at or after `since`."""
        with self._read() as conn:
            return outputs.changed_tags(conn, since)

    @_guarded
    def story(self, story_id: int) -> Story | None:
        """One story by id, or None."""
        with self._read() as conn:
            found = reads.load_stories(conn, [story_id])
        return found[0] if found else None

    @_guarded
    def bulk_load_stories(
        self, feed_id: int, loaded: Sequence[tuple[Entry, ItemFeatures]], now: datetime
    ) -> int:
        """Store each entry as a one-item story with its features, in one transaction (for
        benchmarks and imports; no deduplication)."""
        with self._write() as conn:
            return bulk.load_stories(conn, feed_id, loaded, now)

    @_guarded
    def story_members(self, story_id: int) -> list[StoryMember]:
        """The items of one story in arrival order, with outlets and near-duplicate features."""
        with self._read() as conn:
            return near.story_members(conn, story_id)

    def stories_since(self, since: datetime | None, batch: int = 500) -> Iterator[Story]:
        """Every story first seen at or after `since`, oldest first, read `batch` at a time."""
        for chunk in chunked(self._story_ids_since(since), batch):
            yield from self._load_stories(chunk)

    @_guarded
    def _story_ids_since(self, since: datetime | None) -> list[int]:
        with self._read() as conn:
            return near.story_ids_since(conn, since)

    @_guarded
    def _load_stories(self, ids: list[int]) -> list[Story]:
        with self._read() as conn:
            return reads.load_stories(conn, ids)

    @_guarded
    def counts(self) -> dict[str, int]:
        """How many feeds, items and stories are stored."""
        with self._read() as conn:
            return {
                name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for name, table in (("feeds", feeds), ("items", items), ("stories", stories))
            }

    # --- classification ---------------------------------------------------------------------

    @_guarded
    def count_stories(self, since: datetime | None = None) -> int:
        """How many stories were published since `since` (all when None)."""
        with self._read() as conn:
            return tags.count_stories(conn, since)

    @_guarded
    def story_texts(
        self, since: datetime | None = None, batch_size: int = 500
    ) -> Iterator[dict[int, list[ItemText]]]:
        """Batches of stories (by id) with their items' texts, the lead item first.

        Each batch is read in its own short transaction, so writers are not held up meanwhile.
        """
        after = 0
        while True:
            with self._read() as conn:
                ids = tags.story_ids_after(conn, since, after, batch_size)
                if not ids:
                    return
                texts = tags.item_texts(conn, ids)
            yield texts
            after = ids[-1]

    @_guarded
    def item_texts(self, story_id: int) -> list[ItemText]:
        """The items of one story, the lead item first (empty for an unknown story)."""
        with self._read() as conn:
            return tags.item_texts(conn, [story_id])[story_id]

    @_guarded
    def area_tags(self, story_id: int) -> list[AreaTag]:
        """The areas attached to a story with their reason, source areas first."""
        with self._read() as conn:
            return tags.area_tags(conn, [story_id])[story_id]

    @_guarded
    def area_tags_of(self, story_ids: Sequence[int]) -> dict[int, list[AreaTag]]:
        """The area tags of many stories at once (for exports), source areas first."""
        with self._read() as conn:
            return tags.area_tags(conn, list(story_ids))

    @_guarded
    def retag(self, retags: Sequence[Retag]) -> None:
        """Replace the topics and mentioned areas of these stories in one transaction."""
        with self._write() as conn:
            tags.retag(conn, retags)
