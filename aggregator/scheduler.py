"""APScheduler wiring only: a periodic tick runs one update cycle over the feeds that are due.

Each feed's own interval is kept by its stored next-fetch time, so a single coalesced job with
one running instance is enough: a slow cycle delays the next tick instead of overlapping it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from aggregator.update import Updater

log = logging.getLogger(__name__)

TICK = timedelta(seconds=30)


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
