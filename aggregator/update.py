"""One update cycle: fetch each feed, then parse, normalize, classify, plan and store its entries.

The per-feed boundary lives here and only here: whatever goes wrong with one feed is recorded
on that feed and the cycle goes on with the others. Fetching runs concurrently on the event
loop; the CPU-bound and database steps run one feed at a time on a single worker thread, so
parsing never blocks the loop and SQLite sees one writer.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aggregator import dedupe, polling
from aggregator.classify import compile_topics
from aggregator.domain import (
    ApplyResult,
    Config,
    Entry,
    FeedOutcome,
    FeedState,
    FetchResult,
    NotModified,
)
from aggregator.errors import AggregatorError, FetchError, FetchErrorKind, ParseError
from aggregator.fetch import Fetcher
from aggregator.normalize import normalize_entries
from aggregator.parse import parse_feed
from aggregator.storage import Storage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedReport:
    """What happened to one feed in one cycle."""

    feed: FeedState
    outcome: str  # "fetched", "not_modified" or "failed"
    applied: ApplyResult = field(default_factory=ApplyResult)
    message: str | None = None


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
Prepared = tuple[list[Entry], str | None]
UpdateOne = Callable[[FeedState, datetime], Coroutine[Any, Any, None]]

LOCAL_OWNER = "local"


def default_lease(total_timeout: float) -> timedelta:
    """How long a claimed feed stays leased: see "Leases" in docs/design-notes.md."""
    return timedelta(seconds=3 * total_timeout + 60)


class Updater:
    """Runs update cycles over stored feeds with the given config and storage.

    `owner` names this worker in the feeds it leases; `lease` is how long a claim lasts
    (by default long enough for a claimed feed's longest possible wait, fetch and ingest).
    """

    def __init__(
        self,
        config: Config,
        storage: Storage,
        owner: str = LOCAL_OWNER,
        lease: timedelta | None = None,
        parse_workers: int = 0,
    ) -> None:
        self.config = config
        self.storage = storage
        self.owner = owner
        self.lease = lease or default_lease(config.service.total_timeout)
        self._topics = compile_topics(config.topics)
        self._parse_workers = parse_workers
        self._parse_pool: ProcessPoolExecutor | None = None

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
            self._parse_pool = ProcessPoolExecutor(self._parse_workers, mp_context=context)
        return self._parse_pool

    async def run_due(self, now: datetime) -> CycleSummary:
        """Claim due feeds a window at a time and update them until no free due feed is left.

        A claim made later in the cycle is stamped with `now` plus the time elapsed since.
        """
        summary = CycleSummary()
        window = 2 * self.config.service.concurrency
        started = time.monotonic()
        running: set[asyncio.Task[None]] = set()
        more = True
        async with self._pipeline(summary, None) as update:
            try:
                while more or running:
                    if more and len(running) <= window // 2:
                        at = now + timedelta(seconds=time.monotonic() - started)
                        room = window - len(running)
                        feeds = await asyncio.to_thread(
                            self.storage.claim_due_feeds, self.owner, at, self.lease, room
                        )
                        more = len(feeds) == room
                        running.update(asyncio.create_task(update(feed, at)) for feed in feeds)
                    if running:
                        done, running = await asyncio.wait(
                            running, return_when=asyncio.FIRST_COMPLETED
                        )
                        for task in done:
                            task.result()
            finally:
                await asyncio.gather(*running, return_exceptions=True)
        return summary

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
        return summary

    @asynccontextmanager
    async def _pipeline(
        self, summary: CycleSummary, progress: ProgressCallback | None
    ) -> AsyncIterator[UpdateOne]:
        """One HTTP client and one ingest thread; yields a coroutine that updates one feed."""
        settings = self.config.service
        limit = asyncio.Semaphore(settings.concurrency)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest") as ingest:
            async with Fetcher(settings) as fetcher:

                async def one(feed: FeedState, now: datetime) -> None:
                    async with limit:
                        report = await self._update_feed(fetcher, ingest, feed, now)
                    summary.add(report)
                    if progress is not None:
                        progress(report)

                yield one

    async def _update_feed(
        self, fetcher: Fetcher, ingest: ThreadPoolExecutor, feed: FeedState, now: datetime
    ) -> FeedReport:
        loop = asyncio.get_running_loop()
        try:
            response = await fetcher.fetch(feed)
        except FetchError as exc:
            return await loop.run_in_executor(ingest, self._record_failure, feed, now, exc)
        try:
            prepared = None
            pool = self._parser_pool()
            if pool is not None and isinstance(response, FetchResult):
                prepared = await loop.run_in_executor(
                    pool, prepare_entries, response.content, response.headers, response.url, now
                )
            return await loop.run_in_executor(ingest, self._ingest, feed, response, now, prepared)
        except AggregatorError as exc:
            return await loop.run_in_executor(ingest, self._record_failure, feed, now, exc)
        except Exception as exc:  # the per-feed boundary: a bug here must not stop other feeds
            log.exception("internal error while updating %s", feed.url)
            return await loop.run_in_executor(ingest, self._record_failure, feed, now, exc)

    def _ingest(
        self,
        feed: FeedState,
        response: FetchResult | NotModified,
        now: datetime,
        prepared: Prepared | None = None,
    ) -> FeedReport:
        if isinstance(response, NotModified):
            self.storage.record_outcome(self._outcome(feed, now, ok=True, status=304))
            return FeedReport(feed, "not_modified")
        if prepared is None:
            prepared = prepare_entries(response.content, response.headers, response.url, now)
        entries, problem = prepared
        candidates = self.storage.candidates(feed.feed_id, entries)
        areas = self.config.source_areas(feed.district)
        update_plan = dedupe.plan(
            entries,
            candidates,
            areas,
            lambda entry: self._topics.match(entry.title, entry.summary, entry.categories),
        )
        applied = self.storage.apply(feed.feed_id, update_plan, now)
        self.storage.record_outcome(
            self._outcome(
                feed,
                now,
                ok=True,
                status=response.status,
                message=problem,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                new_url=response.permanent_redirect,
            )
        )
        if problem:
            log.warning("%s: recovered from a feed error: %s", feed.url, problem)
        return FeedReport(feed, "fetched", applied, problem)

    def _record_failure(self, feed: FeedState, now: datetime, exc: Exception) -> FeedReport:
        kind, status, message = _describe(exc)
        log.warning("%s: %s", feed.url, message)
        outcome = self._outcome(
            feed, now, ok=False, status=status, error_kind=kind, message=message
        )
        try:
            self.storage.record_outcome(outcome)
        except AggregatorError:
            log.exception("could not record the failure of %s", feed.url)
        return FeedReport(feed, "failed", message=message)

    def _outcome(
        self,
        feed: FeedState,
        now: datetime,
        *,
        ok: bool,
        status: int | None = None,
        error_kind: str | None = None,
        message: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        new_url: str | None = None,
    ) -> FeedOutcome:
        interval = feed.refresh or self.config.service.default_refresh
        return FeedOutcome(
            feed_id=feed.feed_id,
            attempted_at=now,
            next_fetch_at=polling.next_fetch(now, interval),
            ok=ok,
            status=status,
            error_kind=error_kind,
            message=message,
            etag=etag,
            last_modified=last_modified,
            new_url=new_url,
        )


def prepare_entries(
    content: bytes, headers: Mapping[str, str], url: str, now: datetime
) -> Prepared:
    """Parse and normalize a fetched body: the entries and any recovered problem (pure, CPU-bound).

    Module-level so that a parse process can run it.
    """
    parsed = parse_feed(content, headers, url)
    return normalize_entries(parsed, url, now), parsed.problem


def _describe(exc: Exception) -> tuple[str, int | None, str]:
    """The error kind, HTTP status and a message a sysadmin can read, for any per-feed failure."""
    if isinstance(exc, FetchError):
        return exc.kind.value, exc.status, exc.message
    if isinstance(exc, ParseError):
        return FetchErrorKind.NOT_A_FEED.value, None, exc.message
    return FetchErrorKind.INTERNAL.value, None, f"internal error: {type(exc).__name__}: {exc}"
