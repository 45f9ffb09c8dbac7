"""The polling policy and the per-host limit inside real update cycles.

A loopback feed server, a real database (SQLite and PostgreSQL) and the real fetcher and parser.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aggregator.devtools.feedserver import FeedServer, Route
from aggregator.domain import CITY, Config, FeedHealth, ServiceSettings, Source
from aggregator.storage import Storage
from aggregator.update import OUTCOME_BATCH, CycleSummary, Updater

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
FIFTEEN = timedelta(minutes=15)


def rss(title: str, items: str = "", channel: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://example.org/</link>{channel}{items}"
        "</channel></rss>"
    ).encode()


def item(guid: str, title: str, published: str) -> str:
    return f"<item><guid>{guid}</guid><title>{title}</title><pubDate>{published}</pubDate></item>"


@pytest.fixture
def storage(database_url: str) -> Iterator[Storage]:
    opened = Storage.open(database_url)
    yield opened
    opened.close()


def run_cycle(
    storage: Storage, urls: list[str], now: datetime = NOW, **settings: object
) -> CycleSummary:
    sources = tuple(Source(url, f"Лента {i}", CITY) for i, url in enumerate(urls))
    config = Config((), (), sources, (), ServiceSettings(**settings))  # type: ignore[arg-type]
    storage.sync_sources(sources, now)
    # Syncing disables every feed not in `urls`, so the enabled ones are exactly these.
    return asyncio.run(Updater(config, storage).run(storage.enabled_feeds(), now))


def health_of(storage: Storage, source_url: str) -> FeedHealth:
    return next(h for h in storage.feed_health() if h.source_url == source_url)


def test_retry_after_sets_the_next_fetch_and_the_message(
    feed_server: FeedServer, storage: Storage
) -> None:
    feed_server.set_route(
        "/busy.xml", Route(b"busy", "text/plain", status=503, headers={"Retry-After": "7200"})
    )
    url = feed_server.url("/busy.xml")
    run_cycle(storage, [url])
    health = health_of(storage, url)
    assert health.last_error == "HTTP 503 Service Unavailable, retry after 7200 s"
    assert health.next_fetch_at == NOW + timedelta(seconds=7200)
    assert health.consecutive_errors == 1


def test_consecutive_errors_back_off_exponentially_up_to_the_cap(
    feed_server: FeedServer, storage: Storage
) -> None:
    feed_server.set_route("/down.xml", Route(b"oops", "text/plain", status=500))
    url = feed_server.url("/down.xml")
    delays = []
    now = NOW
    for _ in range(5):
        run_cycle(storage, [url], now, backoff_cap=timedelta(hours=2))
        health = health_of(storage, url)
        assert health.next_fetch_at is not None
        delays.append(health.next_fetch_at - now)
        now = health.next_fetch_at
    # 15 min, 30 min, 1 h, then the 2 h cap; each less at most a quarter of jitter.
    for delay, plain in zip(delays, [FIFTEEN * 2**n for n in range(3)], strict=False):
        assert plain * 0.75 <= delay <= plain
    assert delays[0] < delays[1] < delays[2]
    assert all(delay <= timedelta(hours=2) for delay in delays)
    assert delays[4] >= timedelta(hours=1, minutes=30)
    assert health_of(storage, url).consecutive_errors == 5


def test_a_feed_ttl_and_max_age_lengthen_the_interval(
    feed_server: FeedServer, storage: Storage
) -> None:
    body = rss("Вестник", item("a", "Открыт сквер", "Sat, 28 Nov 2026 08:00:00 +0300"))
    with_ttl = rss(
        "Вестник",
        item("b", "Открыт каток", "Sat, 28 Nov 2026 08:00:00 +0300"),
        channel="<ttl>180</ttl>",
    )
    feed_server.set_route("/ttl.xml", Route(with_ttl))
    feed_server.set_route(
        "/cached.xml", Route(body, headers={"Cache-Control": "public, max-age=5400"})
    )
    urls = [feed_server.url("/ttl.xml"), feed_server.url("/cached.xml")]
    summary = run_cycle(storage, urls)
    assert summary.fetched == 2
    assert health_of(storage, urls[0]).next_fetch_at == NOW + timedelta(hours=3)
    assert health_of(storage, urls[1]).next_fetch_at == NOW + timedelta(minutes=90)


def test_a_rarely_publishing_feed_is_polled_less_often(
    feed_server: FeedServer, storage: Storage
) -> None:
    hourly = "".join(
        item(
            f"h{i}",
            f"Новость {i}",
            (NOW - timedelta(hours=i + 1)).strftime("%a, %d %b %Y %H:%M:%S +0000"),
        )
        for i in range(24)
    )
    weekly = "".join(
        item(
            f"w{i}",
            f"Обзор недели {i}",
            (NOW - timedelta(weeks=i + 1)).strftime("%a, %d %b %Y %H:%M:%S +0000"),
        )
        for i in range(4)
    )
    feed_server.set_route("/hourly.xml", Route(rss("Часто", hourly)))
    feed_server.set_route("/weekly.xml", Route(rss("Редко", weekly)))
    urls = [feed_server.url("/hourly.xml"), feed_server.url("/weekly.xml")]
    run_cycle(storage, urls)
    assert health_of(storage, urls[0]).next_fetch_at == NOW + FIFTEEN
    assert health_of(storage, urls[1]).next_fetch_at == NOW + timedelta(days=1)
    # A 304 keeps the interval learnt from the last full response.
    feed_server.clear_requests()
    later = NOW + timedelta(days=1)
    summary = run_cycle(storage, urls, later)
    assert summary.not_modified == 2
    assert health_of(storage, urls[1]).next_fetch_at == later + timedelta(days=1)


def test_a_permanent_redirect_moves_the_feed_and_says_so(
    feed_server: FeedServer, storage: Storage
) -> None:
    new_url = feed_server.url("/e2e/maryino.xml")
    feed_server.set_route("/old.xml", Route(status=301, redirect_to=new_url))
    old_url = feed_server.url("/old.xml")
    assert run_cycle(storage, [old_url]).fetched == 1
    health = health_of(storage, old_url)
    assert (health.url, health.note) == (new_url, f"moved permanently to {new_url}")
    assert health.consecutive_errors == 0
    feed_server.clear_requests()
    run_cycle(storage, [old_url], NOW + timedelta(days=1))
    assert [r.path for r in feed_server.requests] == ["/e2e/maryino.xml"]


def test_gone_disables_the_feed_with_a_reason(feed_server: FeedServer, storage: Storage) -> None:
    feed_server.set_route("/gone.xml", Route(b"removed", "text/plain", status=410))
    url = feed_server.url("/gone.xml")
    assert run_cycle(storage, [url]).failed == 1
    health = health_of(storage, url)
    assert not health.enabled
    assert health.disabled_reason == "HTTP 410 Gone: the feed was removed, fetching disabled"
    assert health.last_status == 410
    assert storage.due_feeds(NOW + timedelta(days=30)) == []


def test_at_most_two_requests_at_once_per_host(feed_server: FeedServer, storage: Storage) -> None:
    paths = [f"/slow/{i}.xml" for i in range(20)]
    for i, path in enumerate(paths):
        body = rss(f"Лента {i}", item(f"s{i}", f"Новость {i}", "Sat, 28 Nov 2026 08:00:00 +0300"))
        feed_server.set_route(path, Route(body, delay=0.2))
    urls = [feed_server.url(path) for path in paths]
    summary = run_cycle(storage, urls, concurrency=16, per_host_concurrency=2)
    assert summary.fetched == 20
    assert len(feed_server.requests) == 20
    assert 1 <= feed_server.max_in_flight <= 2


def test_the_per_host_limit_is_per_host(feed_server: FeedServer, storage: Storage) -> None:
    port = feed_server.base_url.rsplit(":", 1)[1]
    urls = []
    for i in range(8):
        body = rss(f"Лента {i}", item(f"p{i}", f"Новость {i}", "Sat, 28 Nov 2026 08:00:00 +0300"))
        feed_server.set_route(f"/p/{i}.xml", Route(body, delay=0.2))
        host = "127.0.0.1" if i % 2 else "localhost"
        urls.append(f"http://{host}:{port}/p/{i}.xml")
    summary = run_cycle(storage, urls, concurrency=16, per_host_concurrency=1)
    assert summary.fetched == 8
    # Two host names, one slot each: never more than two at once on the shared server.
    assert feed_server.max_in_flight <= 2


class RenewalSignal(Storage):
    """The real storage, telling when a worker has renewed its leases `wanted` times."""

    wanted = 3

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self.renewals = 0
        self.renewed = threading.Event()

    def renew_leases(self, owner: str, until: datetime) -> int:
        count = super().renew_leases(owner, until)
        self.renewals += 1
        if self.renewals >= self.wanted:
            self.renewed.set()
        return count


def test_feeds_waiting_for_a_busy_host_keep_their_lease(
    feed_server: FeedServer, database_url: str
) -> None:
    base = Storage.open(database_url)
    storage = RenewalSignal(base._engine)
    gate = threading.Event()
    paths = [f"/busy-host/{i}.xml" for i in range(3)]
    for i, path in enumerate(paths):
        body = rss(f"Лента {i}", item(f"b{i}", f"Новость {i}", "Sat, 28 Nov 2026 08:00:00 +0300"))
        # The first answer is held back: the other two feeds queue for the one host slot.
        feed_server.set_route(path, Route(body, hold=gate if i == 0 else None))
    sources = tuple(Source(feed_server.url(p), f"Лента {i}", CITY) for i, p in enumerate(paths))
    settings = ServiceSettings(concurrency=4, per_host_concurrency=1)
    storage.sync_sources(sources, NOW)
    lease = timedelta(seconds=0.6)
    updater = Updater(Config((), (), sources, (), settings), storage, owner="a", lease=lease)
    summaries: list[CycleSummary] = []
    worker = threading.Thread(target=lambda: summaries.append(asyncio.run(updater.run_due(NOW))))
    worker.start()
    try:
        # Three renewals come at least a lease after the claim: each lease now runs until
        # NOW + 2 leases or later, so another worker claiming at NOW + 1.5 leases (after the
        # first expiry) must find nothing free.
        assert storage.renewed.wait(30)
        assert storage.claim_due_feeds("b", NOW + lease * 1.5, lease, 10) == []
    finally:
        gate.set()
        worker.join()
        storage.close()
    assert summaries[0].fetched == 3
    assert sorted(r.path for r in feed_server.requests) == sorted(paths)


def test_every_304_is_recorded_across_several_outcome_batches(
    feed_server: FeedServer, storage: Storage
) -> None:
    # More unchanged feeds than two batches of OUTCOME_BATCH: full batches are written while
    # the cycle runs, the rest when it ends; none may be lost.
    count = 2 * OUTCOME_BATCH + 7
    urls = []
    for n in range(count):
        path = f"/batch/{n}.xml"
        published = "Sat, 28 Nov 2026 08:00:00 +0300"
        feed_server.set_route(path, Route(rss(f"Район {n}", item(f"g{n}", "Сквер", published))))
        urls.append(feed_server.url(path))
    assert run_cycle(storage, urls).fetched == count
    later = NOW + timedelta(days=1)
    summary = run_cycle(storage, urls, later)
    assert summary.not_modified == count
    health = [h for h in storage.feed_health() if h.source_url in set(urls)]
    assert len(health) == count
    assert {(h.last_attempt_at, h.last_status, h.consecutive_errors) for h in health} == {
        (later, 304, 0)
    }
