"""From config to a republished district feed: loopback HTTP server, real database, real parser.

Fixture feeds in tests/data/e2e: two district papers (one in windows-1251), an okrug paper in Atom
that share one city story, a feed with broken XML, and URLs that answer 404 and 500.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import feedparser
import httpx
import pytest
import yaml

from aggregator import app
from aggregator.devtools.feedserver import FeedServer, Route
from aggregator.storage import Storage
from aggregator.web.app import create_app
from tests.integration.loopback import client_of

ROOT = Path(__file__).resolve().parents[2]

FEEDS = [
    ("/e2e/maryino.xml", "Марьинский вестник", "marino"),
    ("/e2e/kuzminki-cp1251.xml", "Вестник Кузьминок", "kuzminki"),
    ("/e2e/uvao.atom", "Юго-Восточный курьер", "uvao"),
    ("/e2e/broken.xml", "Северное Измайлово", "severnoe-izmaylovo"),
    ("/missing.xml", "Пропавшая газета", "kuzminki"),
    ("/error.xml", "Сломанный сервер", "city"),
]


@pytest.fixture
def config_dir(tmp_path: Path, feed_server: FeedServer) -> Path:
    feed_server.set_route("/error.xml", Route(body=b"oops", status=500, content_type="text/plain"))
    directory = tmp_path / "config"
    directory.mkdir()
    for name in ("districts.yaml", "topics.yaml"):
        shutil.copy(ROOT / "config" / name, directory / name)
    feeds = [
        {"url": feed_server.url(path), "title": title, "district": district}
        for path, title, district in FEEDS
    ]
    text = yaml.safe_dump({"feeds": feeds}, allow_unicode=True, sort_keys=False)
    (directory / "feeds.yaml").write_text(text, encoding="utf-8")
    return directory


@pytest.fixture
def client(config_dir: Path, database_url: str) -> Iterator[httpx.Client]:
    with (
        app.open_service(config_dir, database_url) as (config, storage),
        client_of(create_app(config, storage)) as http,
    ):
        yield http


def parse_ok(body: bytes) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    ids = [entry.id for entry in parsed.entries]
    assert len(ids) == len(set(ids)), "an entry id repeats"
    return parsed


def test_fetch_store_and_republish(config_dir: Path, database_url: str) -> None:
    first = app.fetch_once(config_dir, database_url)

    assert (first.fetched, first.failed) == (4, 2)
    failures = " ".join(first.failures)
    assert "404" in failures and "500" in failures
    # The city story appears in three feeds but is one story; 9 items make 7 stories.
    assert (first.new_items, first.new_stories) == (9, 7)

    second = app.fetch_once(config_dir, database_url)
    assert (second.not_modified, second.fetched, second.failed) == (4, 0, 2)
    assert (second.new_items, second.new_stories, second.updated_items) == (0, 0, 0)


def test_failures_are_recorded_on_their_feeds(config_dir: Path, database_url: str) -> None:
    app.fetch_once(config_dir, database_url)
    storage = Storage.open(database_url)
    try:
        health = {feed.title: feed for feed in storage.feed_health()}
    finally:
        storage.close()
    assert health["Пропавшая газета"].last_status == 404
    assert health["Сломанный сервер"].last_status == 500
    assert health["Сломанный сервер"].consecutive_errors == 1
    assert health["Марьинский вестник"].last_error is None
    assert health["Марьинский вестник"].last_success_at is not None
    assert health["Северное Измайлово"].item_count == 2
    assert health["Северное Измайлово"].consecutive_errors == 0
    assert "XML error" in (health["Северное Измайлово"].last_error or "")


def test_district_feed_parses_back_without_errors(
    config_dir: Path, database_url: str, client: httpx.Client
) -> None:
    app.fetch_once(config_dir, database_url)

    okrug = parse_ok(client.get("/feeds/district/uvao.atom").content)
    titles = [entry.title for entry in okrug.entries]
    assert titles.count("Собянин открыл станцию метро «Люблинская-2»") == 1
    assert "В Марьине благоустроят сквер на Люблинской улице" in titles
    assert "В Кузьминках прошёл турнир по мини-футболу среди школьников" in titles

    district = parse_ok(client.get("/feeds/district/kuzminki.rss").content)
    assert {e.title for e in district.entries} >= {
        "В Кузьминках прошёл турнир по мини-футболу среди школьников"
    }
    assert "В Марьине благоустроят сквер на Люблинской улице" not in {
        e.title for e in district.entries
    }


def test_output_is_sanitized_and_links_canonical(
    config_dir: Path, database_url: str, client: httpx.Client
) -> None:
    app.fetch_once(config_dir, database_url)
    body = client.get("/feeds/district/marino.atom").content
    assert b"<script" not in body and b"alert(1)" not in body
    parsed = parse_ok(body)
    links = [entry.link for entry in parsed.entries]
    assert "https://maryino-vestnik.example/news/skver-lyublinskaya/" in links
    assert not any("utm_" in link for link in links)


def test_all_feed_supports_conditional_get(
    config_dir: Path, database_url: str, client: httpx.Client
) -> None:
    app.fetch_once(config_dir, database_url)
    first = client.get("/feeds/all.atom")
    assert first.status_code == 200
    parse_ok(first.content)
    again = client.get("/feeds/all.atom", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
