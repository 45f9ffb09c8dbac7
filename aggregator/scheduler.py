"""APScheduler wiring only: a periodic tick runs one update cycle over the feeds that are due,
and a daily job prunes the near-duplicate band index.

Each feed's own interval is kept by its stored next-fetch time, so a single coalesced job with
one running instance is enough: a slow cycle delays the next tick instead of overlapping it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from aggregator import dedupe
from aggregator.errors import StorageError
from aggregator.update import Updater

log = logging.getLogger(__name__)

TICK = timedelta(seconds=30)
PRUNE_EVERY = timedelta(days=1)
PRUNE_FIRST_AFTER = timedelta(minutes=10)
BAND_RETENTION_WINDOWS = 4
"""Band rows are kept for this many near-duplicate windows: an entry published earlier than
that (a new outlet's back catalogue) still joins its story by link or fingerprint, not by
near-duplicate text. Without pruning the band table, the biggest, grows by ~42 rows per item
for ever."""


class UpdateScheduler:
    """Runs `Updater.run_due` in a background thread every tick, starting at once."""

    def __init__(
        self, updater: Updater, clock: Callable[[], datetime], tick: timedelta = TICK
    ) -> None:
        self._updater = updater
        self._clock = clock
        self._scheduler = BackgroundScheduler(timezone="UTC")
        self._scheduler.add_job(
            self._tick,
            "interval",
            seconds=tick.total_seconds(),
            next_run_time=clock(),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            id="update-due-feeds",
        )
        self._scheduler.add_job(
            self.prune,
            "interval",
            seconds=PRUNE_EVERY.total_seconds(),
            next_run_time=clock() + PRUNE_FIRST_AFTER,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            id="prune-band-index",
        )

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop ticking and wait for a running cycle to finish."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def _tick(self) -> None:
        # A fresh event loop per cycle: the HTTP client lives and dies with it, and the web
        # server's loop in the main thread is never touched.
        summary = asyncio.run(self._updater.run_due(self._clock()))
        if summary.fetched or summary.failed or summary.not_modified:
            log.info("update cycle: %s", summary)

    def prune(self) -> int:
        """Delete band sets older than the retention (each an item's band keys); errors are
        logged."""
        window = dedupe.thresholds(self._updater.config.service.dedupe).window
        before = self._clock() - BAND_RETENTION_WINDOWS * window
        try:
            deleted = self._updater.storage.prune_bands(before)
        except StorageError:
            self._updater.metrics.record_database_error()
            log.warning("pruning the band index failed", exc_info=True)
            return 0
        if deleted:
            log.info("pruned %d band sets published before %s", deleted, before.isoformat())
        return deleted
