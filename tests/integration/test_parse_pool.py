"""The optional parse processes: entries stored as without them, a non-feed still recorded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from aggregator.config import load_config
from aggregator.devtools.farm import FarmSpec, feed_path, serve_round, write_config
from aggregator.devtools.feedserver import FeedServer, Route
from aggregator.storage import Storage
from aggregator.update import Updater

SPEC = FarmSpec(feeds=6, items=4)
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def test_parse_workers_store_the_same_items_and_record_a_non_feed(tmp_path: Path) -> None:
    with FeedServer() as server:
        serve_round(server, SPEC, 0)
        page = "<html><body><p>Страница не найдена</p></body></html>".encode()
        server.set_route(feed_path(0, SPEC), Route(page, "text/html; charset=utf-8"))
        broken_url = server.base_url + feed_path(0, SPEC)
        config = load_config(write_config(tmp_path / "config", server.base_url, SPEC))
        storage = Storage.open(f"sqlite:///{tmp_path / 'pool.db'}")
        storage.sync_sources(config.sources, NOW)
        updater = Updater(config, storage, parse_workers=1)
        try:
            summary = asyncio.run(updater.run_due(NOW))
        finally:
            updater.close()
            counts = storage.counts()
            health = {h.url: h for h in storage.feed_health()}
            storage.close()
    assert (summary.fetched, summary.failed) == (5, 1)
    assert summary.new_items == counts["items"] == 5 * SPEC.items
    broken = health[broken_url]
    assert broken.error_kind == "not_a_feed"
    assert broken.last_error
