"""/status, /status.json, /metrics and `aggregator status` after a real fetch cycle.

Feeds come from the loopback feed server (a good feed, a 503 with Retry-After, an HTML page and
a slow one that times out); the database is SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml
from prometheus_client.parser import text_string_to_metric_families

from aggregator.devtools.feedserver import FeedServer, Route
from aggregator.domain import CITY, Config, ServiceSettings, Source
from aggregator.errors import StorageError
from aggregator.metrics import Metrics
from aggregator.scheduler import TICK
from aggregator.storage import Storage
from aggregator.update import Updater
from aggregator.web.app import create_app
from aggregator.web.status import OVERDUE_AFTER
from tests.integration.loopback import client_of

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
HTML = "<!doctype html><html><head><title>Газета</title></head><body></body></html>".encode()


def sources(server: FeedServer) -> tuple[Source, ...]:
    server.set_route(
        "/busy.xml", Route(b"busy", "text/plain", status=503, headers={"Retry-After": "120"})
    )
    server.set_route("/page.html", Route(HTML, "text/html; charset=utf-8"))
    server.set_route("/slow.xml", Route(b"<rss/>", delay=5))
    return (
        Source(server.url("/e2e/maryino.xml"), "Марьинский вестник", "marino"),
        Source(server.url("/busy.xml"), "Перегруженный сервер", CITY),
        Source(server.url("/page.html"), "Газета без ленты", CITY),
        Source(server.url("/slow.xml"), "Медленная газета", CITY),
    )


@pytest.fixture
def cycle(feed_server: FeedServer, database_url: str) -> Iterator[tuple[Storage, Metrics, Config]]:
    settings = ServiceSettings(read_timeout=0.5)
    config = Config((), (), sources(feed_server), (), settings)
    storage = Storage.open(database_url)
    storage.sync_sources(config.sources, NOW)
    metrics = Metrics()
    asyncio.run(Updater(config, storage, metrics).run(storage.enabled_feeds(), NOW))
    try:
        yield storage, metrics, config
    finally:
        storage.close()


def get(cycle: tuple[Storage, Metrics, Config], path: str, now: datetime = NOW) -> httpx.Response:
    """`path` as the web app answers it over a loopback socket, its clock at `now`."""
    storage, metrics, config = cycle
    with client_of(create_app(config, storage, clock=lambda: now, metrics=metrics)) as http:
        return http.get(path)


def test_status_json_lists_failing_feeds_first_with_reasons(
    cycle: tuple[Storage, Metrics, Config],
) -> None:
    response = get(cycle, "/status.json")
    assert response.status_code == 200
    feeds = response.json()["feeds"]
    assert [feed["state"] for feed in feeds] == ["failing", "failing", "failing", "ok"]
    by_title = {feed["title"]: feed for feed in feeds}
    busy = by_title["Перегруженный сервер"]
    assert busy["error"] == "HTTP 503 Service Unavailable, retry after 120 s"
    assert busy["http_status"] == 503
    assert busy["next_fetch_at"] == (NOW + timedelta(seconds=120)).isoformat()
    page = by_title["Газета без ленты"]
    assert (page["error"], page["http_status"]) == ("not a feed: HTML page", 200)
    assert by_title["Медленная газета"]["error"] == "timeout after 0.5 s (read)"
    good = by_title["Марьинский вестник"]
    assert (good["consecutive_errors"], good["http_status"], good["error"]) == (0, 200, None)
    assert good["last_success_at"] == NOW.isoformat()
    # The fixture's three items are dated 26-27 November 2026: all within the last 7 days.
    assert good["items_last_7_days"] == 3
    later = get(cycle, "/status.json", NOW + timedelta(days=30)).json()["feeds"]
    assert next(f for f in later if f["title"] == good["title"])["items_last_7_days"] == 0


def test_status_page_says_why_in_russian(cycle: tuple[Storage, Metrics, Config]) -> None:
    response = get(cycle, "/status")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "Состояние источников" in page
    assert "HTTP 503, повтор через 120 с" in page
    assert "не лента: HTML-страница" in page
    assert "нет ответа за 0.5 с" in page
    assert "HTTP 503 Service Unavailable, retry after 120 s" in page
    assert page.index("Перегруженный сервер") < page.index("Марьинский вестник")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_after_a_cycle(cycle: tuple[Storage, Metrics, Config]) -> None:
    response = get(cycle, "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values = samples(response.text)
    fetches = {
        dict(labels)["outcome"]: value
        for (name, labels), value in values.items()
        if name == "aggregator_fetches_total"
    }
    assert fetches == {"fetched": 1.0, "http_status": 1.0, "timeout": 1.0, "not_a_feed": 1.0}
    assert values[("aggregator_fetch_duration_seconds_count", ())] == 4.0
    assert values[("aggregator_new_items_total", ())] == 3.0
    assert values[("aggregator_new_stories_total", ())] == 3.0
    assert values[("aggregator_received_bytes_total", ())] > 1000
    assert values[("aggregator_database_errors_total", ())] == 0.0
    assert values[("aggregator_feeds_overdue", ())] == 0.0
    # The band keys of the three stored items (at most 42 each), read back after their ingest.
    assert 0 < values[("aggregator_band_index_rows", ())] <= 3 * 42
    # A month later every enabled feed is overdue (the 410-free ones all stay enabled).
    later = samples(get(cycle, "/metrics", NOW + timedelta(days=30)).text)
    assert later[("aggregator_feeds_overdue", ())] == 4.0


def test_database_errors_are_counted(
    cycle: tuple[Storage, Metrics, Config], database_url: str
) -> None:
    storage, metrics, config = cycle
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE feeds RENAME TO feeds_moved_away"))
    engine.dispose()
    with pytest.raises(StorageError):
        asyncio.run(Updater(config, storage, metrics).run_due(NOW + timedelta(days=1)))
    values = samples(get(cycle, "/metrics").text)
    # One from the update cycle, one from the overdue count at scrape time.
    assert values[("aggregator_database_errors_total", ())] == 2.0


def test_status_command_prints_the_table(
    feed_server: FeedServer, database_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    for name in ("districts.yaml", "topics.yaml"):
        shutil.copy(ROOT / "config" / name, config / name)
    feeds = [
        {"url": s.url, "title": s.title, "district": s.district} for s in sources(feed_server)[:2]
    ]
    (config / "feeds.yaml").write_text(
        yaml.safe_dump({"feeds": feeds}, allow_unicode=True), encoding="utf-8"
    )
    env = {**os.environ, "AGGREGATOR_DATABASE_URL": database_url}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "aggregator", *args, "--config", str(config), "-q"]
        return subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=120, check=False
        )

    assert run("fetch", "--once", "--no-progress").returncode == 0
    result = run("status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("state")
    assert lines[1].startswith("failing") and "Перегруженный сервер" in lines[1]
    assert "  HTTP 503 Service Unavailable, retry after 120 s" in lines
    assert any(line.startswith("ok") and "Марьинский вестник" in line for line in lines)
    as_json = run("status", "--json")
    assert as_json.returncode == 0, as_json.stderr
    rows = json.loads(as_json.stdout)
    assert [(row["title"], row["state"]) for row in rows] == [
        ("Перегруженный сервер", "failing"),
        ("Марьинский вестник", "ok"),
    ]


def test_overdue_means_one_scheduler_tick_late() -> None:
    assert OVERDUE_AFTER == TICK
