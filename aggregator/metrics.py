"""Prometheus metrics of the fetch cycle: one registry per process, served at /metrics.

The orchestration records through the small `Metrics` interface; the web shell renders it.
Each `Metrics` owns its registry, so tests and several services in one process do not mix.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# Small district sites answer in tens of milliseconds to seconds; the total timeout is 60 s.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """The counters, histogram and gauge of the service, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.fetches = Counter(
            "aggregator_fetches",
            "Feed fetch attempts by outcome: fetched, not_modified, or the error kind.",
            ["outcome"],
            registry=self.registry,
        )
        self.fetch_duration = Histogram(
            "aggregator_fetch_duration_seconds",
            "Time from request to the whole body read (or the error), per feed.",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.received_bytes = Counter(
            "aggregator_received_bytes",
            "Bytes of feed bodies received (after content decoding).",
            registry=self.registry,
        )
        self.new_items = Counter(
            "aggregator_new_items", "Items stored for the first time.", registry=self.registry
        )
        self.new_stories = Counter(
            "aggregator_new_stories",
            "Stories created (items that matched no earlier story).",
            registry=self.registry,
        )
        self.database_errors = Counter(
            "aggregator_database_errors",
            "Database operations that failed (StorageError).",
            registry=self.registry,
        )
        self.feeds_overdue = Gauge(
            "aggregator_feeds_overdue",
            "Enabled feeds whose next fetch is more than one scheduler tick late.",
            registry=self.registry,
        )
        self.band_index_rows = Gauge(
            "aggregator_band_index_rows",
            "Near-duplicate band keys this process holds in memory, 16 bytes each (0 until it "
            "first deduplicates; pruned daily with the band sets).",
            registry=self.registry,
        )

    def record_fetch(self, outcome: str, seconds: float, received: int = 0) -> None:
        self.fetches.labels(outcome=outcome).inc()
        self.fetch_duration.observe(seconds)
        if received:
            self.received_bytes.inc(received)

    def record_stored(self, new_items: int, new_stories: int) -> None:
        self.new_items.inc(new_items)
        self.new_stories.inc(new_stories)

    def record_database_error(self) -> None:
        self.database_errors.inc()

    def set_overdue(self, count: int) -> None:
        self.feeds_overdue.set(count)

    def set_band_index_rows(self, rows: int) -> None:
        self.band_index_rows.set(rows)

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its Content-Type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
