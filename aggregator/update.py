"""One update cycle: fetch each feed, then parse, normalize, classify, plan and store its entries.

The per-feed boundary lives here and only here: whatever goes wrong with one feed is recorded
on that feed and the cycle goes on with the others. Fetching runs concurrently on the event
loop; the CPU-bound and database steps run one feed at a time on a single worker thread, so
parsing never blocks the loop and SQLite sees one writer (parsing may instead run in a few
processes: `parse_workers`). With several workers on one database, each claims due feeds with a
lease (storage/leases.py), so no feed is fetched by two workers at once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from aggregator import dedupe, fulltext, polling
from aggregator.domain import (
    ApplyResult,
    Config,
    Entry,
    FeedOutcome,
    FeedState,
    FetchResult,
    NotModified,
    ParsedFeed,
    Source,
)
from aggregator.errors import AggregatorError, FetchError, FetchErrorKind, ParseError, StorageError
from aggregator.fetch import Fetcher
from aggregator.hostlimit import HostLimiter, HostSlot
from aggregator.metrics import Metrics
from aggregator.normalize import normalize_entries
from aggregator.prepare import (
    Labeller,
    Prepared,
    parse_body,
    prepare_entries,
    start_parse_process,
)
from aggregator.storage import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedReport:
    """What happened to one feed in one cycle."""

    feed: FeedState
    outcome: str  # "fetched", "not_modified" or "failed"
    applied: ApplyResult = field(default_factory=ApplyResult)
    message: str | None = None
    error_kind: str | None = None
    received_bytes: int = 0


@dataclass
class CycleSummary:
    """Counts over one cycle, for the command line and logs."""

    fetched: int = 0
    not_modified: int = 0
    failed: int = 0
    new_items: int = 0
    new_stories: int = 0
    updated_items: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, report: FeedReport) -> None:
        if report.outcome == "fetched":
            self.fetched += 1
        elif report.outcome == "not_modified":
            self.not_modified += 1
        else:
            self.failed += 1
            self.failures.append(f"{report.feed.url}: {report.message}")
        self.new_items += report.applied.new_items
        self.new_stories += report.applied.new_stories
        self.updated_items += report.applied.updated_items

    def __str__(self) -> str:
        return (
            f"fetched {self.fetched}, not modified {self.not_modified}, failed {self.failed}; "
            f"new items {self.new_items}, new stories {self.new_stories}, "
            f"updated items {self.updated_items}"
        )


ProgressCallback = Callable[[FeedReport], None]
CycleHook = Callable[[datetime], Awaitable[None]]
"""Called with the cycle's start time after a cycle that stored something (WebSub pings)."""
UpdateOne = Callable[[FeedState, datetime], Coroutine[Any, Any, None]]

LOCAL_OWNER = "local"
OUTCOME_BATCH = 64
"""Outcomes without entries (304s, failures) written per transaction: a 304 costs one row."""


def default_lease(total_timeout: float) -> timedelta:
    """How long a claimed feed stays leased: see "Leases" in docs/design-notes.md."""
    return timedelta(seconds=3 * total_timeout + 60)


GC_THRESHOLDS = (50_000, 50, 100)
"""The cyclic collector's thresholds in a fetching process (Python's are 700, 10, 10)."""


def tune_gc_for_updates() -> None:
    """Collect cyclic garbage less often in this process: each stored feed allocates tens of
    thousands of short-lived objects, few of them cyclic, and a collection holds the interpreter
    lock the ingest thread and the event loop share. Five alternating pairs of SQLite cold
    cycles in `make bench`: 0.9 to 3.2 s faster each (of 19.8–22.9 s), for ~10 MB more RSS."""
    gc.set_threshold(*GC_THRESHOLDS)


class Updater:
    """Runs update cycles over stored feeds with the given config and storage.

    `owner` names this worker in the feeds it leases; `lease` is how long a claim lasts
    (by default long enough for a claimed feed's longest possible wait, fetch and ingest).
    """

    def __init__(
        self,
        config: Config,
        storage: Storage,
        metrics: Metrics | None = None,
        after_cycle: CycleHook | None = None,
        *,
        owner: str = LOCAL_OWNER,
        lease: timedelta | None = None,
        parse_workers: int = 0,
    ) -> None:
        self.config = config
        self.storage = storage
        self.owner = owner
        self.lease = lease or default_lease(config.service.total_timeout)
        self._parse_workers = parse_workers
        self._parse_pool: ProcessPoolExecutor | None = None
        # Outcomes without entries (304s, failures) waiting to be written in one transaction:
        # 304s are queued from the event loop, failures from the ingest thread, which writes.
        self._pending: list[FeedOutcome] = []
        self._pending_lock = threading.Lock()
        self._writes: set[asyncio.Future[None]] = set()
        self.metrics = metrics if metrics is not None else Metrics()
        self._labeller = Labeller(config)
        settings = config.service
        self._bounds = polling.Bounds(
            settings.min_interval, settings.max_interval, settings.backoff_cap
        )
        self._sources = {source.url: source for source in config.sources}
        self._after_cycle = after_cycle

    def close(self) -> None:
        """Stop the parse processes, if any were started."""
        if self._parse_pool is not None:
            self._parse_pool.shutdown(cancel_futures=True)
            self._parse_pool = None

    def _parser_pool(self) -> ProcessPoolExecutor | None:
        # Processes live as long as the updater: starting them costs more than a cycle of
        # small feeds. forkserver, because forking a process with running threads is unsafe.
        if self._parse_workers > 0 and self._parse_pool is None:
            context = multiprocessing.get_context("forkserver")
            self._parse_pool = ProcessPoolExecutor(
                self._parse_workers,
                mp_context=context,
                initializer=start_parse_process,
                initargs=(self.config,),
            )
        return self._parse_pool

    async def run_due(self, now: datetime) -> CycleSummary:
        """Claim due feeds a window at a time and update them until no free due feed is left.

        A claim made later in the cycle is stamped with `now` plus the time elapsed since.
        """
        summary = CycleSummary()
        window = 2 * self.config.service.concurrency
        started = renewed = time.monotonic()
        # Claimed feeds may queue behind a slow host for longer than a lease: renewing the
        # leases a few times per lease keeps them ours while this worker is alive.
        renew_every = self.lease.total_seconds() / 3
        running: set[asyncio.Task[None]] = set()
        more = True
        async with self._pipeline(summary, None) as update:
            try:
                while more or running:
                    if more and len(running) <= window // 2:
                        at = now + timedelta(seconds=time.monotonic() - started)
                        room = window - len(running)
                        feeds = await self._claim(at, room)
                        more = len(feeds) == room
                        running.update(asyncio.create_task(update(feed, at)) for feed in feeds)
                    if running:
                        done, running = await asyncio.wait(
                            running, timeout=renew_every, return_when=asyncio.FIRST_COMPLETED
                        )
                        for task in done:
                            task.result()
                    if running and time.monotonic() - renewed >= renew_every:
                        renewed = time.monotonic()
                        await self._renew(now + timedelta(seconds=renewed - started))
            finally:
                await asyncio.gather(*running, return_exceptions=True)
        await self._finish(summary, now)
        return summary

    async def _claim(self, at: datetime, limit: int) -> list[FeedState]:
        try:
            return await asyncio.to_thread(
                self.storage.claim_due_feeds, self.owner, at, self.lease, limit
            )
        except StorageError:
            self.metrics.record_database_error()
            raise

    async def _renew(self, at: datetime) -> None:
        """Extend this worker's leases to `at` plus a lease. A database failure is counted and
        logged, not raised: the next renewal tries again, as the ingest of the feeds will."""
        try:
            await asyncio.to_thread(self.storage.renew_leases, self.owner, at + self.lease)
        except StorageError:
            self.metrics.record_database_error()
            log.warning("could not renew the leases of %s", self.owner, exc_info=True)

    async def run(
        self,
        feeds: Sequence[FeedState],
        now: datetime,
        progress: ProgressCallback | None = None,
    ) -> CycleSummary:
        """Update the given feeds once; never raises for a single feed's failure."""
        summary = CycleSummary()
        if not feeds:
            return summary
        async with self._pipeline(summary, progress) as update:
            await asyncio.gather(*(update(feed, now) for feed in feeds))
        await self._finish(summary, now)
        return summary

    @asynccontextmanager
    async def _pipeline(
        self, summary: CycleSummary, progress: ProgressCallback | None
    ) -> AsyncIterator[UpdateOne]:
        """One fetcher, one host limiter and one ingest thread; yields a feed's update."""
        settings = self.config.service
        limit = asyncio.Semaphore(settings.concurrency)
        # The host slot first: a feed waiting for its busy host must not hold a global slot.
        hosts = HostLimiter(settings.per_host_concurrency)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest") as ingest:
            try:
                async with Fetcher(settings) as fetcher:

                    async def one(feed: FeedState, now: datetime) -> None:
                        async with hosts.hold(feed.url) as host, limit:
                            report = await self._update_feed(fetcher, ingest, feed, now, host)
                        summary.add(report)
                        if progress is not None:
                            progress(report)

                    yield one
            finally:
                await asyncio.gather(*self._writes)
                self._writes.clear()
                await asyncio.get_running_loop().run_in_executor(ingest, self._flush_outcomes)

    async def _finish(self, summary: CycleSummary, now: datetime) -> None:
        """Run the after-cycle hook when the cycle stored something."""
        if self._after_cycle is not None and (summary.new_items or summary.updated_items):
            try:
                await self._after_cycle(now)
            except Exception:  # a hook (a hub being down) never fails the cycle
                log.exception("after-cycle hook failed")

    async def _update_feed(
        self,
        fetcher: Fetcher,
        ingest: ThreadPoolExecutor,
        feed: FeedState,
        now: datetime,
        host: HostSlot | None = None,
    ) -> FeedReport:
        started = time.perf_counter()
        report, fetch_seconds = await self._fetch_and_ingest(
            fetcher, ingest, feed, now, started, host
        )
        # A feed counts once, by its final outcome: a page that is not a feed is "not_a_feed".
        self.metrics.record_fetch(
            report.error_kind or report.outcome, fetch_seconds, report.received_bytes
        )
        self.metrics.record_stored(report.applied.new_items, report.applied.new_stories)
        return report

    async def _fetch_and_ingest(
        self,
        fetcher: Fetcher,
        ingest: ThreadPoolExecutor,
        feed: FeedState,
        now: datetime,
        started: float,
        host: HostSlot | None,
    ) -> tuple[FeedReport, float]:
        loop = asyncio.get_running_loop()
        try:
            response = await fetcher.fetch(feed)
        except FetchError as exc:
            if host is not None:
                host.release()
            elapsed = time.perf_counter() - started
            return await loop.run_in_executor(ingest, self._record_failure, feed, now, exc), elapsed
        elapsed = time.perf_counter() - started
        if isinstance(response, NotModified):
            if host is not None:
                host.release()
            return self._not_modified(feed, now, response, ingest), elapsed
        try:
            parsed = None
            prepared = None
            source = self._source(feed)
            if source.full_text:
                # Article pages come from the same host: its slot is kept until they are read.
                parsed = await self._with_full_text(fetcher, ingest, feed, response, now)
            if host is not None:
                host.release()  # the requests are over; the host may take the next feed
            pool = self._parser_pool()
            if pool is not None and parsed is None:
                prepared = await loop.run_in_executor(
                    pool,
                    prepare_entries,
                    response.content,
                    response.headers,
                    response.url,
                    source,
                    now,
                )
            report = await loop.run_in_executor(
                ingest, self._ingest, feed, response, now, parsed, prepared
            )
        except AggregatorError as exc:
            if isinstance(exc, StorageError):
                self.metrics.record_database_error()
            report = await loop.run_in_executor(
                ingest, self._record_failure, feed, now, exc, response.status
            )
        except Exception as exc:  # the per-feed boundary: a bug here must not stop other feeds
            log.exception("internal error while updating %s", feed.url)
            report = await loop.run_in_executor(
                ingest, self._record_failure, feed, now, exc, response.status
            )
        return replace(report, received_bytes=len(response.content)), elapsed

    def _not_modified(
        self, feed: FeedState, now: datetime, response: NotModified, ingest: ThreadPoolExecutor
    ) -> FeedReport:
        """Queue a 304's outcome from the event loop, so that it never waits (holding a
        concurrency slot) behind other feeds' ingest; a full batch goes to the ingest thread."""
        answer = polling.Response(
            304, ok=True, headers=response.headers, moved_to=response.permanent_redirect
        )
        batch = self._queue(self._outcome(feed, now, answer))
        if batch:
            loop = asyncio.get_running_loop()
            write = loop.run_in_executor(ingest, self._write_outcomes, batch)
            self._writes.add(write)
            write.add_done_callback(self._writes.discard)
        return FeedReport(feed, "not_modified")

    def _source(self, feed: FeedState) -> Source:
        """The configured source of a stored feed; a feed unknown to the config is a feed."""
        found = self._sources.get(feed.source_url) or self._sources.get(feed.url)
        return found or Source(feed.url, feed.title, feed.district)

    def _parse(self, feed: FeedState, response: FetchResult, now: datetime) -> ParsedFeed:
        return parse_body(response.content, response.headers, response.url, self._source(feed), now)

    async def _with_full_text(
        self,
        fetcher: Fetcher,
        ingest: ThreadPoolExecutor,
        feed: FeedState,
        response: FetchResult,
        now: datetime,
    ) -> ParsedFeed:
        """The entries not stored yet, each with the extracted body of its page."""
        loop = asyncio.get_running_loop()
        parsed = await loop.run_in_executor(ingest, self._parse, feed, response, now)
        links = await loop.run_in_executor(ingest, self._new_links, feed, parsed, response.url, now)
        bodies = await fulltext.fetch_bodies(fetcher, links)
        return fulltext.with_bodies(parsed, response.url, set(links), bodies)

    def _new_links(self, feed: FeedState, parsed: ParsedFeed, url: str, now: datetime) -> list[str]:
        entries = normalize_entries(parsed, url, now)
        stored = self.storage.stored_items(feed.feed_id, entries)
        return [e.link for e in entries if e.link is not None and e.key not in stored]

    def _ingest(
        self,
        feed: FeedState,
        response: FetchResult,
        now: datetime,
        parsed: ParsedFeed | None = None,
        prepared: Prepared | None = None,
    ) -> FeedReport:
        """Store a response: `parsed` or `prepared` when it was parsed elsewhere already."""
        if prepared is not None:
            # A parse process labelled every entry; the story lock's candidate read then finds
            # the stored ones, so the features of unchanged entries are simply not looked up.
            parsed, entries, computed = prepared
            labels = {entry.key: label for entry, label in zip(entries, computed, strict=False)}
        else:
            if parsed is None:
                parsed = self._parse(feed, response, now)
            entries = normalize_entries(parsed, response.url, now)
            stored = self.storage.stored_items(feed.feed_id, entries)
            # Labelled before the story lock: under it only the candidates read, the plan and
            # its writes remain, so workers wait on each other little.
            labels = {e.key: self._labeller.label(e) for e in dedupe.fresh_entries(entries, stored)}
        areas = self.config.source_areas(feed.district)
        features = {key: label.features for key, label in labels.items()}
        limits = dedupe.thresholds(self.config.service.dedupe)
        applied = self.storage.ingest(
            feed.feed_id,
            entries,
            lambda candidates: dedupe.plan(
                entries,
                candidates,
                areas,
                lambda e: labels[e.key].topics if e.key in labels else self._labeller.topics(e),
                lambda e: labels[e.key].mentions if e.key in labels else self._labeller.mentions(e),
                features=features,
                limits=limits,
            ),
            now,
            band_keys={key: f.band_keys for key, f in features.items()},
            window=limits.window,
            outcome=self._success(feed, now, response, parsed, entries),
        )
        if parsed.problem:
            log.warning("%s: recovered from a feed error: %s", feed.url, parsed.problem)
        return FeedReport(feed, "fetched", applied, parsed.problem)

    def _success(
        self,
        feed: FeedState,
        now: datetime,
        response: FetchResult,
        parsed: ParsedFeed,
        entries: Sequence[Entry],
    ) -> FeedOutcome:
        """The outcome of a fetch whose entries are stored in the same transaction."""
        answer = polling.Response(
            response.status,
            ok=True,
            headers=response.headers,
            ttl=polling.feed_hint(parsed.ttl, parsed.update_period, parsed.update_frequency),
            moved_to=response.permanent_redirect,
        )
        return self._outcome(
            feed,
            now,
            answer,
            publications=tuple(entry.published for entry in entries),
            message=parsed.problem,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )

    def _record_failure(
        self, feed: FeedState, now: datetime, exc: Exception, status: int | None = None
    ) -> FeedReport:
        """Record a failed attempt; `status` is the HTTP status of a response that then failed."""
        kind, error_status, message = _describe(exc)
        status = error_status if error_status is not None else status
        log.warning("%s: %s", feed.url, message)
        retry = exc.retry_after if isinstance(exc, FetchError) else None
        answer = polling.Response(
            status, ok=False, retry_after=None if retry is None else timedelta(seconds=retry)
        )
        self._record_later(self._outcome(feed, now, answer, error_kind=kind, message=message))
        return FeedReport(feed, "failed", message=message, error_kind=kind)

    def _queue(self, outcome: FeedOutcome) -> list[FeedOutcome]:
        """Queue an outcome that stores no entries; a full batch comes back, to be written."""
        with self._pending_lock:
            self._pending.append(outcome)
            if len(self._pending) < OUTCOME_BATCH:
                return []
            batch, self._pending = self._pending, []
            return batch

    def _record_later(self, outcome: FeedOutcome) -> None:
        """On the ingest thread: queue an outcome, writing the batch if it is full."""
        self._write_outcomes(self._queue(outcome))

    def _flush_outcomes(self) -> None:
        """On the ingest thread: write whatever is queued."""
        with self._pending_lock:
            batch, self._pending = self._pending, []
        self._write_outcomes(batch)

    def _write_outcomes(self, batch: Sequence[FeedOutcome]) -> None:
        """Write outcomes in one transaction, or one by one if that fails."""
        if not batch:
            return
        try:
            self.storage.record_outcomes(batch)
            return
        except StorageError:
            self.metrics.record_database_error()
            log.exception("could not record %d outcomes at once; one by one", len(batch))
        for outcome in batch:
            try:
                self.storage.record_outcome(outcome)
            except StorageError:
                # The feed's lease then expires and another attempt records it.
                self.metrics.record_database_error()
                log.exception("could not record the outcome of feed %d", outcome.feed_id)

    def _outcome(
        self,
        feed: FeedState,
        now: datetime,
        response: polling.Response,
        *,
        publications: tuple[datetime, ...] | None = None,
        error_kind: str | None = None,
        message: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> FeedOutcome:
        """The outcome to record, with the next fetch time from the polling policy."""
        history = polling.History(
            interval=feed.refresh or self.config.service.default_refresh,
            consecutive_errors=feed.consecutive_errors,
            previous_interval=feed.poll_interval,
            publications=publications,
        )
        jitter = polling.jitter_for(feed.feed_id, feed.consecutive_errors)
        decision = polling.decide(now, history, response, self._bounds, jitter)
        if decision.disable_reason is not None:
            log.warning("%s: %s", feed.url, decision.disable_reason)
        return FeedOutcome(
            feed_id=feed.feed_id,
            attempted_at=now,
            next_fetch_at=decision.next_fetch_at,
            ok=response.ok,
            status=response.status,
            error_kind=error_kind,
            message=message,
            etag=etag,
            last_modified=last_modified,
            new_url=response.moved_to,
            poll_interval=decision.interval,
            note=decision.note,
            disable_reason=decision.disable_reason,
        )


def _describe(exc: Exception) -> tuple[str, int | None, str]:
    """The error kind, HTTP status and a message a sysadmin can read, for any per-feed failure."""
    if isinstance(exc, FetchError):
        return exc.kind.value, exc.status, exc.message
    if isinstance(exc, ParseError):
        return FetchErrorKind.NOT_A_FEED.value, None, exc.message
    return FetchErrorKind.INTERNAL.value, None, f"internal error: {type(exc).__name__}: {exc}"
